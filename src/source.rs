//! Where values come from: a live Redis (read commands only) or a snapshot file.
//!
//! Snapshot format (`cache-compat snapshot`): gzip-compressed JSON lines. The first line is
//! `{"cache_compat_snapshot": 1, "source": "<redis URL without password>"}`; every other line is
//! one sampled value: `{"key": HEX, "type": "string"|"hash", "field": HEX|null, "ttl_ms": N|null,
//! "value": HEX}`. Keys, fields and values are hex because they are arbitrary bytes.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};

/// One sampled value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub key: Vec<u8>,
    /// `string` or `hash`.
    pub kind: String,
    /// The hash field, for values inside a hash.
    pub field: Option<Vec<u8>>,
    pub ttl_ms: Option<i64>,
    pub value: Vec<u8>,
}

/// Sampling counters, reported with the results.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Coverage {
    pub keys_seen: u64,
    pub sampled: u64,
    /// Keys that SCAN listed but that were gone when read (expired or deleted).
    pub vanished: u64,
    /// Keys of types not read (lists, sets, streams, ...).
    pub skipped_types: u64,
}

/// Errors of the tool itself (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot reach Redis at {url}: {source} (is the server running and the URL right?)")]
    Connect {
        url: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("Redis command {cmd} failed: {source}")]
    Command {
        cmd: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("refusing to send {0}: cache-compat only ever sends read commands")]
    NotReadOnly(String),
    #[error("{path}: {msg}")]
    Snapshot { path: String, msg: String },
}

/// The only commands the tool sends: reads, plus what a client needs to connect.
const READ_COMMANDS: &[&str] = &[
    "SCAN", "TYPE", "GET", "STRLEN", "GETRANGE", "HSCAN", "PTTL", "PING",
];

/// A Redis command, refused unless it is a read command.
pub fn read_cmd(name: &str) -> Result<redis::Cmd, SourceError> {
    if !READ_COMMANDS.contains(&name) {
        return Err(SourceError::NotReadOnly(name.to_string()));
    }
    Ok(redis::cmd(name))
}

/// A glob filter as Redis MATCH understands it (`*`, `?`, `[...]` passed to the server).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub matches: Vec<String>,
    pub limit: Option<u64>,
}

/// The URL with its password replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..s + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

