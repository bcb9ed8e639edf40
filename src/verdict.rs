//! The verdict on one sampled value: unwrap its envelope, then the five checks (cli.md).

use crate::check::{self, Checks, Side, Stored};
use crate::envelope::{self, Envelope, Ints};
use crate::pickle::parse;
use crate::source::Sample;
use serde::Serialize;
use std::fmt::Write;

/// The verdict on one value.
#[derive(Debug, Clone, Serialize)]
pub struct ValueResult {
    pub key: String,
    pub field: Option<String>,
    pub envelope: &'static str,
    pub protocol: Option<u8>,
    pub checks: Option<Checks>,
    /// With `--writer auto` (either side): the profile inferred from this value's envelope,
    /// e.g. `auto:cachelib` or `auto:pickle(protocol 2)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writer: Option<String>,
    /// Set where the value is not a pickle or could not be unwrapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ValueResult {
    pub fn has_finding(&self) -> bool {
        self.checks.as_ref().is_some_and(Checks::has_finding)
    }
}

/// Bytes as cli.md writes keys: UTF-8 as is, other bytes as Python-style `\xNN`.
pub fn show_key(b: &[u8]) -> String {
    let mut s = String::new();
    for chunk in b.utf8_chunks() {
        s.push_str(chunk.valid());
        for &x in chunk.invalid() {
            let _ = write!(s, "\\x{x:02x}");
        }
    }
    s
}

/// Judge one sample.
pub fn judge(sample: &Sample, old: &Side, new: &Side) -> ValueResult {
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
        };
    }
    let u = envelope::unwrap(&sample.value);
    let mut r = ValueResult {
        key: show_key(&sample.key),
        field: sample.field.as_deref().map(show_key),
        envelope: u.envelope.name(),
        protocol: None,
        checks: None,
        writer: None,
        note: None,
    };
    if let Some(e) = u.error {
        r.note = Some(e);
        return r;
    }
    let parsed = (!u.pickle.is_empty()).then(|| parse::parse(&u.pickle, old.load.budget.max_ops));
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
    r.checks = Some(check::judge_stored_with(&stored, pre, old, new));
    r
}
