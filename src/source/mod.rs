//! Where values come from: a live Redis or Redis Cluster (read commands only, [`live`]) or a
//! snapshot file ([`snapshot`]). The RDB reader is `crate::rdb`.
//!
//! What a [`Sample`] is, per Redis type (the same live, in snapshots and from RDB dumps):
//! * string: the value, `field` None;
//! * hash: one sample per field, `field` = the field name;
//! * list: one sample per element, `field` = its index (`0`, `1`, ...), the first
//!   `--max-elements` of the list (LRANGE order);
//! * sorted set: one sample per member, `field` = its rank (ZRANGE order: by score, then member),
//!   the `--max-elements` lowest ranks;
//! * set: one sample per member, `field` = its index among the members read, sorted bytewise
//!   (sets have no order; this makes live, snapshot and RDB agree). A set (or hash) larger than
//!   `--max-elements` is sampled: the members SSCAN (or the dump) gives first, which may differ
//!   between a live scan and a dump.
//!
//! A value longer than `--max-value-bytes` is cut to its first `--max-value-bytes` bytes (strings are
//! read with STRLEN + GETRANGE, so no more is transferred; elements of hashes, lists, sets and sorted
//! sets have no range read in Redis and are cut after reading) and [`Sample::full_len`] says how
//! long it was.

mod live;
mod snapshot;

pub use live::{ClusterMode, RedisOpts, estimate_keys, scan_redis};
pub use snapshot::{SnapshotWriter, count_snapshot, read_snapshot, visit_snapshot, write_snapshot};

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::hash::BuildHasher;

/// One sampled value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub key: Vec<u8>,
    /// `string`, `hash`, `list`, `set` or `zset` (as Redis TYPE names them).
    pub kind: String,
    /// The hash field; for lists and sorted sets the index (rank), for sets the member's index in
    /// byte order, as decimal text. None for strings.
    pub field: Option<Vec<u8>>,
    pub ttl_ms: Option<i64>,
    pub value: Vec<u8>,
    /// Set when `value` holds only the first bytes of the value (over `--max-value-bytes`): the
    /// value's full length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_len: Option<u64>,
}

/// Sampling counters, reported with the results.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Coverage {
    pub keys_seen: u64,
    pub sampled: u64,
    /// Keys that SCAN listed but that were gone when read (expired or deleted).
    pub vanished: u64,
    /// Keys of types not read (streams, modules, ...).
    pub skipped_types: u64,
    /// Connections re-established after a drop (the interrupted batch was read again).
    pub reconnects: u64,
    /// Samples cut at `--max-value-bytes` (judged as partial values).
    pub partial: u64,
    /// Redis nodes scanned (the masters of a cluster; 1 for a single server; 0 offline).
    pub nodes: u64,
    /// Keys read from another cluster node after a MOVED or ASK reply (a reshard during the scan).
    pub redirected: u64,
    /// Passes over the cluster repeated because its slot map changed during the scan (keys that
    /// moved before their old node listed them are found on the new one; keys already seen are
    /// not read again).
    pub rescans: u64,
}

/// Errors of the tool itself (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    // The Redis error is in the message, not a `source`: it would be printed again, with its
    // own causes, by `{:#}`.
    #[error("cannot reach Redis at {url}: {err} (is the server running and the URL right?)")]
    Connect { url: String, err: redis::RedisError },
    #[error("Redis command {cmd} failed: {err}")]
    Command { cmd: String, err: redis::RedisError },
    #[error("Redis command {cmd} failed: {msg}")]
    Reply { cmd: String, msg: String },
    #[error("refusing to send {0}: cache-compat only ever sends read commands")]
    NotReadOnly(String),
    #[error("{0}")]
    Options(String),
    #[error("{path}: {msg}")]
    Snapshot { path: String, msg: String },
}

