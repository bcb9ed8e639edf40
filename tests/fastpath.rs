//! The verdict's fast path (`check::fast`) against the full models, its oracle: every verdict line
//! (`scan::verdict::judge`, serialized as the report receives it) byte-identical with and without
//! `full_model`, over every pickle of the corpora (corpora/pickles.jsonl, corpora/inputs/*.jsonl,
//! corpora/malicious/samples.jsonl), seeded mutations of them, and seeded random values written by
//! the real 2.7 and 3.11 at each of their protocols (tests/fastpath/gen.py), under six side pairs,
//! raw and behind Werkzeug's `!`. It also asserts how many verdicts took the fast path (a floor),
//! so a fast path that never fires fails.

mod common;

use cache_compat::check::{Side, fast};
use cache_compat::envelope::Writer;
use cache_compat::runtime::load::LoadConfig;
use cache_compat::runtime::{LoadOptions, Runtime};
use cache_compat::sample::Sample;
use cache_compat::scan::verdict;

fn side(rt: &str, writer: &str, load: &str, full: bool) -> Side {
    Side {
        runtime: Runtime::parse(rt).expect("runtime"),
        load: LoadConfig {
            options: LoadOptions::parse(load).expect("options"),
            full_model: full,
            ..LoadConfig::default()
        },
        writer: Writer::parse(writer).expect("writer"),
    }
}

/// A side: runtime, writer profile, load options.
type S = (&'static str, &'static str, &'static str);

const PAIRS: [(S, S); 6] = [
    (("2.7", "pickle", ""), ("3.8", "pickle", "")),
    (
        ("2.7", "werkzeug", ""),
        ("3.8", "werkzeug", "encoding=latin1"),
    ),
    (("2.7", "pickle", ""), ("3.13", "pickle", "encoding=bytes")),
    (("3.6", "pickle", ""), ("3.12", "pickle", "")),
    (("3.7", "auto", ""), ("3.14", "auto", "")),
    (("3.13", "pickle", ""), ("2.7", "pickle", "")),
];

/// (verdicts compared, verdicts the fast path made); panics on the first difference.
fn differential(inputs: &[Vec<u8>]) -> (usize, u64) {
    let mut compared = 0;
    let before = fast::taken();
    for ((ro, wo, lo), (rn, wn, ln)) in PAIRS {
        let fast_sides = (side(ro, wo, lo, false), side(rn, wn, ln, false));
        let full_sides = (side(ro, wo, lo, true), side(rn, wn, ln, true));
        for p in inputs {
            for wrap in [false, true] {
                let mut value = p.clone();
                if wrap {
                    value.insert(0, b'!');
                }
                let s = Sample {
                    key: b"k".to_vec(),
                    kind: "string".into(),
                    value,
                    ..Sample::default()
                };
                let full = verdict::judge(&s, &full_sides.0, &full_sides.1);
                let taken = fast::taken();
                let quick = verdict::judge(&s, &fast_sides.0, &fast_sides.1);
                let full = serde_json::to_string(&full).expect("json");
                let quick = serde_json::to_string(&quick).expect("json");
                assert_eq!(
                    full,
                    quick,
                    "{ro}/{wo}/{lo} -> {rn}/{wn}/{ln}, wrapped {wrap}, fast path {}, pickle {}",
                    fast::taken() > taken,
                    common::hex(p)
                );
                compared += 1;
            }
        }
    }
    (compared, fast::taken() - before)
}

fn corpus_pickles() -> Vec<Vec<u8>> {
    let root = common::root();
    let mut out = Vec::new();
    for f in [
        "corpora/pickles.jsonl",
        "corpora/inputs/hostile_small.jsonl",
        "corpora/inputs/pickletester.jsonl",
        "corpora/malicious/samples.jsonl",
    ] {
        for v in common::read_jsonl(&root.join(f)) {
            if let Some(h) = v["pickle"].as_str() {
                out.push(common::unhex(h));
            }
        }
    }
    out
}

#[test]
fn the_fast_path_gives_the_full_models_verdicts_on_the_corpora() {
    let inputs = corpus_pickles();
    assert!(inputs.len() > 3000, "{} corpus pickles", inputs.len());
    let (compared, taken) = differential(&inputs);
    eprintln!("corpora: {compared} verdicts compared, {taken} on the fast path");
    assert_eq!(compared, inputs.len() * PAIRS.len() * 2);
    // Floor: about a fifth of these take it (measured 2026-12-03).
    assert!(
        taken * 8 >= compared as u64,
        "{taken} of {compared} on the fast path"
    );
}

#[test]
fn the_fast_path_gives_the_full_models_verdicts_on_mutations() {
    let base = corpus_pickles();
    let mut rng = common::mutate::Rng(0x5eed_fa57);
    let opcodes: Vec<u8> = cache_compat::pickle::ops::OPCODES
        .iter()
        .map(|o| o.code)
        .collect();
    let inputs: Vec<Vec<u8>> = (0..3000)
        .map(|i| common::mutate::mutate(&mut rng, &base[i * 7 % base.len()], &opcodes))
        .collect();
    let (compared, taken) = differential(&inputs);
    eprintln!("mutations: {compared} verdicts compared, {taken} on the fast path");
    assert_eq!(compared, inputs.len() * PAIRS.len() * 2);
    // Floor: 604 of 36,000 took it when written (most mutations break the pickle).
    assert!(taken >= 300, "{taken} of {compared} on the fast path");
}

#[test]
fn the_fast_path_gives_the_full_models_verdicts_on_generated_values() {
    let script = common::root().join("tests/fastpath/gen.py");
    let mut inputs = Vec::new();
    for (version, seed) in [("2.7", "1"), ("3.11", "2")] {
        let o = std::process::Command::new(common::interpreter(version))
            .arg(&script)
            .args([seed, "400"])
            .output()
            .expect("python");
        assert!(
            o.status.success(),
            "{version}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let text = String::from_utf8(o.stdout).expect("hex");
        inputs.extend(text.lines().map(common::unhex));
    }
    // 2.7: 400 values at protocols 0-2, 3.11: 400 at 0-5.
    assert_eq!(inputs.len(), 400 * 3 + 400 * 6);
    let (compared, taken) = differential(&inputs);
    eprintln!("generated: {compared} verdicts compared, {taken} on the fast path");
    assert_eq!(compared, inputs.len() * PAIRS.len() * 2);
    assert!(
        taken * 4 >= compared as u64,
        "{taken} of {compared} on the fast path"
    );
}
