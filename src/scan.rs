//! `scan`: judge every sampled value for a migration (cli.md). Grouping keys into patterns lives
//! here; aggregation and rendering in `report`.

use crate::source::Coverage;
pub use crate::verdict::{ValueResult, judge, show_key};
use serde::Serialize;
use std::collections::BTreeMap;

/// Totals for the summary line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub values: u64,
    pub with_findings: u64,
    pub not_pickles: u64,
    /// Per check, per outcome.
    pub checks: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    pub coverage: Coverage,
}

pub fn summarize(results: &[ValueResult], coverage: Coverage) -> Summary {
    let mut s = Summary {
        coverage,
        ..Summary::default()
    };
    for r in results {
        s.values += 1;
        if r.has_finding() {
            s.with_findings += 1;
        }
        match &r.checks {
            None => s.not_pickles += 1,
            Some(c) => {
                for (name, ch) in c.all() {
                    *s.checks
                        .entry(name)
                        .or_default()
                        .entry(ch.name())
                        .or_insert(0) += 1;
                }
            }
        }
    }
    s
}

/// A key's pattern: segments (split at `:`, `/`, `.`, `-`, `_`) that are numbers, hex ids of 8+
/// digits or UUIDs become `*` (`article:7:body` -> `article:*:body`).
pub fn key_pattern(key: &str) -> String {
    let mut out = String::new();
    let mut seg = String::new();
    let flush = |seg: &mut String, out: &mut String| {
        let is_num = !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit());
        let is_hex = seg.len() >= 8
            && seg.bytes().all(|b| b.is_ascii_hexdigit())
            && seg.bytes().any(|b| b.is_ascii_digit());
        out.push_str(if is_num || is_hex { "*" } else { seg });
        seg.clear();
    };
    // UUIDs span '-' separators: fold them first.
    let key = fold_uuids(key);
    for c in key.chars() {
        if matches!(c, ':' | '/' | '.' | '-' | '_' | '|' | '#') {
            flush(&mut seg, &mut out);
            out.push(c);
        } else {
            seg.push(c);
        }
    }
    flush(&mut seg, &mut out);
    out
}

fn fold_uuids(key: &str) -> String {
    let b = key.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if i + 36 <= b.len() && is_uuid(&b[i..i + 36]) {
            out.push('*');
            i += 36;
        } else {
            let c = key[i..].chars().next().unwrap_or('?');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn is_uuid(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, &c)| {
        if matches!(i, 8 | 13 | 18 | 23) {
            c == b'-'
        } else {
            c.is_ascii_hexdigit()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_patterns_fold_ids() {
        assert_eq!(key_pattern("article:7:body"), "article:*:body");
        assert_eq!(key_pattern("session:9f86d081884c7d65"), "session:*");
        assert_eq!(
            key_pattern("user:123e4567-e89b-12d3-a456-426614174000:prefs"),
            "user:*:prefs"
        );
        assert_eq!(
            key_pattern(":1:views.decorators.cache"),
            ":*:views.decorators.cache"
        );
        assert_eq!(key_pattern("flask_cache_index"), "flask_cache_index");
    }
}