/// The only commands the tool sends: reads, plus what a client needs to connect (`HELLO` without
/// arguments, which only describes the server, `PING`) and `ASKING`, which lets the next command
/// read a key whose slot is being migrated (it changes nothing on the server). `CLUSTER SLOTS` is
/// the only `CLUSTER` subcommand allowed. redis-rs itself sends `AUTH` and `SELECT` when the URL or
/// options ask for them (no `CLIENT SETINFO`: that is switched off).
const READ_COMMANDS: &[&str] = &[
    "SCAN",
    "TYPE",
    "GET",
    "STRLEN",
    "GETRANGE",
    "HSCAN",
    "LRANGE",
    "SSCAN",
    "ZRANGE",
    "PTTL",
    "PING",
    "DBSIZE",
    "HELLO",
    "CLUSTER SLOTS",
    "ASKING",
];

/// A Redis command, refused unless it is a read command (`CLUSTER SLOTS`: a command and its
/// subcommand).
pub fn read_cmd(name: &str) -> Result<redis::Cmd, SourceError> {
    if !READ_COMMANDS.contains(&name) {
        return Err(SourceError::NotReadOnly(name.to_string()));
    }
    let mut words = name.split(' ');
    let mut c = redis::cmd(words.next().unwrap_or(name));
    for w in words {
        c.arg(w);
    }
    Ok(c)
}

/// A glob filter as Redis MATCH understands it (`*`, `?`, `[...]` passed to the server).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub matches: Vec<String>,
    pub limit: Option<u64>,
}

/// Bounds on what is read per key.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// At most this many elements (hash fields, list items, set or sorted-set members) per key.
    pub max_elements: u64,
    /// Values longer than this are read by prefix and judged as partial.
    pub max_value_bytes: u64,
}

pub const DEFAULT_MAX_ELEMENTS: u64 = 1000;
pub const DEFAULT_MAX_VALUE_BYTES: u64 = 64 << 20;

impl Default for Caps {
    fn default() -> Self {
        Caps {
            max_elements: DEFAULT_MAX_ELEMENTS,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
        }
    }
}

impl Caps {
    /// Cut `value` to the cap; the full length if it was cut.
    pub fn cut(&self, value: &mut Vec<u8>) -> Option<u64> {
        let cap = usize::try_from(self.max_value_bytes).unwrap_or(usize::MAX);
        if value.len() > cap {
            let full = value.len() as u64;
            value.truncate(cap);
            value.shrink_to_fit();
            Some(full)
        } else {
            None
        }
    }
}

/// The keys (or fields, members) already met, for de-duplicating SCAN: 16 bytes per key whatever
/// the key's length (a 128-bit keyed hash: two SipHash-1-3 with random keys), so ~40 bytes a key
/// with the table's overhead (1 million keys: ~40 MB). The chance that two different keys of a
/// scan share a hash, so that one is wrongly taken for a duplicate, is below n^2 / 2^129 (10^-20
/// for a billion keys).
pub struct Seen {
    k0: std::hash::RandomState,
    k1: std::hash::RandomState,
    set: HashSet<u128>,
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            k0: std::hash::RandomState::new(),
            k1: std::hash::RandomState::new(),
            set: HashSet::new(),
        }
    }
}

impl Seen {
    /// True the first time `key` is given.
    pub fn insert(&mut self, key: &[u8]) -> bool {
        let h = ((self.k0.hash_one(key) as u128) << 64) | self.k1.hash_one(key) as u128;
        self.set.insert(h)
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
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

/// Sampling options of a live scan.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Keep a key with this probability (seeded, so the same keys are drawn each run).
    pub sample_rate: f64,
    pub seed: u64,
    /// At most this many Redis commands a second (0: unlimited). In a cluster the rate is shared
    /// out evenly between the masters scanned in parallel.
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
pub(crate) fn keep(key: &[u8], pace: &Pace) -> bool {
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
        assert!(read_cmd("CLUSTER").is_err());
        assert!(read_cmd("CLUSTER RESET").is_err());
        assert!(read_cmd("CLUSTER SLOTS").is_ok());
        let mut seen = Seen::default();
        assert!(seen.insert(b"a") && seen.insert(b"b") && !seen.insert(b"a"));
        let mut v = vec![1u8; 10];
        let caps = Caps {
            max_elements: 1,
            max_value_bytes: 4,
        };
        assert_eq!(caps.cut(&mut v), Some(10));
        assert_eq!(v.len(), 4);
        assert_eq!(caps.cut(&mut v), None);
    }
}
