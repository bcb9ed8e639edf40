//! The verdict on one sampled value: unwrap its envelope, then the five checks (cli.md).

use crate::check::security;
use crate::check::{self, Checks, Form, Side, Stored, ValueResult, show_key};
use crate::envelope::Writer;
use crate::envelope::{self, Envelope, Ints};
use crate::fasthash;
use crate::pickle::parse;
use crate::sample::Sample;
use std::hash::BuildHasher;
use std::sync::Mutex;

/// Stored pickles up to this length are remembered by the [`VerdictCache`].
pub const CACHE_MAX_VALUE: usize = 64 << 10;

/// Verdicts already made in this run, keyed by exactly what decides them: the stored form and
/// bytes of the pickle and both sides' cache layers (inferred per value under `auto`; the
/// runtimes and load options are the run's). A hit is compared byte for byte with the value it
/// stands for, so a hash collision is a miss, never a wrong verdict. Identical values (flags,
/// empty lists, shared fragments: common in real caches) are judged once.
///
/// A verdict is kept from a value's second occurrence on: the first only leaves its hash (a
/// cache of distinct values then costs a bounded set of hashes, not copies of every value).
/// Memory is bounded: at most `DOORKEEPER` hashes (cleared when full), and two generations of at
/// most `CACHE_GEN_BYTES` each (the pickles kept plus an estimate of their verdicts); when the
/// current one fills, it becomes the previous one and the older is dropped, and a hit in the
/// previous generation moves the entry to the current one (a cheap approximation of
/// least-recently-used).
pub struct VerdictCache {
    hasher: (fasthash::RandomState, fasthash::RandomState),
    inner: Mutex<Generations>,
}

const CACHE_GEN_BYTES: usize = 8 << 20;
const DOORKEEPER: usize = 1 << 16;

#[derive(Default)]
struct Generations {
    current: fasthash::Map<u128, Entry>,
    current_bytes: usize,
    previous: fasthash::Map<u128, Entry>,
    /// Hashes of values met once.
    seen_once: fasthash::Set<u128>,
    hits: u64,
    misses: u64,
}

struct Entry {
    form: Form,
    pickle: Box<[u8]>,
    writers: (Writer, Writer),
    checks: Checks,
    cost: usize,
}

impl Default for VerdictCache {
    fn default() -> Self {
        VerdictCache {
            hasher: (
                fasthash::RandomState::default(),
                fasthash::RandomState::default(),
            ),
            inner: Mutex::new(Generations::default()),
        }
    }
}

impl VerdictCache {
    fn hash(&self, form: Form, pickle: &[u8], old: &Side, new: &Side) -> u128 {
        let h = |s: &fasthash::RandomState| {
            s.hash_one((form as u8, pickle, &old.writer.name, &new.writer.name))
        };
        ((h(&self.hasher.0) as u128) << 64) | h(&self.hasher.1) as u128
    }

    /// (hits, misses) so far.
    pub fn stats(&self) -> (u64, u64) {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        (g.hits, g.misses)
    }

    /// The verdict on `stored` for these sides: remembered, or made by `judge` and remembered.
    fn get_or_judge(
        &self,
        stored: &Stored,
        old: &Side,
        new: &Side,
        judge: impl FnOnce() -> Checks,
    ) -> Checks {
        let Stored::Pickle { form, pickle } = stored else {
            return judge();
        };
        if pickle.len() > CACHE_MAX_VALUE {
            return judge();
        }
        let h = self.hash(*form, pickle, old, new);
        let same = |e: &Entry| {
            e.form == *form
                && *e.pickle == **pickle
                && e.writers.0 == old.writer
                && e.writers.1 == new.writer
        };
        {
            let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = g.current.get(&h).filter(|e| same(e)) {
                let c = e.checks.clone();
                g.hits += 1;
                return c;
            }
            if g.previous.get(&h).is_some_and(same)
                && let Some(e) = g.previous.remove(&h)
            {
                let c = e.checks.clone();
                g.hits += 1;
                g.insert(h, e);
                return c;
            }
            g.misses += 1;
            if g.seen_once.len() >= DOORKEEPER {
                g.seen_once.clear();
            }
            if g.seen_once.insert(h) {
                drop(g);
                return judge();
            }
        }
        let checks = judge();
        let cost = pickle.len()
            + std::mem::size_of::<Entry>()
            + 64
            + checks
                .all()
                .iter()
                .map(|(_, c)| c.text().map_or(0, |s| s.len()))
                .sum::<usize>();
        let e = Entry {
            form: *form,
            pickle: pickle.as_slice().into(),
            writers: (old.writer.clone(), new.writer.clone()),
            checks: checks.clone(),
            cost,
        };
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(h, e);
        checks
    }
}

impl Generations {
    fn insert(&mut self, h: u128, e: Entry) {
        if self.current_bytes + e.cost > CACHE_GEN_BYTES {
            self.previous = std::mem::take(&mut self.current);
            self.current_bytes = 0;
        }
        self.current_bytes += e.cost;
        if let Some(old) = self.current.insert(h, e) {
            self.current_bytes -= old.cost;
        }
    }
}

/// Judge one sample.
pub fn judge(sample: &Sample, old: &Side, new: &Side) -> ValueResult {
    judge_cached(sample, old, new, None)
}

