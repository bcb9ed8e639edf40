//! The five checks of cli.md, per value: `old_reads`, `new_reads`, `old_reads_new_write`,
//! `new_reads_old_write`, `round_trip`, built from the runtime models' `load` and `dump`.

use crate::envelope::{self, Ints, Reader, Wrap, Writer};
use crate::runtime::codec;
use crate::runtime::dump::{DumpError, dump};
use crate::runtime::load::{self, LoadConfig, Outcome as LoadOutcome};
use crate::runtime::value::{Heap, Id, Node};
use crate::runtime::{Runtime, render};
use num_bigint::BigInt;
use serde::Serialize;

/// One side of a migration: a runtime, the load options its app uses, and its cache layer.
#[derive(Debug, Clone)]
pub struct Side {
    pub runtime: Runtime,
    pub load: LoadConfig,
    pub writer: Writer,
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Check {
    Ok,
    /// Loads, but into a different value; `explanation` says how.
    Changes {
        explanation: String,
    },
    /// The runtime raises (`error` as Python prints it) or cannot write the value back.
    Fails {
        error: String,
    },
    /// An earlier step failed, so this one cannot happen.
    Skipped,
    /// The models cannot say (budget exceeded, a feature not modelled).
    Unknown {
        reason: String,
    },
}

impl Check {
    pub fn is_finding(&self) -> bool {
        matches!(self, Check::Changes { .. } | Check::Fails { .. })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Check::Ok => "ok",
            Check::Changes { .. } => "changes",
            Check::Fails { .. } => "fails",
            Check::Skipped => "skipped",
            Check::Unknown { .. } => "unknown",
        }
    }
}

/// The five checks of one value.
#[derive(Debug, Clone, Serialize)]
pub struct Checks {
    pub old_reads: Check,
    pub new_reads: Check,
    pub old_reads_new_write: Check,
    pub new_reads_old_write: Check,
    pub round_trip: Check,
}

impl Checks {
    pub fn all(&self) -> [(&'static str, &Check); 5] {
        [
            ("old_reads", &self.old_reads),
            ("new_reads", &self.new_reads),
            ("old_reads_new_write", &self.old_reads_new_write),
            ("new_reads_old_write", &self.new_reads_old_write),
            ("round_trip", &self.round_trip),
        ]
    }

    pub fn has_finding(&self) -> bool {
        self.all().iter().any(|(_, c)| c.is_finding())
    }
}

struct Loaded {
    heap: Heap,
    root: Id,
}

/// A value as a cache layer stored it in Redis.
#[derive(Debug, Clone)]
pub enum Stored {
    /// ASCII digits: the int they spell.
    Ascii(BigInt),
    /// A pickle in one of the layers' forms.
    Pickle { form: Form, pickle: Vec<u8> },
}

/// How a stored pickle is wrapped (compression left out: it does not change what loads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Plain,
    Bang,
    /// `{"ct": ..., "v": 2}|` + pickle (dogpile.cache >= 1.1).
    DogpileJson,
    /// The pickle of a `dogpile.cache.api.CachedValue(payload, metadata)` as found in Redis.
    CachedValue,
    /// What a dogpile.cache <= 1.0 layer writes back: `CachedValue(payload, ...)`, where
    /// `pickle` is the payload's pickle at the writer's protocol.
    CachedValuePayload,
}

impl Stored {
    /// The stored form of an unwrapped value (`None` for values that are not pickles).
    pub fn of(u: &envelope::Unwrapped, raw: &[u8]) -> Option<Stored> {
        use envelope::Envelope as E;
        let form = match u.envelope {
            E::AsciiInt => {
                let digits = std::str::from_utf8(raw).ok()?;
                return digits.parse().ok().map(Stored::Ascii);
            }
            E::NotPickle(_) => return None,
            E::Bang => Form::Bang,
            E::DogpileJson => Form::DogpileJson,
            E::DogpileCachedValue => Form::CachedValue,
            _ => Form::Plain,
        };
        Some(Stored::Pickle {
            form,
            pickle: u.pickle.clone(),
        })
    }
}

fn read(bytes: &[u8], side: &Side) -> Result<Loaded, Check> {
    let r = load::load(bytes, side.runtime, &side.load);
    match r.outcome {
        LoadOutcome::Loaded { heap, root } => Ok(Loaded { heap, root }),
        LoadOutcome::Raised(e) => Err(Check::Fails {
            error: e.to_string(),
        }),
        LoadOutcome::Unknown(u) => Err(Check::Unknown {
            reason: format!("{u:?}"),
        }),
    }
}

