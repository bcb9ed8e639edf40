//! Arbitrary bytes through the whole reader: parse, the load model of several runtimes under
//! several load-option sets, the canonical rendering of every loaded value, and `inspect` with its
//! text and JSON forms. Nothing may panic, overflow the stack, or allocate without bound.
//! The same body runs on stable Rust as `mutation_smoke` in `tests/hostile.rs`.
//!
//! Run: `cargo +nightly fuzz run reader -- -max_total_time=60` from the crate root; seed it with
//! the corpus pickles (see fuzz/README.md).
#![no_main]

use cache_compat::inspect;
use cache_compat::pickle::parse;
use cache_compat::runtime::load::{self, LoadConfig, Outcome};
use cache_compat::runtime::{LoadOptions, Runtime, render};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

struct Setup {
    runtimes: Vec<Runtime>,
    configs: Vec<LoadConfig>,
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| Setup {
        runtimes: ["2.7", "2.7-pickle", "3.0", "3.6", "3.8", "3.13", "3.14"]
            .iter()
            .map(|s| Runtime::parse(s).expect("runtime"))
            .collect(),
        configs: [
            "",
            "encoding=bytes",
            "encoding=latin1",
            "encoding=utf-8,errors=surrogateescape",
        ]
        .iter()
        .map(|o| LoadConfig {
            options: LoadOptions::parse(o).expect("options"),
            ..LoadConfig::default()
        })
        .collect(),
    })
}

fuzz_target!(|data: &[u8]| {
    let s = setup();
    // The first byte picks the load options; the whole input is the pickle.
    let cfg = &s.configs[data.first().map_or(0, |b| *b as usize) % s.configs.len()];
    let parsed = parse::parse(data, cfg.budget.max_ops);
    for &rt in &s.runtimes {
        let r = load::load_parsed(data, &parsed, rt, cfg);
        if let Outcome::Loaded { heap, root } = &r.outcome {
            let text = render::render(heap, *root, rt);
            assert!(text.len() <= render::MAX_RENDER + 32);
            let _ = render::has_opaque(heap, *root);
        }
    }
    let report = inspect::inspect(data, &s.runtimes, cfg);
    let _ = report.to_text(data);
    let _ = serde_json::to_string(&report).expect("report serializes");
});