/// Judge one sample, through `cache` if given (the same verdict as [`judge`]).
pub fn judge_cached(
    sample: &Sample,
    old: &Side,
    new: &Side,
    cache: Option<&VerdictCache>,
) -> ValueResult {
    if let Some(full) = sample.full_len {
        // Only a prefix was read (over --max-value-bytes): no check can be made on it, and a
        // prefix must not be reported as a malformed pickle.
        return ValueResult {
            key: show_key(&sample.key),
            field: sample.field.as_deref().map(show_key),
            envelope: "partial",
            protocol: None,
            checks: None,
            writer: None,
            note: Some(format!(
                "partial: only the first {} of {full} bytes were read (--max-value-bytes); not judged",
                sample.value.len()
            )),
            ..ValueResult::default()
        };
    }
    // One budget for the whole verdict: the envelope's decompression, both reads, every
    // write-back and the checks.
    let _meter = crate::meter::scope(old.load.budget.verdict);
    let u = envelope::unwrap(&sample.value);
    let mut r = ValueResult {
        key: show_key(&sample.key),
        field: sample.field.as_deref().map(show_key),
        envelope: u.envelope.name(),
        protocol: None,
        checks: None,
        writer: None,
        note: None,
        ..ValueResult::default()
    };
    if let Some(e) = u.error {
        r.note = Some(e);
        return r;
    }
    let parsed = (!u.pickle.is_empty()).then(|| parse::parse(&u.pickle, old.load.budget.max_ops));
    // What its load calls, whatever the runtime (nothing is executed).
    if let Some(p) = &parsed {
        r.set_audit(security::audit(&u.pickle, &p.ops, &old.load.apps));
    }
    let protocol = parsed.as_ref().map(|p| {
        p.proto_header()
            .unwrap_or(0)
            .max(p.highest_opcode_protocol())
    });
    // `auto`: each side's profile from this value's envelope.
    let infer = |side: &Side| -> Side {
        let writer = side.writer.infer(
            &u.envelope,
            protocol,
            &sample.key,
            sample.field.as_deref(),
            [old.runtime, new.runtime],
        );
        Side {
            writer,
            ..side.clone()
        }
    };
    let (old, new) = (&infer(old), &infer(new));
    let inferred = if old.writer.name != new.writer.name && new.writer.name.starts_with("auto:") {
        Some(new.writer.name.clone())
    } else if old.writer.name.starts_with("auto:") {
        Some(old.writer.name.clone())
    } else {
        None
    };
    match u.envelope {
        Envelope::AsciiInt => {
            // Only layers that pickle ints (cachelib 0.2-0.15.3) write such a value back as a
            // pickle; where both store ints as digits every check is trivially ok.
            let pickles_ints =
                |s: &Side| s.writer.ints == Ints::Pickled && s.writer.reads_ascii_ints();
            if (pickles_ints(old) || pickles_ints(new))
                && let Some(stored) = Stored::of(&u, &sample.value)
            {
                r.writer = inferred;
                r.checks = Some(check::judge_stored(&stored, old, new));
                return r;
            }
            r.note = Some(
                "an integer stored as ASCII digits: no pickle, readable by every runtime".into(),
            );
            return r;
        }
        Envelope::NotPickle(what) => {
            r.note = Some(format!("not a pickle ({what})"));
            return r;
        }
        _ => {}
    }
    r.protocol = protocol;
    let Some(stored) = Stored::of(&u, &sample.value) else {
        return r;
    };
    r.writer = inferred;
    // The reads of the stored bytes reuse the parse made above for the protocol.
    let pre = parsed.as_ref().map(|parsed| check::Preparsed {
        parsed,
        max_ops: old.load.budget.max_ops,
    });
    let judge = || check::judge_stored_with(&stored, pre, old, new);
    r.checks = Some(match cache {
        Some(c) => c.get_or_judge(&stored, old, new, judge),
        None => judge(),
    });
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Runtime;
    use crate::runtime::load::LoadConfig;

    fn side(rt: &str, writer: &str) -> Side {
        Side {
            runtime: Runtime::parse(rt).unwrap(),
            load: LoadConfig::default(),
            writer: Writer::parse(writer).unwrap(),
        }
    }

    fn sample(key: &str, value: &[u8]) -> Sample {
        Sample {
            key: key.into(),
            kind: "string".into(),
            value: value.to_vec(),
            ..Sample::default()
        }
    }

    #[test]
    fn the_cache_gives_the_uncached_verdict_and_tells_values_apart() {
        let cache = VerdictCache::default();
        // A py2 UTF-8 str (fails on 3.8), a py2 unicode (written back at protocol 4) and the
        // first again, plain and behind werkzeug's `!`.
        let values: [&[u8]; 4] = [
            b"S'caf\\xc3\\xa9'\np1\n.",
            b"Vcaf\xe9\np1\n.",
            b"S'caf\\xc3\\xa9'\np1\n.",
            b"!S'caf\\xc3\\xa9'\np1\n.",
        ];
        for writer in ["werkzeug", "auto"] {
            let (old, new) = (side("2.7", writer), side("3.8", writer));
            for (i, v) in values.iter().enumerate() {
                let s = sample(&format!("k{i}"), v);
                let plain = serde_json::to_string(&judge(&s, &old, &new)).unwrap();
                let cached =
                    serde_json::to_string(&judge_cached(&s, &old, &new, Some(&cache))).unwrap();
                assert_eq!(plain, cached);
            }
        }
        // Per writer: four misses (the third value is the first again, kept from this second
        // occurrence on; the fourth has another form than the first). The sequence again: the
        // first and third hit, the second and fourth are kept now (misses).
        for writer in ["werkzeug", "auto"] {
            let (old, new) = (side("2.7", writer), side("3.8", writer));
            for (i, v) in values.iter().enumerate() {
                let s = sample(&format!("k{i}"), v);
                let plain = serde_json::to_string(&judge(&s, &old, &new)).unwrap();
                let cached =
                    serde_json::to_string(&judge_cached(&s, &old, &new, Some(&cache))).unwrap();
                assert_eq!(plain, cached);
            }
        }
        assert_eq!(cache.stats(), (2 * 2, 2 * 4 + 2 * 2));
    }
}
