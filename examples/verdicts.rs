//! Every verdict, as JSON lines, for a fixed set of inputs under a fixed set of side pairs: a
//! before/after check for changes that must not change any output (speed work). Run it with the
//! old and the new build and compare the files byte for byte:
//!
//! ```sh
//! cargo run --release --example verdicts > before.jsonl   # on the old commit
//! cargo run --release --example verdicts > after.jsonl    # on the new one
//! cmp before.jsonl after.jsonl
//! ```
//!
//! Inputs: every pickle of corpora/pickles.jsonl and corpora/inputs/*.jsonl, each also wrapped as
//! Werkzeug (`!` + pickle) writes it, plus the benchmark corpus's records when `--bench DIR` is
//! given (bench/run.sh builds them under target/bench/corpus/). `--full-model`: every verdict by
//! the full models (no fast path; the output must be the same).
use cache_compat::check::Side;
use cache_compat::envelope::Writer;
use cache_compat::runtime::LoadOptions;
use cache_compat::runtime::Runtime;
use cache_compat::runtime::load::LoadConfig;
use cache_compat::scan::verdict;
use cache_compat::source::Sample;
use std::io::{BufRead, Write};

fn hex(h: &str) -> Option<Vec<u8>> {
    (0..h.len() / 2)
        .map(|i| u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

fn jsonl(path: &str, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(f) = std::fs::File::open(path) else {
        return;
    };
    for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if let (Some(id), Some(p)) = (v["id"].as_str(), v["pickle"].as_str().and_then(hex)) {
            out.push((id.to_string(), p));
        }
    }
}

fn records(dir: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    for f in files {
        if f.is_dir() {
            records(&f, out);
            continue;
        }
        if f.extension().is_none_or(|x| x != "rec") {
            continue;
        }
        let data = std::fs::read(&f).unwrap_or_default();
        let mut i = 0;
        while i + 4 <= data.len() {
            let n = u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]) as usize;
            let Some(v) = data.get(i + 4..i + 4 + n) else {
                break;
            };
            out.push((format!("{}:{}", f.display(), out.len()), v.to_vec()));
            i += 4 + n;
        }
    }
}

fn side(rt: &str, writer: &str, load: &str) -> Side {
    Side {
        runtime: Runtime::parse(rt).expect("runtime"),
        load: LoadConfig {
            options: LoadOptions::parse(load).expect("load options"),
            full_model: std::env::args().any(|a| a == "--full-model"),
            ..LoadConfig::default()
        },
        writer: Writer::parse(writer).expect("writer"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut inputs = Vec::new();
    jsonl("corpora/pickles.jsonl", &mut inputs);
    for f in ["hostile_small", "pickletester"] {
        jsonl(&format!("corpora/inputs/{f}.jsonl"), &mut inputs);
    }
    if let Some(d) = args
        .iter()
        .position(|a| a == "--bench")
        .and_then(|i| args.get(i + 1))
    {
        records(std::path::Path::new(d), &mut inputs);
    }
    let pairs = [
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
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for ((ro, wo, lo), (rn, wn, ln)) in pairs {
        let (old, new) = (side(ro, wo, lo), side(rn, wn, ln));
        for (id, p) in &inputs {
            for wrap in [false, true] {
                let mut value = p.clone();
                if wrap {
                    value.insert(0, b'!');
                }
                let s = Sample {
                    key: id.as_bytes().to_vec(),
                    kind: "string".into(),
                    field: None,
                    ttl_ms: None,
                    value,
                    full_len: None,
                };
                let r = verdict::judge(&s, &old, &new);
                let line = serde_json::to_string(&r).unwrap_or_default();
                let _ = writeln!(out, "{ro}/{wo}/{lo} {rn}/{wn}/{ln} {wrap} {line}");
            }
        }
    }
    // Not part of the compared output: how many verdicts the fast path made.
    eprintln!("fast path: {} verdicts", cache_compat::check::fast::taken());
}
