//! Decode and verdict throughput on the benchmark corpus, single thread (issue 6).
//!
//! Not a test and not part of `cargo test`: `bench/run.sh` builds the corpus with the real
//! interpreters (`bench/make_corpus.py`) and runs this as
//!
//! ```sh
//! cargo bench --bench decode -- --corpus target/bench/corpus/mixed [--large target/bench/corpus/large]
//!     [--reps 3] [--only parse,load-2.7,load-3.8,verdict,verdict-full,serde-pickle] [--max-values N]
//! ```
//!
//! It prints one JSON object: for each measure, the median CPU seconds of the thread over the
//! repetitions (the machine is shared; wall seconds are reported beside them), the
//! bytes and values it went through, MB/s (10^6 bytes), and how many values failed (for
//! serde-pickle, with `replace_unresolved_globals` so that datetimes and app classes do not count
//! against it: returned an error; for our models: `fails`/`unknown` are verdicts, not failures,
//! so nothing is counted).
//! The records are `[u32 LE length][pickle]`, as `bench/make_corpus.py` writes them.

use cache_compat::check::{self, Side};
use cache_compat::envelope::Writer;
use cache_compat::pickle::parse;
use cache_compat::runtime::Runtime;
use cache_compat::runtime::load::{self, LoadConfig};
use cache_compat::scan::verdict;
use cache_compat::source::Sample;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

fn read_records(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rec"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let data = std::fs::read(&f).unwrap_or_else(|e| panic!("reading {}: {e}", f.display()));
        let tag = f
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let mut i = 0;
        while i + 4 <= data.len() {
            let n = u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]) as usize;
            out.push((
                format!("{tag}:{}", out.len()),
                data[i + 4..i + 4 + n].to_vec(),
            ));
            i += 4 + n;
        }
    }
    out
}

fn side(rt: &str) -> Side {
    Side {
        runtime: Runtime::parse(rt).expect("runtime"),
        load: LoadConfig::default(),
        writer: Writer::parse("pickle").expect("writer"),
    }
}

struct Measure {
    name: &'static str,
    /// CPU seconds of this thread (the machine is shared: CPU time is what the code costs).
    secs: Vec<f64>,
    /// Wall-clock seconds.
    wall: Vec<f64>,
    failures: usize,
}

/// CPU time of the calling thread in seconds (`/proc/thread-self/schedstat`, in ns), so that
/// other processes on a shared machine do not count; `None` where the kernel does not say.
fn cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

/// Times one pass of `f`: (CPU seconds, or wall seconds where CPU time is not available; wall
/// seconds). Fast passes are repeated until 0.2 s have gone by (the kernel's CPU time is only as
/// fine as its scheduler ticks), and the time of one pass is returned.
fn timed(mut f: impl FnMut()) -> (f64, f64) {
    let c = cpu_secs();
    let t = Instant::now();
    let mut passes = 0u32;
    while passes == 0 || t.elapsed().as_secs_f64() < 0.2 {
        f();
        passes += 1;
    }
    let wall = t.elapsed().as_secs_f64() / passes as f64;
    match (c, cpu_secs()) {
        (Some(a), Some(b)) => ((b - a) / passes as f64, wall),
        _ => (wall, wall),
    }
}

