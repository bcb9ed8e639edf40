//! Key patterns (`article:*:body`) that the report groups values by, and the summary totals.

use crate::sample::Coverage;
use serde::Serialize;
use std::collections::BTreeMap;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Totals for the summary line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub values: u64,
    pub with_findings: u64,
    pub not_pickles: u64,
    /// Values whose verdict went over its budget (some checks `unknown`, CC090).
    #[serde(skip_serializing_if = "is_zero")]
    pub over_budget: u64,
    /// Per check, per outcome.
    pub checks: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    pub coverage: Coverage,
}

/// A key's pattern: segments (split at `:`, `/`, `.`, `-`, `_`) that are numbers, hex ids of 8+
/// digits or UUIDs become `*` (`article:7:body` -> `article:*:body`).
pub fn key_pattern(key: &str) -> String {
    // UUIDs span '-' separators: fold them first (a key without '-' holds none).
    let folded;
    let key = if key.len() >= 36 && key.contains('-') {
        folded = fold_uuids(key);
        folded.as_str()
    } else {
        key
    };
    let mut out = String::with_capacity(key.len());
    let star = |seg: &str| {
        let b = seg.as_bytes();
        let is_num = !b.is_empty() && b.iter().all(u8::is_ascii_digit);
        let is_hex =
            b.len() >= 8 && b.iter().all(u8::is_ascii_hexdigit) && b.iter().any(u8::is_ascii_digit);
        is_num || is_hex
    };
    // The separators are ASCII, so the segments between them are whole characters.
    let mut start = 0;
    for (i, c) in key.bytes().enumerate() {
        if matches!(c, b':' | b'/' | b'.' | b'-' | b'_' | b'|' | b'#') {
            let seg = &key[start..i];
            out.push_str(if star(seg) { "*" } else { seg });
            out.push(c as char);
            start = i + 1;
        }
    }
    let seg = &key[start..];
    out.push_str(if star(seg) { "*" } else { seg });
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

    /// The previous `key_pattern` (per-character), the oracle of the faster one above.
    fn reference(key: &str) -> String {
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

    #[test]
    fn key_patterns_agree_with_the_per_character_version() {
        let parts = [
            "",
            "7",
            "0042",
            "abc",
            "deadbeef",
            "DEADBEEF0",
            "cafebabe",
            "12345678",
            "abcdefab",
            "caf\u{e9}",
            "\u{1f600}",
            "x9",
            "123e4567-e89b-12d3-a456-426614174000",
            "123E4567-E89B-12D3-A456-42661417400G",
            "*",
            " ",
        ];
        let seps = [":", "/", ".", "-", "_", "|", "#", "", "::"];
        let mut n = 0;
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            let mut key = String::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut r = x;
            for _ in 0..(r % 6) + 1 {
                r /= 6;
                key.push_str(parts[(r % parts.len() as u64) as usize]);
                r /= parts.len() as u64;
                key.push_str(seps[(r % seps.len() as u64) as usize]);
                r /= seps.len() as u64;
            }
            assert_eq!(key_pattern(&key), reference(&key), "{key:?}");
            n += 1;
        }
        assert_eq!(n, 20_000);
    }
}
