//! Where values come from: a live Redis or Redis Cluster (read commands only, [`live`]) or a
//! snapshot file ([`snapshot`]) or a Redis RDB dump, read streaming ([`rdb`]).
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
//! read by range: the first 4 KiB, then STRLEN + GETRANGE of the first `--max-value-bytes` when
//! longer, so no more than that is transferred; elements of hashes, lists, sets and sorted sets
//! have no range read in Redis and are cut after reading) and [`Sample::full_len`] says how long it
//! was.

mod live;
pub mod rdb;
mod snapshot;

pub use live::{
    ClusterMode, ReadFrom, RedisOpts, SentinelChoice, SentinelOpts, estimate_keys,
    resolve_sentinel, scan_redis,
};
pub use snapshot::{SnapshotWriter, count_snapshot, read_snapshot, visit_snapshot, write_snapshot};

pub use crate::sample::{Coverage, Sample, glob_match};
use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault};

/// Errors of the tool itself (exit 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
/// the only `CLUSTER` subcommand allowed. To a Redis Sentinel only `SENTINEL
/// GET-MASTER-ADDR-BY-NAME` and `SENTINEL REPLICAS` (`SENTINEL SLAVES` before Redis 5) are sent,
/// which only describe the monitored set. redis-rs itself sends `AUTH` and `SELECT` when the URL or
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
    "SENTINEL GET-MASTER-ADDR-BY-NAME",
    "SENTINEL REPLICAS",
    "SENTINEL SLAVES",
];

/// A Redis command, refused unless it is a read command (`CLUSTER SLOTS`, `SENTINEL REPLICAS`: a
/// command and its subcommand).
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

/// The keys (or fields, members) already met, for de-duplicating SCAN, in about 9 bytes per key
/// whatever the key's length (1 million keys: ~10 MB).
///
/// Each key is reduced to a 64-bit keyed hash (SipHash-1-3 with a random key per process, so no
/// input can aim for a collision). The hashes live in a sorted array with an index by their top
/// bits (one or two cache lines per lookup), plus a small hash set of the latest ones, merged into
/// the array when it reaches an eighth of it (each hash is moved about eight times in all).
///
/// The trade: two different keys of one scan share a 64-bit hash with probability below
/// n^2 / 2^65 (n = 1 million: 3 x 10^-8; 100 million: 3 x 10^-4); the second is then taken for a
/// SCAN repeat and not read. A 128-bit hash (the previous `HashSet<u128>`) made that 10^-20 at a
/// billion keys but cost ~40 bytes a key (64 MiB at 1M keys), against the scan's memory goal of
/// 64 MiB whatever the number of keys.
pub struct Seen {
    hasher: std::hash::RandomState,
    /// Sorted, no duplicates.
    sorted: Vec<u64>,
    /// `index[b]..index[b + 1]` is the range of `sorted` whose top `bits` bits are `b`.
    index: Vec<u32>,
    bits: u32,
    /// Hashes not yet merged into `sorted`.
    recent: HashSet<u64, BuildHasherDefault<Spread>>,
}

/// The hasher of `Seen::recent`: its keys are already keyed hashes, uniformly spread.
#[derive(Default)]
struct Spread(u64);

impl std::hash::Hasher for Spread {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// `recent` is merged into `sorted` once it holds this many hashes, or an eighth of `sorted`.
const SEEN_RECENT_MIN: usize = 4096;

impl Default for Seen {
    fn default() -> Self {
        Seen {
            hasher: std::hash::RandomState::new(),
            sorted: Vec::new(),
            index: Vec::new(),
            bits: 0,
            recent: HashSet::default(),
        }
    }
}

impl Seen {
    /// True the first time `key` is given.
    pub fn insert(&mut self, key: &[u8]) -> bool {
        let h = self.hasher.hash_one(key);
        if self.in_sorted(h) || !self.recent.insert(h) {
            return false;
        }
        if self.recent.len() >= SEEN_RECENT_MIN.max(self.sorted.len() / 8) {
            self.merge();
        }
        true
    }

    fn in_sorted(&self, h: u64) -> bool {
        let range = if self.bits == 0 {
            &self.sorted[..]
        } else {
            let b = (h >> (64 - self.bits)) as usize;
            match (self.index.get(b), self.index.get(b + 1)) {
                (Some(&lo), Some(&hi)) => self.sorted.get(lo as usize..hi as usize).unwrap_or(&[]),
                _ => &[],
            }
        };
        range.binary_search(&h).is_ok()
    }

    /// Move `recent` into `sorted` (merged from the back, in place) and rebuild the index.
    fn merge(&mut self) {
        let mut new: Vec<u64> = self.recent.drain().collect();
        new.sort_unstable();
        let old = self.sorted.len();
        self.sorted.resize(old + new.len(), 0);
        let (mut i, mut j, mut k) = (old, new.len(), self.sorted.len());
        while j > 0 {
            k -= 1;
            if i > 0 && self.sorted[i - 1] > new[j - 1] {
                self.sorted[k] = self.sorted[i - 1];
                i -= 1;
            } else {
                self.sorted[k] = new[j - 1];
                j -= 1;
            }
        }
        // About 8 hashes per index slot; positions fit in u32 below 2^32 keys (more than a
        // Redis database holds), past which the index is dropped for a binary search.
        let n = self.sorted.len();
        self.bits = if n > u32::MAX as usize {
            0
        } else {
            (usize::BITS - (n / 8).leading_zeros()).min(32)
        };
        self.index.clear();
        if self.bits > 0 {
            let slots = 1usize << self.bits;
            self.index.reserve_exact(slots + 1);
            let mut pos = 0usize;
            for b in 0..slots {
                while pos < n && ((self.sorted[pos] >> (64 - self.bits)) as usize) < b {
                    pos += 1;
                }
                self.index.push(pos as u32);
            }
            self.index.push(n as u32);
        }
    }

    pub fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    /// Read each key's TTL (PTTL) into [`Sample::ttl_ms`]: snapshots keep it; `scan` does not use
    /// it, so it saves one command per key.
    pub ttl: bool,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            sample_rate: 1.0,
            seed: 0,
            rate: 0,
            ttl: true,
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
        assert!(read_cmd("SENTINEL").is_err());
        for write in [
            "SENTINEL SET",
            "SENTINEL FAILOVER",
            "SENTINEL RESET",
            "SENTINEL REMOVE",
        ] {
            assert!(read_cmd(write).is_err(), "{write}");
        }
        assert!(read_cmd("SENTINEL REPLICAS").is_ok());
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

    /// `Seen` against a set of the keys themselves, across several merges of its sorted array:
    /// every key is new once, then a repeat, in any order of arrival.
    #[test]
    fn seen_agrees_with_an_exact_set() {
        let mut seen = Seen::default();
        let mut exact = HashSet::new();
        let key = |i: u64| format!("sess:{}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 150_000);
        for i in 0..400_000u64 {
            let k = key(i);
            assert_eq!(seen.insert(k.as_bytes()), exact.insert(k.clone()), "{k}");
        }
        assert_eq!(seen.len(), exact.len());
        assert!(seen.sorted.windows(2).all(|w| w[0] < w[1]));
        for k in &exact {
            assert!(!seen.insert(k.as_bytes()), "{k}");
        }
        assert_eq!(seen.len(), exact.len());
    }
}