/// Sample a live Redis: SCAN (deduplicated), then pipelined TYPE, GET/HSCAN and PTTL per batch.
/// Values over `max_value` bytes are read by prefix (GETRANGE) and marked partial by length.
pub fn scan_redis(
    url: &str,
    filter: &Filter,
    mut sink: impl FnMut(Sample),
    cov: &mut Coverage,
) -> Result<(), SourceError> {
    let mut url = url.to_string();
    if let Ok(pw) = std::env::var("REDISCLI_AUTH")
        && !url.contains('@')
        && let Some(i) = url.find("://")
    {
        url = format!("{}:{}@{}", &url[..i + 3], pw, &url[i + 3..]);
    }
    let shown = redact(&url);
    let client = redis::Client::open(url.as_str()).map_err(|e| SourceError::Connect {
        url: shown.clone(),
        source: e,
    })?;
    let mut con = client.get_connection().map_err(|e| SourceError::Connect {
        url: shown.clone(),
        source: e,
    })?;
    let cmd_err = |cmd: &str| {
        let cmd = cmd.to_string();
        move |e| SourceError::Command {
            cmd: cmd.clone(),
            source: e,
        }
    };
    let patterns: Vec<String> = if filter.matches.is_empty() {
        vec!["*".into()]
    } else {
        filter.matches.clone()
    };
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    for pat in patterns {
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = read_cmd("SCAN")?
                .arg(cursor)
                .arg("MATCH")
                .arg(&pat)
                .arg("COUNT")
                .arg(1000)
                .query(&mut con)
                .map_err(cmd_err("SCAN"))?;
            let fresh: Vec<Vec<u8>> = keys
                .into_iter()
                .filter(|k| seen.insert(k.clone()))
                .collect();
            cov.keys_seen += fresh.len() as u64;
            if !fresh.is_empty() {
                let mut pipe = redis::pipe();
                for k in &fresh {
                    pipe.add_command(read_cmd("TYPE")?.arg(k).clone());
                    pipe.add_command(read_cmd("PTTL")?.arg(k).clone());
                }
                let meta: Vec<redis::Value> = pipe.query(&mut con).map_err(cmd_err("TYPE"))?;
                let mut strings = Vec::new();
                let mut hashes = Vec::new();
                for (i, k) in fresh.iter().enumerate() {
                    let ty = match &meta[2 * i] {
                        redis::Value::SimpleString(s) => s.clone(),
                        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                        _ => String::new(),
                    };
                    let ttl = match meta[2 * i + 1] {
                        redis::Value::Int(t) if t >= 0 => Some(t),
                        _ => None,
                    };
                    match ty.as_str() {
                        "string" => strings.push((k.clone(), ttl)),
                        "hash" => hashes.push((k.clone(), ttl)),
                        "none" => cov.vanished += 1,
                        _ => cov.skipped_types += 1,
                    }
                }
                if !strings.is_empty() {
                    let mut pipe = redis::pipe();
                    for (k, _) in &strings {
                        pipe.add_command(read_cmd("GET")?.arg(k).clone());
                    }
                    let vals: Vec<Option<Vec<u8>>> =
                        pipe.query(&mut con).map_err(cmd_err("GET"))?;
                    for ((k, ttl), v) in strings.into_iter().zip(vals) {
                        match v {
                            Some(value) => {
                                if filter.limit.is_some_and(|l| cov.sampled >= l) {
                                    return Ok(());
                                }
                                cov.sampled += 1;
                                sink(Sample {
                                    key: k,
                                    kind: "string".into(),
                                    field: None,
                                    ttl_ms: ttl,
                                    value,
                                });
                            }
                            None => cov.vanished += 1,
                        }
                    }
                }
                for (k, ttl) in hashes {
                    let mut hcur: u64 = 0;
                    loop {
                        let (n, kv): (u64, Vec<Vec<u8>>) = read_cmd("HSCAN")?
                            .arg(&k)
                            .arg(hcur)
                            .arg("COUNT")
                            .arg(100)
                            .query(&mut con)
                            .map_err(cmd_err("HSCAN"))?;
                        for pair in kv.chunks_exact(2) {
                            if filter.limit.is_some_and(|l| cov.sampled >= l) {
                                return Ok(());
                            }
                            cov.sampled += 1;
                            sink(Sample {
                                key: k.clone(),
                                kind: "hash".into(),
                                field: Some(pair[0].clone()),
                                ttl_ms: ttl,
                                value: pair[1].clone(),
                            });
                        }
                        hcur = n;
                        if hcur == 0 {
                            break;
                        }
                    }
                }
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
    }
    Ok(())
}

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
        let line = serde_json::json!({
            "key": hex(&s.key),
            "type": s.kind,
            "field": s.field.as_ref().map(|f| hex(f)),
            "ttl_ms": s.ttl_ms,
            "value": hex(&s.value),
        });
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
        cov.keys_seen += 1;
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
        cov.sampled += 1;
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
        });
    }
    Ok(out)
}

/// Redis-style glob matching (`*`, `?`, `[abc]`, `\x`), iterative.
pub fn glob_match(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    while i < s.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star = Some(p);
                    mark = i;
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    i += 1;
                    continue;
                }
                b'[' => {
                    if let Some(end) = pat[p..].iter().position(|&c| c == b']') {
                        let class = &pat[p + 1..p + end];
                        if class.contains(&s[i]) {
                            p += end + 1;
                            i += 1;
                            continue;
                        }
                    }
                }
                b'\\' if p + 1 < pat.len() && pat[p + 1] == s[i] => {
                    p += 2;
                    i += 1;
                    continue;
                }
                c if c == s[i] => {
                    p += 1;
                    i += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some(sp) => {
                p = sp + 1;
                mark += 1;
                i = mark;
            }
            None => return false,
        }
    }
    while p < pat.len() && pat[p] == b'*' {
        p += 1;
    }
    p == pat.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_redaction() {
        assert!(glob_match(b"article:*", b"article:7:body"));
        assert!(glob_match(b"a?c", b"abc"));
        assert!(!glob_match(b"a?c", b"abbc"));
        assert!(glob_match(b"user:[12]", b"user:2"));
        assert_eq!(
            redact("redis://bob:secret@host:6379/0"),
            "redis://bob:***@host:6379/0"
        );
        assert!(read_cmd("SET").is_err());
        assert!(read_cmd("FLUSHALL").is_err());
        assert!(read_cmd("GET").is_ok());
    }
}
