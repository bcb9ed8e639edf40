//! The verdict on one sampled value: unwrap its envelope, then the five checks (cli.md).

use crate::check::{self, Checks, Side};
use crate::envelope::{self, Envelope};
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
        note: None,
    };
    if let Some(e) = u.error {
        r.note = Some(e);
        return r;
    }
    match u.envelope {
        Envelope::AsciiInt => {
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
    let parsed = parse::parse(&u.pickle, old.load.budget.max_ops);
    r.protocol = Some(
        parsed
            .proto_header()
            .unwrap_or(0)
            .max(parsed.highest_opcode_protocol()),
    );
    r.checks = Some(check::judge(&u.pickle, old, new));
    r
}