fn run(values: &[Sample], only: &Option<Vec<String>>, reps: usize) -> Vec<Measure> {
    let old = side("2.7");
    let new = side("3.8");
    let cfg = LoadConfig::default();
    let rt27 = Runtime::parse("2.7").expect("2.7");
    let rt38 = Runtime::parse("3.8").expect("3.8");
    type F<'a> = Box<dyn Fn(&[u8]) -> bool + 'a>;
    let all: Vec<(&'static str, F)> = vec![
        (
            "parse",
            Box::new(|b: &[u8]| black_box(parse::parse(b, cfg.budget.max_ops)).end.is_ok()),
        ),
        (
            "load-2.7",
            Box::new(|b: &[u8]| {
                black_box(load::load(b, rt27, &cfg));
                true
            }),
        ),
        (
            "load-3.8",
            Box::new(|b: &[u8]| {
                black_box(load::load(b, rt38, &cfg));
                true
            }),
        ),
        (
            "check",
            Box::new(|b: &[u8]| {
                black_box(check::judge(b, &old, &new));
                true
            }),
        ),
        (
            "serde-pickle",
            Box::new(|b: &[u8]| {
                black_box(serde_pickle::value_from_slice(
                    b,
                    serde_pickle::DeOptions::new().replace_unresolved_globals(),
                ))
                .is_ok()
            }),
        ),
    ];
    let mut out = Vec::new();
    for (name, f) in &all {
        if only.as_ref().is_some_and(|o| !o.iter().any(|x| x == name)) {
            continue;
        }
        let mut m = Measure {
            name,
            secs: Vec::new(),
            wall: Vec::new(),
            failures: 0,
        };
        for _ in 0..reps {
            let mut failures = 0;
            let (cpu, wall) = timed(|| {
                failures = 0;
                for s in values {
                    if !f(&s.value) {
                        failures += 1;
                    }
                }
            });
            m.secs.push(cpu);
            m.wall.push(wall);
            m.failures = failures;
        }
        out.push(m);
    }
    // The whole per-value verdict as `scan` runs it: envelope, parse, the five checks; and the
    // same with the full models on every value (`scan --full-model`: no fast path).
    let full = |s: &Side| {
        let mut s = s.clone();
        s.load.full_model = true;
        s
    };
    let (old_full, new_full) = (full(&old), full(&new));
    for (name, old, new) in [
        ("verdict", &old, &new),
        ("verdict-full", &old_full, &new_full),
    ] {
        if !only.as_ref().is_none_or(|o| o.iter().any(|x| x == name)) {
            continue;
        }
        let mut m = Measure {
            name,
            secs: Vec::new(),
            wall: Vec::new(),
            failures: 0,
        };
        let before = cache_compat::check::fast::taken();
        for rep in 0..reps {
            let (cpu, wall) = timed(|| {
                for s in values {
                    black_box(verdict::judge(s, old, new));
                }
            });
            if rep == 0 {
                eprintln!(
                    "{name}: the fast path judged {} of {} values",
                    cache_compat::check::fast::taken() - before,
                    values.len()
                );
            }
            m.secs.push(cpu);
            m.wall.push(wall);
        }
        out.push(m);
    }
    out
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) / 2]
}

fn report(label: &str, values: &[Sample], ms: &[Measure]) -> serde_json::Value {
    let bytes: usize = values.iter().map(|s| s.value.len()).sum();
    let mut obj = serde_json::Map::new();
    for m in ms {
        let secs = median(&m.secs);
        eprintln!(
            "{label:6} {:14} {:9.1} MB/s  ({} values, {:.1} MB, median {:.3} CPU s of {:?}, wall {:?}, {} failed)",
            m.name,
            bytes as f64 / 1e6 / secs,
            values.len(),
            bytes as f64 / 1e6,
            secs,
            m.secs
                .iter()
                .map(|s| (s * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>(),
            m.wall
                .iter()
                .map(|s| (s * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>(),
            m.failures
        );
        obj.insert(
            m.name.to_string(),
            serde_json::json!({
                "secs": secs, "all_secs": m.secs, "wall_secs": m.wall, "bytes": bytes, "values": values.len(),
                "mb_per_s": bytes as f64 / 1e6 / secs, "failures": m.failures,
            }),
        );
    }
    serde_json::Value::Object(obj)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut corpus, mut large, mut reps, mut only, mut max_values) =
        (None, None, 3usize, None, usize::MAX);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--corpus" => corpus = args.next(),
            "--large" => large = args.next(),
            "--reps" => reps = args.next().and_then(|x| x.parse().ok()).unwrap_or(3),
            "--only" => {
                only = args
                    .next()
                    .map(|x| x.split(',').map(str::to_string).collect::<Vec<_>>())
            }
            "--max-values" => {
                max_values = args
                    .next()
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(usize::MAX)
            }
            // `cargo bench` passes --bench; `cargo test --all-targets -- ARGS` passes the
            // test harness's arguments: neither is ours.
            other => eprintln!("decode: ignoring argument {other}"),
        }
    }
    let samples = |dir: &str| -> Vec<Sample> {
        read_records(Path::new(dir))
            .into_iter()
            .take(max_values)
            .map(|(k, v)| Sample {
                key: k.into_bytes(),
                kind: "string".into(),
                field: None,
                ttl_ms: None,
                value: v,
                full_len: None,
            })
            .collect()
    };
    if corpus.is_none() && large.is_none() {
        eprintln!("decode: no --corpus/--large given, nothing measured (bench/run.sh builds them)");
    }
    let mut out = serde_json::Map::new();
    if let Some(dir) = corpus {
        let v = samples(&dir);
        let ms = run(&v, &only, reps);
        out.insert("mixed".into(), report("mixed", &v, &ms));
    }
    if let Some(dir) = large {
        let v = samples(&dir);
        let ms = run(&v, &only, reps);
        out.insert("large".into(), report("large", &v, &ms));
    }
    println!("{}", serde_json::Value::Object(out));
}
