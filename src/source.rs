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
    /// Connections re-established after a drop (the interrupted batch was read again).
    pub reconnects: u64,
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

/// Connection options of a live Redis beyond its URL (flattened into `scan` and `snapshot`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RedisOpts {}

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

/// Put `REDISCLI_AUTH` into a URL that has no password (`redis://host`, `redis://user@host`).
fn with_env_password(url: &str) -> String {
    let Ok(pw) = std::env::var("REDISCLI_AUTH") else {
        return url.to_string();
    };
    let Some(i) = url.find("://") else {
        return url.to_string();
    };
    let (scheme, rest) = (&url[..i + 3], &url[i + 3..]);
    if scheme == "unix://" {
        return url.to_string();
    }
    match rest.split_once('@') {
        Some((user, host)) if !user.contains(':') => format!("{scheme}{user}:{pw}@{host}"),
        Some(_) => url.to_string(),
        None => format!("{scheme}:{pw}@{rest}"),
    }
}

/// Sampling options of a live scan.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Keep a key with this probability (seeded, so the same keys are drawn each run).
    pub sample_rate: f64,
    pub seed: u64,
    /// At most this many Redis commands a second (0: unlimited).
    pub rate: u64,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            sample_rate: 1.0,
            seed: 0,
            rate: 0,
        }
    }
}

/// A stable, seeded draw for `--sample-rate`: the same key is kept or dropped in every run.
fn keep(key: &[u8], pace: &Pace) -> bool {
    if pace.sample_rate >= 1.0 {
        return true;
    }
    // FNV-1a over seed and key; uniform enough for sampling.
    let mut h: u64 = 0xcbf29ce484222325 ^ pace.seed;
    for &b in key {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    ((h >> 11) as f64 / (1u64 << 53) as f64) < pace.sample_rate
}

struct Conn {
    client: redis::Client,
    con: redis::Connection,
    shown: String,
    pace: Pace,
    started: std::time::Instant,
    sent: u64,
    /// Connections re-established after a drop.
    pub reconnects: u64,
}

impl Conn {
    fn open(url: &str, pace: Pace) -> Result<Conn, SourceError> {
        let url = with_env_password(url);
        let shown = redact(&url);
        let connect_err = |e| SourceError::Connect {
            url: shown.clone(),
            source: e,
        };
        let client = redis::Client::open(url.as_str()).map_err(connect_err)?;
        let con = client
            .get_connection_with_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| SourceError::Connect {
                url: shown.clone(),
                source: e,
            })?;
        Ok(Conn {
            client,
            con,
            shown,
            pace,
            started: std::time::Instant::now(),
            sent: 0,
            reconnects: 0,
        })
    }

    /// Hold the command rate at `--rate`.
    fn throttle(&mut self, commands: u64) {
        self.sent += commands;
        if self.pace.rate == 0 {
            return;
        }
        let due = std::time::Duration::from_secs_f64(self.sent as f64 / self.pace.rate as f64);
        if let Some(wait) = due.checked_sub(self.started.elapsed()) {
            std::thread::sleep(wait);
        }
    }

    /// Run a read-only query; a dropped connection is re-established (with backoff) and the same
    /// query retried, since reads can be repeated safely. redis-rs does not replay it itself.
    fn query<T: redis::FromRedisValue>(
        &mut self,
        what: &str,
        build: impl Fn() -> Result<redis::Pipeline, SourceError>,
    ) -> Result<T, SourceError> {
        let mut delay = std::time::Duration::from_millis(100);
        let mut attempt = 0;
        loop {
            let pipe = build()?;
            self.throttle(pipe.cmd_iter().count() as u64);
            match pipe.query::<T>(&mut self.con) {
                Ok(v) => return Ok(v),
                Err(e)
                    if (e.is_connection_dropped() || e.is_io_error() || e.is_timeout())
                        && attempt < 6 =>
                {
                    attempt += 1;
                    std::thread::sleep(delay);
                    delay *= 2;
                    if let Ok(c) = self
                        .client
                        .get_connection_with_timeout(std::time::Duration::from_secs(10))
                    {
                        self.con = c;
                        self.reconnects += 1;
                    }
                }
                Err(e) => {
                    return Err(SourceError::Command {
                        cmd: format!("{what} on {}", self.shown),
                        source: e,
                    });
                }
            }
        }
    }
}

fn single(cmd: redis::Cmd) -> redis::Pipeline {
    let mut p = redis::pipe();
    p.add_command(cmd);
    p
}

/// Sample a live Redis: SCAN (deduplicated: SCAN may return a key twice), then pipelined TYPE
/// and PTTL, GET for strings and HSCAN for hashes. Keys gone between SCAN and GET are counted as
/// vanished. Dropped connections are re-established and the batch retried.
pub fn scan_redis(
    url: &str,
    filter: &Filter,
    pace: Pace,
    mut sink: impl FnMut(Sample),
    cov: &mut Coverage,
) -> Result<(), SourceError> {
    let mut c = Conn::open(url, pace)?;
    let patterns: Vec<String> = if filter.matches.is_empty() {
        vec!["*".into()]
    } else {
        filter.matches.clone()
    };
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let full = |cov: &Coverage| filter.limit.is_some_and(|l| cov.sampled >= l);
    for pat in patterns {
        let mut cursor: u64 = 0;
        loop {
            let ((next, keys),): ((u64, Vec<Vec<u8>>),) = c.query("SCAN", || {
                Ok(single(
                    read_cmd("SCAN")?
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pat)
                        .arg("COUNT")
                        .arg(1000)
                        .clone(),
                ))
            })?;
            let fresh: Vec<Vec<u8>> = keys
                .into_iter()
                .filter(|k| seen.insert(k.clone()))
                .collect();
            cov.keys_seen += fresh.len() as u64;
            let fresh: Vec<Vec<u8>> = fresh.into_iter().filter(|k| keep(k, &pace)).collect();
            if !fresh.is_empty() {
                let meta: Vec<redis::Value> = c.query("TYPE", || {
                    let mut pipe = redis::pipe();
                    for k in &fresh {
                        pipe.add_command(read_cmd("TYPE")?.arg(k).clone());
                        pipe.add_command(read_cmd("PTTL")?.arg(k).clone());
                    }
                    Ok(pipe)
                })?;
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
                    let vals: Vec<Option<Vec<u8>>> = c.query("GET", || {
                        let mut pipe = redis::pipe();
                        for (k, _) in &strings {
                            pipe.add_command(read_cmd("GET")?.arg(k).clone());
                        }
                        Ok(pipe)
                    })?;
                    for ((k, ttl), v) in strings.into_iter().zip(vals) {
                        match v {
                            Some(value) => {
                                if full(cov) {
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
                        let ((n, kv),): ((u64, Vec<Vec<u8>>),) = c.query("HSCAN", || {
                            Ok(single(
                                read_cmd("HSCAN")?
                                    .arg(&k)
                                    .arg(hcur)
                                    .arg("COUNT")
                                    .arg(100)
                                    .clone(),
                            ))
                        })?;
                        for pair in kv.chunks_exact(2) {
                            if full(cov) {
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
    cov.reconnects = c.reconnects;
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
