//! `scan`: judge every sampled value for a migration, and render the results (cli.md).

use crate::check::{Check, Side};
use crate::source::Coverage;
pub use crate::verdict::{ValueResult, judge, show_key};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

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

/// `--format jsonl`: one line per value with a finding (every value with `all`), then the summary.
pub fn jsonl(results: &[ValueResult], summary: &Summary, all: bool) -> String {
    let mut out = String::new();
    for r in results.iter().filter(|r| all || r.has_finding()) {
        let _ = writeln!(out, "{}", serde_json::to_string(r).unwrap_or_default());
    }
    let _ = writeln!(out, "{}", serde_json::json!({ "summary": summary }));
    out
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

/// check -> finding text -> the keys that have it.
type Findings = BTreeMap<&'static str, BTreeMap<String, Vec<String>>>;

/// `--format table`: the verdict first, then the findings by key pattern (count, the exact error
/// or change, example keys), then, with `all`, every value.
pub fn table(
    results: &[ValueResult],
    summary: &Summary,
    old: &Side,
    new: &Side,
    all: bool,
) -> String {
    let mut out = String::new();
    let count = |check: &str, outcome: &str| {
        summary
            .checks
            .get(check)
            .and_then(|m| m.get(outcome))
            .copied()
            .unwrap_or(0)
    };
    let bad = |check: &str| count(check, "fails") + count(check, "changes");
    let rolling = bad("old_reads")
        + bad("new_reads")
        + bad("old_reads_new_write")
        + bad("new_reads_old_write");
    let rollback = bad("old_reads_new_write") + bad("round_trip");
    let _ = writeln!(
        out,
        "rolling deploy ({} and {} share the cache): {}",
        old.runtime,
        new.runtime,
        if rolling == 0 {
            "safe".to_string()
        } else {
            format!("NOT SAFE ({rolling} failing or changing checks)")
        }
    );
    let _ = writeln!(
        out,
        "rollback to {} after {} has written: {}",
        old.runtime,
        new.runtime,
        if rollback == 0 {
            "safe".to_string()
        } else {
            format!("NOT SAFE ({rollback} failing or changing checks)")
        }
    );
    let c = &summary.coverage;
    let _ = writeln!(
        out,
        "values judged: {} (keys seen {}, vanished {}, other types skipped {}, not pickles {}, reconnects {})",
        summary.values, c.keys_seen, c.vanished, c.skipped_types, summary.not_pickles, c.reconnects
    );
    let _ = writeln!(
        out,
        "writers: {} writes protocol {} ({}), {} writes protocol {} ({})",
        old.runtime,
        old.writer.protocol_on(old.runtime),
        old.writer.name,
        new.runtime,
        new.writer.protocol_on(new.runtime),
        new.writer.name
    );
    // pattern -> check -> finding text -> keys
    let mut groups: BTreeMap<String, (u64, Findings)> = BTreeMap::new();
    for r in results {
        let g = groups.entry(key_pattern(&r.key)).or_default();
        g.0 += 1;
        let Some(checks) = &r.checks else { continue };
        for (name, ch) in checks.all() {
            let text = match ch {
                Check::Fails { error } => format!("fails: {error}"),
                Check::Changes { explanation } => format!("changes: {explanation}"),
                _ => continue,
            };
            let key = match &r.field {
                Some(f) => format!("{} [{f}]", r.key),
                None => r.key.clone(),
            };
            g.1.entry(name)
                .or_default()
                .entry(text)
                .or_default()
                .push(key);
        }
    }
    for (pattern, (n, checks)) in &groups {
        if checks.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{pattern}  ({n} values)");
        for (check, findings) in checks {
            for (text, keys) in findings {
                let shown: Vec<&str> = keys.iter().take(3).map(String::as_str).collect();
                let more = if keys.len() > 3 {
                    format!(", +{} more", keys.len() - 3)
                } else {
                    String::new()
                };
                let _ = writeln!(out, "    {check:<20} {:>5} x {text}", keys.len());
                let _ = writeln!(
                    out,
                    "    {:<20}         e.g. {}{more}",
                    "",
                    shown.join(", ")
                );
            }
        }
    }
    if all {
        let _ = writeln!(out, "\nevery value:");
        for r in results {
            let key = match &r.field {
                Some(f) => format!("{} [{}]", r.key, f),
                None => r.key.clone(),
            };
            let _ = writeln!(
                out,
                "{key}  (envelope {}, protocol {})",
                r.envelope,
                r.protocol.map_or("-".into(), |p| p.to_string())
            );
            if let Some(n) = &r.note {
                let _ = writeln!(out, "    {n}");
            }
            if let Some(checks) = &r.checks {
                for (name, ch) in checks.all() {
                    let detail = match ch {
                        Check::Fails { error } => error.clone(),
                        Check::Changes { explanation } => explanation.clone(),
                        Check::Unknown { reason } => reason.clone(),
                        _ => String::new(),
                    };
                    let _ = writeln!(out, "    {name:<20} {:<8} {detail}", ch.name());
                }
            }
        }
    }
    out
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