/// What `int(b"...")` gives on a runtime (py2: `long` past `sys.maxint`).
fn int_value(n: &BigInt, rt: Runtime) -> Loaded {
    let mut heap = Heap::default();
    let node = if rt.is_py2() && i64::try_from(n).is_err() {
        Node::Long(n.clone())
    } else {
        Node::Int(n.clone())
    };
    let root = heap.push(node, Default::default());
    Loaded { heap, root }
}

/// dogpile >= 1.1's `json.loads(value.partition(b"|")[0])` on a value without its JSON header:
/// the exception it raises.
fn dogpile_json_error(stored: &[u8]) -> Check {
    let head = match stored.iter().position(|&b| b == b'|') {
        Some(i) => &stored[..i],
        None => stored,
    };
    // json.detect_encoding gives utf-8 for anything that does not open with a BOM or a NUL byte.
    if head
        .first()
        .is_some_and(|&b| b != 0 && b != 0xef && b != 0xfe && b != 0xff)
    {
        if let Err(codec::Failure::Decode(e)) =
            codec::decode_utf8(head, codec::Handler::SurrogatePass, "utf-8")
        {
            return Check::Fails {
                error: format!("UnicodeDecodeError: {}", e.message()),
            };
        }
        // Valid text: JSONDecodeError where the first character cannot open a JSON value.
        let c = head[0];
        let opens = b"{[\"-0123456789tfn".contains(&c)
            || (c == b'N' && head.starts_with(b"NaN"))
            || (c == b'I' && head.starts_with(b"Infinity"));
        if !opens && !b" \t\r\n".contains(&c) {
            return Check::Fails {
                error: "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)"
                    .into(),
            };
        }
    }
    Check::Unknown {
        reason: "dogpile.cache >= 1.1 reading a value without its JSON header: json.loads' error not modelled for these bytes".into(),
    }
}

/// The header dogpile >= 1.1 writes (its exact contents do not matter to a reader that fails on
/// the `{`, and one that parses it ignores them).
const DOGPILE_HEADER: &[u8] = b"{\"ct\": 0.0, \"v\": 2}|";

/// What `side`'s cache layer gets when it reads `stored`.
fn layer_read(stored: &Stored, side: &Side) -> Result<Loaded, Check> {
    let (form, pickle) = match stored {
        Stored::Ascii(n) => {
            return if side.writer.reads_ascii_ints() {
                Ok(int_value(n, side.runtime))
            } else {
                read(n.to_string().as_bytes(), side)
            };
        }
        Stored::Pickle { form, pickle } => (*form, pickle),
    };
    match (side.writer.reader, form) {
        (Reader::Dogpile11, Form::DogpileJson) => read(pickle, side),
        (Reader::Dogpile11, Form::Bang) => Err(dogpile_json_error(&[b"!", &pickle[..]].concat())),
        (Reader::Dogpile11, _) => Err(dogpile_json_error(pickle)),
        (_, Form::DogpileJson) => read(&[DOGPILE_HEADER, &pickle[..]].concat(), side),
        (_, Form::Bang) if side.writer.reader != Reader::Any => {
            read(&[b"!", &pickle[..]].concat(), side)
        }
        (Reader::Dogpile10, Form::CachedValue) => {
            // dogpile hands the application the payload: follow it through the CachedValue's
            // arguments without calling the class.
            let Some(t) = envelope::cachedvalue_as_tuple(pickle) else {
                return read(pickle, side);
            };
            let v = read(&t, side)?;
            let payload = match v.heap.get(v.root) {
                Node::Tuple(items) if items.len() == 2 => match v.heap.get(items[1]) {
                    Node::Tuple(args) if !args.is_empty() => Some(args[0]),
                    _ => None,
                },
                _ => None,
            };
            match payload {
                Some(root) => Ok(Loaded { heap: v.heap, root }),
                None => Err(Check::Unknown {
                    reason: "a CachedValue without a payload".into(),
                }),
            }
        }
        _ => read(pickle, side),
    }
}

/// What `side`'s cache layer stores when it writes `v` back.
fn layer_write(v: &Loaded, side: &Side) -> Result<Stored, Check> {
    if side.writer.ints == Ints::Ascii
        && let Node::Int(n) | Node::Long(n) = v.heap.get(v.root)
    {
        return Ok(Stored::Ascii(n.clone()));
    }
    let p = side.writer.protocol_on(side.runtime);
    let pickle = dump(&v.heap, v.root, side.runtime, p).map_err(|e| match e {
        DumpError::Py(e) => Check::Fails {
            error: format!("{e} (while {} wrote it back at protocol {p})", side.runtime),
        },
        DumpError::Unmodelled(what) => Check::Unknown { reason: what },
    })?;
    let form = match side.writer.wrap {
        Wrap::Plain => Form::Plain,
        Wrap::Bang => Form::Bang,
        Wrap::DogpileJson => Form::DogpileJson,
        Wrap::DogpileCachedValue => Form::CachedValuePayload,
    };
    Ok(Stored::Pickle { form, pickle })
}

