//! `dump` against the real picklers: every corpus value a real reader loaded (default options) was
//! re-pickled by that interpreter at each protocol it supports (corpora/outcomes/*.jsonl,
//! `dumps`). The model loads the same bytes, dumps its own value, and must write the same bytes.
//! Oracle: the bytes the real interpreters wrote (3.14: Pyodide, CPython 3.14 in WebAssembly;
//! 3.15: CPython 3.15.2, Debian's build).
//!
//! py2 dicts and sets are compared byte for byte: 2.7 iterates them in its table order, which
//! the model follows (`runtime::py2hash`: 2.7's hashes with randomization off, as without `-R`).
//! Where 3.x's bytes depend on hash order (sets with several items: py3's str hash is seeded per
//! process), bytes cannot be predicted; those are compared by what they load back as instead
//! (both loaded by the model, whose loads the corpus test holds against the interpreters).

mod common;

use cache_compat::runtime::dump::{DumpError, dump};
use cache_compat::runtime::load::{self, AppClasses, LoadConfig, Outcome};
use cache_compat::runtime::value::{Heap, Id, Node};
use cache_compat::runtime::{Runtime, render};
use std::collections::BTreeMap;
use std::fmt::Write;

/// A py3 value with a set of several items somewhere (its order follows the seeded str hash).
fn hash_ordered(heap: &Heap, root: Id) -> bool {
    let mut seen = vec![false; heap.len()];
    let mut todo = vec![root];
    while let Some(id) = todo.pop() {
        if std::mem::replace(&mut seen[id], true) {
            continue;
        }
        match heap.get(id) {
            Node::Set(v) | Node::FrozenSet(v) if v.len() > 1 => return true,
            _ => {}
        }
        todo.extend(heap.children(id));
    }
    false
}

#[derive(Default)]
struct Tally {
    exact: usize,
    same_value: usize,
    unmodelled: usize,
    /// Not-modelled dumps by reason.
    reasons: BTreeMap<String, usize>,
    /// 3.14 (Pyodide) only: differences the platform alone explains.
    platform: usize,
    /// Values the real reader loaded (with dumps recorded) that the model did not load: their
    /// dumps cannot be compared at all.
    not_loaded: usize,
    mismatch: Vec<String>,
}

/// Dumps per reader answered right (byte-exact, or for hash-ordered values the same value
/// loaded back), as counted on 2026-12-03. "0 mismatches" alone would pass a model that
/// answers "not modelled" to every dump; this floor fails it. One floor for both kinds, so that
/// a dump moving from "same value" to "byte-exact" (py2 dict order) keeps it. Raise a floor when
/// the model writes more; lower one only with the reason in the commit message. The rest are
/// the not-modelled dumps listed by reason in target/dump-mismatches.txt (application objects
/// written back from opaque parts, arrays, ...) and, for 3.14, the Pyodide platform differences.
const FLOORS: [(&str, usize); 11] = [
    ("2.7", 14871 + 522),
    ("3.6", 41652 + 60),
    ("3.7", 41652 + 60),
    ("3.8", 56626 + 72),
    ("3.9", 56986 + 72),
    ("3.10", 56986 + 72),
    ("3.11", 56674 + 384),
    ("3.12", 56674 + 384),
    ("3.13", 56950 + 108),
    ("3.14", 56608 + 348),
    ("3.15", 56932 + 108),
];

