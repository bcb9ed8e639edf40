//! Snapshot files (`cache-compat snapshot`, `scan --snapshot`).
//!
//! Format: gzip-compressed JSON lines. The first line is
//! `{"cache_compat_snapshot": 1, "source": "<redis URL without password>"}`; every other line is
//! one sampled value: `{"key": HEX, "type": "string"|"hash"|"list"|"set"|"zset", "field":
//! HEX|null, "ttl_ms": N|null, "value": HEX}`, plus `"full_len": N` when `value` is only the first
//! bytes of a longer value (over `--max-value-bytes`). Keys, fields and values are hex because they
//! are arbitrary bytes. For a list or sorted set `field` is the element's index (rank) as decimal
//! text, for a set the member's index in byte order of the members read. Readers ignore members
//! they do not know, so the version stays 1.

use super::{Coverage, Filter, Sample, Seen, SourceError, glob_match, redact};
use std::io::{BufRead, BufReader, Write};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// Write a snapshot (see the module docs).
pub fn write_snapshot(path: &str, source: &str, samples: &[Sample]) -> std::io::Result<()> {
    let f = std::fs::File::create(path)?;
    let mut w =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(f), flate2::Compression::new(6));
    writeln!(
        w,
        "{}",
        serde_json::json!({"cache_compat_snapshot": 1, "source": redact(source)})
    )?;
    for s in samples {
        let mut line = serde_json::json!({
            "key": hex(&s.key),
            "type": s.kind,
            "field": s.field.as_ref().map(|f| hex(f)),
            "ttl_ms": s.ttl_ms,
            "value": hex(&s.value),
        });
        if let (Some(n), Some(o)) = (s.full_len, line.as_object_mut()) {
            o.insert("full_len".into(), n.into());
        }
        writeln!(w, "{line}")?;
    }
    w.finish()?.flush()
}

/// Read a snapshot.
pub fn read_snapshot(
    path: &str,
    filter: &Filter,
    cov: &mut Coverage,
) -> Result<Vec<Sample>, SourceError> {
    let err = |msg: String| SourceError::Snapshot {
        path: path.to_string(),
        msg,
    };
    let f = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let r = BufReader::new(flate2::read::GzDecoder::new(f));
    let mut out = Vec::new();
    // keys_seen counts keys, as a live scan does, not samples (a hash has one per field).
    let mut keys = Seen::default();
    for (i, line) in r.lines().enumerate() {
        let line = line.map_err(|e| {
            err(format!(
                "not a cache-compat snapshot (gzip JSON lines): {e}"
            ))
        })?;
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| err(format!("line {}: {e}", i + 1)))?;
        if i == 0 {
            if v.get("cache_compat_snapshot").is_none() {
                return Err(err("not a cache-compat snapshot (no header line)".into()));
            }
            continue;
        }
        let field = |n: &str| v.get(n).and_then(|x| x.as_str()).and_then(unhex);
        let (Some(key), Some(value)) = (field("key"), field("value")) else {
            return Err(err(format!("line {}: needs hex key and value", i + 1)));
        };
        if keys.insert(&key) {
            cov.keys_seen += 1;
        }
        if !filter.matches.is_empty()
            && !filter
                .matches
                .iter()
                .any(|g| glob_match(g.as_bytes(), &key))
        {
            continue;
        }
        if filter.limit.is_some_and(|l| cov.sampled >= l) {
            break;
        }
        let full_len = v.get("full_len").and_then(|n| n.as_u64());
        cov.sampled += 1;
        if full_len.is_some() {
            cov.partial += 1;
        }
        out.push(Sample {
            key,
            kind: v
                .get("type")
                .and_then(|t| t.as_str())
                .unwrap_or("string")
                .to_string(),
            field: field("field"),
            ttl_ms: v.get("ttl_ms").and_then(|t| t.as_i64()),
            value,
            full_len,
        });
    }
    Ok(out)
}