/// Judge one pickle (already out of its envelope) for a migration from `old` to `new`.
pub fn judge(pickle: &[u8], old: &Side, new: &Side) -> Checks {
    judge_stored(
        &Stored::Pickle {
            form: Form::Plain,
            pickle: pickle.to_vec(),
        },
        old,
        new,
    )
}

/// Judge a stored value through each side's cache layer (its reader, its writer's envelope,
/// protocol and int handling) for a migration from `old` to `new`.
pub fn judge_stored(stored: &Stored, old: &Side, new: &Side) -> Checks {
    let o = layer_read(stored, old);
    let n = layer_read(stored, new);
    let old_reads = match &o {
        Ok(_) => Check::Ok,
        Err(c) => c.clone(),
    };
    let new_reads = match (&o, &n) {
        (_, Err(c)) => c.clone(),
        (Ok(ov), Ok(nv)) => compare(ov, old.runtime, nv, new.runtime),
        (Err(_), Ok(_)) => Check::Ok,
    };
    let cross = |from: &Result<Loaded, Check>, writer: &Side, reader: &Side| -> Check {
        let Ok(v) = from else { return Check::Skipped };
        let bytes = match layer_write(v, writer) {
            Ok(b) => b,
            Err(c) => return c,
        };
        match layer_read(&bytes, reader) {
            Ok(back) => compare(v, writer.runtime, &back, reader.runtime),
            Err(c) => c,
        }
    };
    let old_reads_new_write = cross(&n, new, old);
    let new_reads_old_write = cross(&o, old, new);
    let round_trip = match (&o, &n) {
        (Ok(ov), _) => trip(ov, old, new).unwrap_or_else(|c| c),
        (Err(_), Ok(nv)) => trip(nv, new, old).unwrap_or_else(|c| c),
        _ => Check::Skipped,
    };
    Checks {
        old_reads,
        new_reads,
        old_reads_new_write,
        new_reads_old_write,
        round_trip,
    }
}

/// a -> b -> a: written by `a`, read and written by `b`, read by `a`: same value and types?
fn trip(v: &Loaded, a: &Side, b: &Side) -> Result<Check, Check> {
    let b1 = layer_write(v, a)?;
    let vb = layer_read(&b1, b)?;
    let b2 = layer_write(&vb, b)?;
    let back = layer_read(&b2, a)?;
    let before = render::render(&v.heap, v.root, a.runtime);
    let after = render::render(&back.heap, back.root, a.runtime);
    if before == after {
        Ok(Check::Ok)
    } else {
        Ok(Check::Changes {
            explanation: format!(
                "after {} -> {} -> {}: {}",
                a.runtime,
                b.runtime,
                a.runtime,
                describe(&v.heap, v.root, a.runtime, &back.heap, back.root, a.runtime)
            ),
        })
    }
}

/// Whether two runtimes got the same value, where "same" carries across Python versions: a py2
/// `str` of ASCII and a py3 `str` are the same text, a py2 `long` and a py3 `int` the same number.
fn compare(a: &Loaded, art: Runtime, b: &Loaded, brt: Runtime) -> Check {
    if portable(&a.heap, a.root, art) == portable(&b.heap, b.root, brt) {
        Check::Ok
    } else {
        Check::Changes {
            explanation: describe(&a.heap, a.root, art, &b.heap, b.root, brt),
        }
    }
}

/// The canonical rendering with the cross-version equivalences applied.
fn portable(heap: &Heap, root: Id, rt: Runtime) -> String {
    let mut h = heap.clone();
    for n in h.nodes.iter_mut() {
        match n {
            Node::Long(v) => *n = Node::Int(v.clone()),
            Node::Bytes(b) if rt.is_py2() && b.is_ascii() => *n = Node::Text(std::mem::take(b)),
            _ => {}
        }
    }
    render::render(&h, root, Runtime::new(3, 13))
}

