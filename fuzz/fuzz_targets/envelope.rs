//! Arbitrary bytes as a cached value through envelope unwrapping (Werkzeug's `!`, django-redis'
//! zlib/gzip/lzma/lz4/zstd, dogpile's header and CachedValue, kombu's base64 bodies, ASCII ints;
//! decompression bombs) and then the whole verdict, with `--writer auto` and fixed profiles.
//! Nothing may panic or run past the verdict budget. The stable twin is `verdict_mutation_smoke`
//! in `tests/hostile_checks.rs`.
//!
//! Run: `cargo +nightly fuzz run envelope -- -max_total_time=60` from the crate root.
#![no_main]

use cache_compat::check::Side;
use cache_compat::envelope::Writer;
use cache_compat::meter;
use cache_compat::runtime::Runtime;
use cache_compat::runtime::load::LoadConfig;
use cache_compat::source::Sample;
use cache_compat::scan::verdict;
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
            (side("2.7", "auto"), side("3.11", "auto")),
            (side("3.6", "django-redis"), side("3.13", "django-redis")),
            (side("2.7", "dogpile"), side("3.8", "kombu")),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let sample = Sample {
        key: b"fuzz:key".to_vec(),
        kind: "string".into(),
        field: None,
        ttl_ms: None,
        value: data.to_vec(),
        full_len: None,
    };
    for (old, new) in pairs() {
        let r = verdict::judge(&sample, old, new);
        let _ = serde_json::to_string(&r).expect("json");
        let used = meter::last();
        assert!(used.ops <= LIMITS.ops + 4_000_000, "{used:?}");
        assert!(used.bytes <= LIMITS.bytes + (8 << 20), "{used:?}");
    }
});