#[test]
fn dumps_reproduce_the_real_picklers() {
    let pickles = common::pickles();
    let mut apps = AppClasses::only(["appmod".to_string()]);
    apps.py2_classic.insert("appmod.Old".into());
    apps.py2_classic.insert("appmod.OldInit".into());
    let cfg = LoadConfig {
        apps,
        ..LoadConfig::default()
    };
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    for reader in [
        "2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15",
    ] {
        let rt = Runtime::parse(reader).expect("runtime");
        let t = tallies.entry(reader.to_string()).or_default();
        for o in
            common::read_jsonl(&common::root().join(format!("corpora/outcomes/{reader}.jsonl")))
        {
            if o["opts"] != "default" || o["ok"] != true {
                continue;
            }
            let Some(dumps) = o["dumps"].as_object() else {
                continue;
            };
            let id = o["id"].as_str().expect("id");
            let data = &pickles[id];
            let Outcome::Loaded { heap, root } = load::load(data, rt, &cfg).outcome else {
                t.not_loaded += 1;
                continue;
            };
            // Values with parts the models could not evaluate are dumped too: an application
            // object is written back as the stream built it (REDUCE/NEWOBJ + BUILD); anything
            // else the dump cannot write is counted as not modelled.
            let unordered = !rt.is_py2() && hash_ordered(&heap, root);
            for (proto, real) in dumps {
                let p: u8 = proto.parse().expect("protocol");
                let Some(real_hex) = real.as_str() else {
                    // The real pickler raised: the model must raise the same exception.
                    let real_err = real["error"].as_str().unwrap_or("");
                    match dump(&heap, root, rt, p) {
                        Err(DumpError::Py(e)) if e.to_string() == real_err => t.exact += 1,
                        Err(DumpError::Py(e)) => t.mismatch.push(format!(
                            "{reader} p{p} {id}: real raised {real_err}, ours raised {e}"
                        )),
                        Err(DumpError::Unmodelled(why)) => {
                            t.unmodelled += 1;
                            *t.reasons.entry(why).or_default() += 1;
                        }
                        Ok(_) => t.mismatch.push(format!(
                            "{reader} p{p} {id}: real raised {real}, ours wrote bytes"
                        )),
                    }
                    continue;
                };
                let real_bytes = common::unhex(real_hex);
                match dump(&heap, root, rt, p) {
                    Ok(ours) if ours == real_bytes => t.exact += 1,
                    Ok(ours) if unordered => {
                        let back = |b: &[u8]| match load::load(b, rt, &cfg).outcome {
                            Outcome::Loaded { heap, root } => render::render(&heap, root, rt),
                            other => format!("{other:?}"),
                        };
                        if back(&ours) == back(&real_bytes) {
                            t.same_value += 1;
                        } else {
                            t.mismatch.push(format!(
                                "{reader} p{p} {id} (hash-ordered): loads back differently"
                            ));
                        }
                    }
                    Ok(ours) if reader == "3.14" => {
                        // Pyodide: a difference the platform alone explains (see
                        // common::pyodide_platform_difference) is told apart by what both load
                        // back as.
                        let back = |b: &[u8]| match load::load(b, rt, &cfg).outcome {
                            Outcome::Loaded { heap, root } => render::render(&heap, root, rt),
                            other => format!("{other:?}"),
                        };
                        if common::pyodide_platform_difference(&back(&real_bytes), &back(&ours))
                            .is_some()
                        {
                            t.platform += 1;
                        } else {
                            t.mismatch.push(format!(
                                "{reader} p{p} {id}\n    real: {}\n    ours: {}",
                                escape(&real_bytes),
                                escape(&ours)
                            ));
                        }
                    }
                    Ok(ours) => t.mismatch.push(format!(
                        "{reader} p{p} {id}\n    real: {}\n    ours: {}",
                        escape(&real_bytes),
                        escape(&ours)
                    )),
                    Err(DumpError::Unmodelled(why)) => {
                        t.unmodelled += 1;
                        *t.reasons.entry(why).or_default() += 1;
                    }
                    Err(DumpError::Py(e)) => t
                        .mismatch
                        .push(format!("{reader} p{p} {id}: ours raised {e}")),
                }
            }
        }
    }
    let mut report = String::new();
    let mut details = String::new();
    let mut total = 0;
    for (r, t) in &tallies {
        total += t.mismatch.len();
        let _ = writeln!(
            report,
            "{r:<5} byte-exact {:>6}  hash-ordered, same value {:>4}  not modelled {:>4}  platform {:>3}  not loaded {:>3}  mismatch {:>4}",
            t.exact,
            t.same_value,
            t.unmodelled,
            t.platform,
            t.not_loaded,
            t.mismatch.len()
        );
        let mut reasons: Vec<_> = t.reasons.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (why, n) in reasons.iter().take(if r == "2.7" { 40 } else { 8 }) {
            let _ = writeln!(report, "      not modelled {n:>5}  {why}");
        }
        for m in &t.mismatch {
            let _ = writeln!(details, "{m}");
        }
    }
    let out = common::root().join("target/dump-mismatches.txt");
    let _ = std::fs::write(&out, format!("{report}\n{details}"));
    println!("{report}");
    assert_eq!(
        total,
        0,
        "{total} dumps differ from the real picklers (all in {}):\n{}",
        out.display(),
        details.lines().take(40).collect::<Vec<_>>().join("\n")
    );
    let mut short = Vec::new();
    for (r, floor) in FLOORS {
        let t = &tallies[r];
        let answered = t.exact + t.same_value;
        if answered < floor || t.not_loaded > 0 {
            short.push(format!(
                "{r}: answered {answered} (byte-exact {}, same value {}; floor {floor}), not loaded {} (ceiling 0)",
                t.exact, t.same_value, t.not_loaded
            ));
        } else if answered > floor {
            println!("{r}: {answered} dumps answered > floor {floor}: raise FLOORS");
        }
    }
    assert!(
        short.is_empty(),
        "the model writes fewer dumps than it did (all in {}):\n{}",
        out.display(),
        short.join("\n")
    );
}

fn escape(b: &[u8]) -> String {
    let mut s = String::new();
    render::bytes(&mut s, &b[..b.len().min(400)]);
    s
}