/// A one-line explanation of the first difference between two values.
fn describe(ah: &Heap, a: Id, art: Runtime, bh: &Heap, b: Id, brt: Runtime) -> String {
    let mut todo = vec![(a, b)];
    let mut seen = std::collections::HashSet::new();
    while let Some((x, y)) = todo.pop() {
        if !seen.insert((x, y)) {
            continue;
        }
        let (nx, ny) = (ah.get(x), bh.get(y));
        match (nx, ny) {
            (Node::Bytes(p), Node::Text(t)) if art.is_py2() && !p.is_ascii() => {
                let latin1 = codec::decode_latin1(p);
                return if &latin1 == t && std::str::from_utf8(p).is_ok() {
                    format!(
                        "mojibake: the py2 str {} (UTF-8) became {} on {brt} (its bytes decoded as latin-1; decode with .encode('latin1').decode('utf-8'))",
                        short_bytes(p),
                        short_text(t)
                    )
                } else {
                    format!(
                        "the py2 str {} became the text {} on {brt}",
                        short_bytes(p),
                        short_text(t)
                    )
                };
            }
            (Node::Text(t), Node::Bytes(p)) if brt.is_py2() => {
                return format!(
                    "the text {} became the py2 str {} on {brt} (str became bytes)",
                    short_text(t),
                    short_bytes(p)
                );
            }
            (Node::Bytes(p), Node::Bytes(q)) if art.is_py2() && !brt.is_py2() => {
                let _ = q;
                return format!(
                    "the py2 str {} is bytes on {brt} (encoding='bytes'): text operations and str keys no longer match",
                    short_bytes(p)
                );
            }
            (Node::Bytes(p), Node::Text(t)) if art.is_py2() => {
                let _ = p;
                return format!(
                    "the py2 str became the unicode text {} on {brt}",
                    short_text(t)
                );
            }
            _ => {}
        }
        let (tx, ty) = (
            load::type_name(nx, art.is_py2()),
            load::type_name(ny, brt.is_py2()),
        );
        let same_kind = std::mem::discriminant(nx) == std::mem::discriminant(ny);
        if !same_kind {
            let equivalent = matches!(
                (nx, ny),
                (Node::Long(_), Node::Int(_)) | (Node::Int(_), Node::Long(_))
            ) || matches!(
                (nx, ny),
                (Node::Bytes(_), Node::Text(_)) | (Node::Text(_), Node::Bytes(_))
            );
            if !equivalent {
                return format!("a {tx} on {art} is a {ty} on {brt}");
            }
        }
        let (cx, cy) = (ah.children(x), bh.children(y));
        if cx.len() != cy.len() {
            return format!(
                "a {tx} with {} items on {art} has {} on {brt}",
                cx.len(),
                cy.len()
            );
        }
        for (p, q) in cx.into_iter().zip(cy).rev() {
            todo.push((p, q));
        }
    }
    "the value differs (same types, other contents)".to_string()
}

fn short_bytes(b: &[u8]) -> String {
    let mut s = String::new();
    render::bytes(&mut s, &b[..b.len().min(40)]);
    if b.len() > 40 {
        s.push_str("...");
    }
    s
}

fn short_text(t: &[u8]) -> String {
    let cps: Vec<u32> = codec::code_points(t).take(40).collect();
    let mut b = Vec::new();
    for c in &cps {
        codec::push_cp(&mut b, *c);
    }
    let mut s = String::new();
    render::text(&mut s, &b);
    if codec::char_len(t) > 40 {
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::LoadOptions;

    fn side(rt: &str, load: &str, writer: &str) -> Side {
        Side {
            runtime: Runtime::parse(rt).unwrap(),
            load: LoadConfig {
                options: LoadOptions::parse(load).unwrap(),
                ..LoadConfig::default()
            },
            writer: Writer::parse(writer).unwrap(),
        }
    }

    #[test]
    fn py2_utf8_str_fails_on_py3_and_latin1_is_mojibake() {
        // cPickle protocol 0 of 'caf\xc3\xa9' (the bytes real 2.7 writes; see corpora).
        let p = b"S'caf\\xc3\\xa9'\np1\n.";
        let c = judge(
            p,
            &side("2.7", "", "werkzeug"),
            &side("3.8", "", "werkzeug"),
        );
        assert_eq!(c.old_reads, Check::Ok);
        assert!(
            matches!(&c.new_reads, Check::Fails { error } if error.starts_with("UnicodeDecodeError"))
        );
        assert_eq!(c.old_reads_new_write, Check::Skipped);
        let c = judge(
            p,
            &side("2.7", "", "werkzeug"),
            &side("3.8", "encoding=latin1", "werkzeug"),
        );
        assert!(
            matches!(&c.new_reads, Check::Changes { explanation } if explanation.starts_with("mojibake"))
        );
    }

    #[test]
    fn py3_default_protocol_breaks_the_rollback() {
        // A py2 unicode value: both load it; 3.8 writes protocol 4, which 2.7 cannot read.
        let p = b"Vcaf\xe9\np1\n.";
        let c = judge(
            p,
            &side("2.7", "", "werkzeug"),
            &side("3.8", "", "werkzeug"),
        );
        assert_eq!(c.new_reads, Check::Ok);
        assert_eq!(
            c.old_reads_new_write,
            Check::Fails {
                error: "ValueError: unsupported pickle protocol: 4".into()
            }
        );
        assert_eq!(c.new_reads_old_write, Check::Ok);
    }
}
