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

/// A snapshot being written, one sample at a time (bounded memory however many values). The file
/// appears under its name only when `finish` succeeds: until then it is `<path>.partial`, so an
/// interrupted capture never leaves a truncated file that looks complete.
pub struct SnapshotWriter {
    w: flate2::write::GzEncoder<std::io::BufWriter<std::fs::File>>,
    partial: std::path::PathBuf,
    path: std::path::PathBuf,
}

impl SnapshotWriter {
    /// Create `<path>.partial` and write the header line.
    pub fn create(path: &str, source: &str) -> std::io::Result<SnapshotWriter> {
        let path = std::path::PathBuf::from(path);
        let mut partial = path.clone().into_os_string();
        partial.push(".partial");
        let partial = std::path::PathBuf::from(partial);
        let f = std::fs::File::create(&partial)?;
        let mut w =
            flate2::write::GzEncoder::new(std::io::BufWriter::new(f), flate2::Compression::new(6));
        writeln!(
            w,
            "{}",
            serde_json::json!({"cache_compat_snapshot": 1, "source": redact(source)})
        )?;
        Ok(SnapshotWriter { w, partial, path })
    }

    /// One sampled value (see the module docs).
    pub fn add(&mut self, s: &Sample) -> std::io::Result<()> {
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
        writeln!(self.w, "{line}")
    }

    /// Flush and move the file to its name.
    pub fn finish(self) -> std::io::Result<()> {
        self.w
            .finish()?
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        std::fs::rename(&self.partial, &self.path)
    }
}

/// Write a snapshot of these samples (see the module docs).
pub fn write_snapshot(path: &str, source: &str, samples: &[Sample]) -> std::io::Result<()> {
    let mut w = SnapshotWriter::create(path, source)?;
    for s in samples {
        w.add(s)?;
    }
    w.finish()
}

/// The number of values a snapshot holds (a pass over the decompressed lines; for a progress
/// estimate), or None when it cannot be read.
pub fn count_snapshot(path: &str) -> Option<u64> {
    let f = std::fs::File::open(path).ok()?;
    let mut r = BufReader::new(flate2::read::GzDecoder::new(f));
    let mut lines = 0u64;
    loop {
        let buf = r.fill_buf().ok()?;
        if buf.is_empty() {
            break;
        }
        lines += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        let n = buf.len();
        r.consume(n);
    }
    Some(lines.saturating_sub(1))
}

/// Read a snapshot into memory (`visit_snapshot` streams it).
pub fn read_snapshot(
    path: &str,
    filter: &Filter,
    cov: &mut Coverage,
) -> Result<Vec<Sample>, SourceError> {
    let mut out = Vec::new();
    visit_snapshot(path, filter, cov, |s| out.push(s))?;
    Ok(out)
}

/// Read a snapshot, one sample at a time into `sink` (bounded memory however big the file).
pub fn visit_snapshot(
    path: &str,
    filter: &Filter,
    cov: &mut Coverage,
    mut sink: impl FnMut(Sample),
) -> Result<(), SourceError> {
    let err = |msg: String| SourceError::Snapshot {
        path: path.to_string(),
        msg,
    };
    let f = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let r = BufReader::new(flate2::read::GzDecoder::new(f));
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
        sink(Sample {
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
    Ok(())
}
