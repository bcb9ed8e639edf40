//! Arbitrary bytes as a stored pickle through the whole verdict: both runtimes' loads, every
//! write-back, the five checks and the explanation, for migrations in both directions and at
//! protocol 0 and 2 write-backs, under a small verdict budget. Nothing may panic, overflow the
//! stack, or run past the budget. The stable twin is `verdict_mutation_smoke` in
//! `tests/hostile_checks.rs`.
//!
//! Run: `cargo +nightly fuzz run verdict -- -max_total_time=60` from the crate root.
#![no_main]

use cache_compat::check::{Side, judge};
use cache_compat::envelope::Writer;
use cache_compat::meter;
use cache_compat::runtime::Runtime;
use cache_compat::runtime::load::LoadConfig;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const LIMITS: meter::Limits = meter::Limits {
    ops: 2_000_000,
    bytes: 64 << 20,
};

fn side(rt: &str, writer: &str) -> Side {
    let mut load = LoadConfig::default();
    load.budget.verdict = LIMITS;
    Side {
        runtime: Runtime::parse(rt).expect("runtime"),
        load,
        writer: Writer::parse(writer).expect("writer"),
    }
}

fn pairs() -> &'static [(Side, Side)] {
    static P: OnceLock<Vec<(Side, Side)>> = OnceLock::new();
    P.get_or_init(|| {
        vec![
            (side("2.7", "pickle:0"), side("3.11", "pickle:2")),
            (side("3.11", "pickle:0"), side("2.7", "pickle:2")),
            (side("3.8", "pickle:4"), side("3.14", "pickle:5")),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    for (old, new) in pairs() {
        let c = judge(data, old, new);
        for (_, o) in c.all() {
            let _ = (o.hazard(), o.text());
        }
        let used = meter::last();
        assert!(used.ops <= LIMITS.ops + 4_000_000, "{used:?}");
        assert!(used.bytes <= LIMITS.bytes + (8 << 20), "{used:?}");
    }
});
