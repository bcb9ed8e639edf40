//! Arbitrary bytes as a Redis RDB dump: `visit_rdb_bytes` decodes every element of every key, and
//! `read_rdb_bytes` turns them into samples with small caps (3 elements a key, 64 bytes a value, so
//! that the sorted-set heap, the set sorting and the value cutting are exercised). Any result is
//! fine; a panic, a stack overflow, a timeout or an allocation over libFuzzer's `-rss_limit_mb` is a
//! finding. The stable twin is `every_corrupted_byte_is_an_error_never_a_panic` and
//! `mutation_smoke` in `tests/rdb.rs`.
//!
//! Run: `./fuzz/seed_rdb.sh` (real dumps written by redis-server), then
//! `cargo +nightly fuzz run rdb fuzz/corpus/rdb -- -max_total_time=60`.
#![no_main]

use cache_compat::source::rdb::{read_rdb_bytes, visit_rdb_bytes};
use cache_compat::source::{Caps, Coverage, Filter};
use libfuzzer_sys::fuzz_target;
use std::ops::ControlFlow;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let name = Path::new("fuzz.rdb");
    let mut elems = 0u64;
    let _ = visit_rdb_bytes(
        name,
        data,
        |_| true,
        |_, _| {
            elems += 1;
            ControlFlow::Continue(())
        },
    );
    let caps = Caps {
        max_elements: 3,
        max_value_bytes: 64,
    };
    let mut cov = Coverage::default();
    let mut n = 0u64;
    let _ = read_rdb_bytes(name, data, &Filter::default(), caps, |_| n += 1, &mut cov);
    assert_eq!(n, cov.sampled);
});
