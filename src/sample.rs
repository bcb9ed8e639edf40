//! What crosses from the sources to the rest of the pipeline: the sampled values, the coverage
//! counts the sources keep, and the key globs (Redis MATCH syntax) that sources filter with and
//! baselines match keys with.

use serde::{Deserialize, Serialize};

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
