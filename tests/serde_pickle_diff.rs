//! Differential test against an independent second decoder: serde-pickle 1.2.0 (a Rust pickle
//! decoder written without reference to this crate; the oracle here). For every corpus pickle
//! (corpora/pickles.jsonl) that both decode, its value must equal the value our model predicts for
//! the runtime whose string semantics match the serde-pickle options:
//!
//! | our runtime and load options | serde-pickle `DeOptions`          | py2 `str` becomes |
//! | ---------------------------- | --------------------------------- | ----------------- |
//! | 2.7 (cPickle)                | `new()`                           | bytes             |
//! | 3.13, `encoding=bytes`       | `new()`                           | bytes             |
//! | 3.13, default (ASCII)        | `new().decode_strings()`          | text              |
//! | 3.13, `encoding=utf-8`       | `new().decode_strings()`          | text              |
//!
//! The comparison is defined on the subset both represent: None, bool, int (any size; py2 `int` and
//! `long` alike, as serde-pickle does not tell them apart), float (by bits), bytes, text, list,
//! tuple, dict, set, frozenset. A value holding anything else (instances, bytearray, datetime, ...)
//! is skipped and counted; serde-pickle turns several of those into look-alikes (an instance into
//! `{}`, a bytearray into bytes), which is not a disagreement.
//!
//! serde-pickle is fed only vetted bytes (robustness.md: it overflows its stack on deep nesting and
//! expands shared references, so a memo bomb makes it allocate gigabytes): a pickle goes to it only
//! if our parser reads it to STOP within 1 MiB and 100,000 opcodes, and our model loads it (for some
//! runtime and options) as a graph whose depth is at most 500 and whose expansion, counting shared
//! references by multiplicity, is at most 200,000 nodes.
//!
//! A disagreement is arbitrated by the real interpreter: corpora/outcomes/<runtime>.jsonl records
//! what the real reader rendered for that pickle and option set. Where it rendered exactly what our
//! model predicts, the disagreement is serde-pickle's own deviation from CPython (it reads `I010` as
//! 10 where CPython's `strtol(.., 0)` reads octal 8, `I-0`/`I+1` as ints where CPython returns
//! bools, an instance as `{}`, an unquoted-at-the-end STRING verbatim, ...): listed and counted, not
//! a failure. Any other disagreement fails the test.

mod common;

use cache_compat::pickle::parse;
use cache_compat::runtime::load::{self, LoadConfig, Outcome};
use cache_compat::runtime::value::{Heap, Id, Node};
use cache_compat::runtime::{LoadOptions, Runtime, render};
use num_bigint::BigInt;
use serde_pickle::{DeOptions, HashableValue, Value};
use std::collections::BTreeMap;

/// A value on the common subset, comparable across the two decoders. Dict entries and set items
/// are kept sorted (by this type's order), so equality does not depend on iteration order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum C {
    None,
    Bool(bool),
    Int(BigInt),
    /// IEEE bits.
    Float(u64),
    Bytes(Vec<u8>),
    /// UTF-8 (ours may hold surrogates in generalized UTF-8; serde-pickle never decodes those).
    Text(Vec<u8>),
    List(Vec<C>),
    Tuple(Vec<C>),
    Dict(Vec<(C, C)>),
    Set(Vec<C>),
    FrozenSet(Vec<C>),
}

/// Why a value was not compared.
#[derive(Debug)]
struct Skip(String);

const MAX_DEPTH: usize = 500;
const MAX_EXPANDED: usize = 200_000;

// ------------------------------------------------------------------------------------------------
// Our model's value, on the subset.

/// Depth and expanded size of the graph under `root` (shared references counted by multiplicity,
/// each cycle cut where it closes); `None` past the limits. Iterative.
fn vet_graph(heap: &Heap, root: Id) -> Option<(usize, usize)> {
    let mut on_path = vec![false; heap.len()];
    // (node, depth, entered)
    let mut todo = vec![(root, 1usize, false)];
    let (mut max_depth, mut expanded) = (0usize, 0usize);
    while let Some((id, depth, entered)) = todo.pop() {
        if entered {
            on_path[id] = false;
            continue;
        }
        if on_path[id] {
            continue;
        }
        expanded += 1;
        max_depth = max_depth.max(depth);
        if expanded > MAX_EXPANDED || max_depth > MAX_DEPTH {
            return None;
        }
        on_path[id] = true;
        todo.push((id, depth, true));
        for c in heap.children(id) {
            todo.push((c, depth + 1, false));
        }
    }
    Some((max_depth, expanded))
}

/// Our value as `C` (recursion is bounded: vetted graphs are at most MAX_DEPTH deep).
fn ours(heap: &Heap, id: Id, path: &mut Vec<Id>) -> Result<C, Skip> {
    if path.contains(&id) {
        return Err(Skip("recursive structure".into()));
    }
    path.push(id);
    let items = |v: &[Id], path: &mut Vec<Id>| -> Result<Vec<C>, Skip> {
        v.iter().map(|&i| ours(heap, i, path)).collect()
    };
    let r = match heap.get(id) {
        Node::None => C::None,
        Node::Bool(b) => C::Bool(*b),
        Node::Int(v) | Node::Long(v) => C::Int(v.clone()),
        Node::Float(f) => C::Float(f.to_bits()),
        Node::Bytes(b) => C::Bytes(b.clone()),
        Node::Text(t) => C::Text(t.clone()),
        Node::List(v) => C::List(items(v, path)?),
        Node::Tuple(v) => C::Tuple(items(v, path)?),
        Node::Set(v) => C::Set(sorted(items(v, path)?)),
        Node::FrozenSet(v) => C::FrozenSet(sorted(items(v, path)?)),
        Node::Dict(kv) => {
            let mut out = Vec::with_capacity(kv.len());
            for &(k, v) in kv {
                out.push((ours(heap, k, path)?, ours(heap, v, path)?));
            }
            out.sort();
            C::Dict(out)
        }
        other => return Err(Skip(kind_of(other).into())),
    };
    path.pop();
    Ok(r)
}

fn kind_of(n: &Node) -> &'static str {
    match n {
        Node::Complex(..) => "complex",
        Node::ByteArray(_) => "bytearray",
        Node::OrderedDict(_) => "OrderedDict",
        Node::DefaultDict { .. } => "defaultdict",
        Node::Deque { .. } => "deque",
        Node::Datetime { .. }
        | Node::Date(_)
        | Node::Time { .. }
        | Node::Timedelta(_)
        | Node::Timezone { .. } => "datetime",
        Node::Decimal(_) => "Decimal",
        Node::Range(_) => "range",
        Node::Global(_) => "global",
        Node::Exception { .. } => "exception",
        Node::Instance { .. } => "instance",
        Node::Opaque { .. } => "opaque",
        Node::MemoryView(_) => "memoryview",
        _ => "other",
    }
}

fn sorted(mut v: Vec<C>) -> Vec<C> {
    v.sort();
    v
}

// ------------------------------------------------------------------------------------------------
// serde-pickle's value, on the subset.

fn big(s: impl ToString) -> BigInt {
    s.to_string().parse().expect("decimal integer")
}

fn theirs(v: &Value) -> C {
    match v {
        Value::None => C::None,
        Value::Bool(b) => C::Bool(*b),
        Value::I64(i) => C::Int(BigInt::from(*i)),
        Value::Int(i) => C::Int(big(i)),
        Value::F64(f) => C::Float(f.to_bits()),
        Value::Bytes(b) => C::Bytes(b.clone()),
        Value::String(s) => C::Text(s.as_bytes().to_vec()),
        Value::List(v) => C::List(v.iter().map(theirs).collect()),
        Value::Tuple(v) => C::Tuple(v.iter().map(theirs).collect()),
        Value::Set(s) => C::Set(sorted(s.iter().map(theirs_h).collect())),
        Value::FrozenSet(s) => C::FrozenSet(sorted(s.iter().map(theirs_h).collect())),
        Value::Dict(m) => {
            let mut out: Vec<(C, C)> = m.iter().map(|(k, v)| (theirs_h(k), theirs(v))).collect();
            out.sort();
            C::Dict(out)
        }
    }
}

fn theirs_h(v: &HashableValue) -> C {
    match v {
        HashableValue::None => C::None,
        HashableValue::Bool(b) => C::Bool(*b),
        HashableValue::I64(i) => C::Int(BigInt::from(*i)),
        HashableValue::Int(i) => C::Int(big(i)),
        HashableValue::F64(f) => C::Float(f.to_bits()),
        HashableValue::Bytes(b) => C::Bytes(b.clone()),
        HashableValue::String(s) => C::Text(s.as_bytes().to_vec()),
        HashableValue::Tuple(v) => C::Tuple(v.iter().map(theirs_h).collect()),
        HashableValue::FrozenSet(s) => C::FrozenSet(sorted(s.iter().map(theirs_h).collect())),
    }
}

// ------------------------------------------------------------------------------------------------

struct Pairing {
    name: &'static str,
    runtime: Runtime,
    options: &'static str,
    decode_strings: bool,
    /// The recorded real reader and option-set name (corpora/README.md) of `runtime`/`options`.
    reader: &'static str,
    optset: &'static str,
}

/// What a real reader did: `(ok, render or error)` by `(id, option set)`.
fn real_outcomes(reader: &str) -> std::collections::HashMap<(String, String), (bool, String)> {
    common::read_jsonl(&common::root().join(format!("corpora/outcomes/{reader}.jsonl")))
        .into_iter()
        .map(|o| {
            let ok = o["ok"].as_bool().unwrap_or(false);
            let text = if ok { &o["render"] } else { &o["error"] };
            (
                (
                    o["id"].as_str().unwrap_or("").to_string(),
                    o["opts"].as_str().unwrap_or("").to_string(),
                ),
                (ok, text.as_str().unwrap_or("").to_string()),
            )
        })
        .collect()
}

#[derive(Default, Debug)]
struct Figures {
    fed: usize,
    both: usize,
    agreed: usize,
    skipped: usize,
    serde_only: usize,
    ours_only: usize,
    neither: usize,
    skip_reasons: BTreeMap<String, usize>,
    /// Disagreements where the real interpreter rendered exactly our prediction.
    serde_deviations: Vec<String>,
    disagreed: Vec<String>,
    /// serde-pickle decodes, we predict an exception: does the real reader raise too?
    serde_only_real_raises: usize,
    serde_only_real_loads: usize,
}

fn cfg(options: &str) -> LoadConfig {
    LoadConfig {
        options: LoadOptions::parse(options).expect("options"),
        ..LoadConfig::default()
    }
}

/// Whether serde-pickle may see these bytes: our parser reads them to STOP within the limits and
/// our model loads them (under one of the vetting configurations) as a small, shallow graph.
/// `Err` says why not.
fn vetted(data: &[u8]) -> Result<(), &'static str> {
    if data.len() > 1 << 20 {
        return Err("over 1 MiB");
    }
    let p = parse::parse(data, 100_000);
    if p.end.is_err() {
        return Err("no STOP within 100,000 opcodes");
    }
    let vetting = [
        (Runtime::new(2, 7), cfg("")),
        (Runtime::new(3, 13), cfg("encoding=latin1")),
        (Runtime::new(3, 13), cfg("encoding=bytes")),
    ];
    let mut any = false;
    for (rt, c) in &vetting {
        if let Outcome::Loaded { heap, root } = load::load_parsed(data, &p, *rt, c).outcome {
            if vet_graph(&heap, root).is_none() {
                return Err("deeper than 500 or over 200,000 nodes expanded");
            }
            any = true;
        }
    }
    if any {
        Ok(())
    } else {
        Err("our model loads it nowhere")
    }
}

#[test]
fn serde_pickle_agrees_on_the_common_subset() {
    let mut pickles: Vec<(String, Vec<u8>)> = common::pickles().into_iter().collect();
    pickles.sort();
    let pairings = [
        Pairing {
            name: "2.7 / DeOptions::new()",
            runtime: Runtime::new(2, 7),
            options: "",
            decode_strings: false,
            reader: "2.7",
            optset: "default",
        },
        Pairing {
            name: "3.13 encoding=bytes / DeOptions::new()",
            runtime: Runtime::new(3, 13),
            options: "encoding=bytes",
            decode_strings: false,
            reader: "3.13",
            optset: "bytes",
        },
        Pairing {
            name: "3.13 default / decode_strings()",
            runtime: Runtime::new(3, 13),
            options: "",
            decode_strings: true,
            reader: "3.13",
            optset: "default",
        },
        Pairing {
            name: "3.13 encoding=utf-8 / decode_strings()",
            runtime: Runtime::new(3, 13),
            options: "encoding=utf-8",
            decode_strings: true,
            reader: "3.13",
            optset: "utf8",
        },
    ];
    let mut unvetted: BTreeMap<&str, usize> = BTreeMap::new();
    let vetted_set: Vec<bool> = pickles
        .iter()
        .map(|(_, d)| match vetted(d) {
            Ok(()) => true,
            Err(why) => {
                *unvetted.entry(why).or_default() += 1;
                false
            }
        })
        .collect();
    let mut all_disagreements = Vec::new();
    for pr in &pairings {
        let real = real_outcomes(pr.reader);
        let c = cfg(pr.options);
        let mut f = Figures::default();
        for ((id, data), ok) in pickles.iter().zip(&vetted_set) {
            if !ok {
                continue;
            }
            f.fed += 1;
            let opts = if pr.decode_strings {
                DeOptions::new().decode_strings()
            } else {
                DeOptions::new()
            };
            let serde = serde_pickle::value_from_slice(data, opts).ok();
            let ours_r = load::load(data, pr.runtime, &c);
            let recorded = real.get(&(id.clone(), pr.optset.to_string()));
            let (ours_v, ours_render) = match &ours_r.outcome {
                Outcome::Loaded { heap, root } => (
                    Some(ours(heap, *root, &mut Vec::new())),
                    Some(render::render(heap, *root, pr.runtime)),
                ),
                _ => (None, None),
            };
            match (serde, ours_v) {
                (None, None) => f.neither += 1,
                (Some(_), None) => {
                    f.serde_only += 1;
                    match recorded {
                        Some((true, _)) => f.serde_only_real_loads += 1,
                        Some((false, _)) => f.serde_only_real_raises += 1,
                        None => {}
                    }
                }
                (None, Some(_)) => f.ours_only += 1,
                (Some(s), Some(o)) => {
                    f.both += 1;
                    match o {
                        Err(Skip(why)) => {
                            f.skipped += 1;
                            *f.skip_reasons.entry(why).or_default() += 1;
                        }
                        Ok(o) => {
                            let t = theirs(&s);
                            if t == o {
                                f.agreed += 1;
                                continue;
                            }
                            let line = format!(
                                "{} {id} ({}):\n    serde-pickle: {t:?}\n    ours:         {o:?}\n    real {}: {:?}",
                                pr.name,
                                common::hex(data),
                                pr.reader,
                                recorded
                            );
                            match (recorded, &ours_render) {
                                (Some((true, r)), Some(mine)) if r == mine => {
                                    f.serde_deviations.push(line)
                                }
                                _ => f.disagreed.push(line),
                            }
                        }
                    }
                }
            }
        }
        println!(
            "{}: {} fed; decoded by both {} (agreed {}, skipped {}, disagreed {}: {} of them serde-pickle \
             deviations the real {} confirms ours on, {} unexplained); serde-pickle only {} (real reader \
             raises too: {}, loads: {}), ours only {}, neither {}; skipped for: {:?}",
            pr.name,
            f.fed,
            f.both,
            f.agreed,
            f.skipped,
            f.serde_deviations.len() + f.disagreed.len(),
            f.serde_deviations.len(),
            pr.reader,
            f.disagreed.len(),
            f.serde_only,
            f.serde_only_real_raises,
            f.serde_only_real_loads,
            f.ours_only,
            f.neither,
            f.skip_reasons
        );
        for d in &f.serde_deviations {
            println!(
                "  serde-pickle deviation: {}",
                d.lines().next().unwrap_or("")
            );
        }
        all_disagreements.extend(f.disagreed);
    }
    println!(
        "serde_pickle_diff: {} corpus pickles, {} not fed to serde-pickle: {:?}",
        pickles.len(),
        unvetted.values().sum::<usize>(),
        unvetted
    );
    for d in all_disagreements.iter().take(30) {
        println!("{d}");
    }
    assert!(
        all_disagreements.is_empty(),
        "{} disagreements with serde-pickle (first ones above)",
        all_disagreements.len()
    );
}

/// The vetting keeps serde-pickle away from what robustness.md measured to kill it: a memo
/// doubling bomb (it expands shared references) and deep nesting (it recurses).
#[test]
fn vetting_refuses_what_kills_serde_pickle() {
    let bomb = [
        &b"\x80\x02Nq\x000"[..],
        &b"h\x00h\x00\x86q\x000".repeat(40),
        b"h\x00.",
    ]
    .concat();
    assert!(vetted(&bomb).is_err());
    let deep = [
        &b"\x80\x02"[..],
        &b"]".repeat(10_000),
        &b"a".repeat(9_999),
        b".",
    ]
    .concat();
    assert!(vetted(&deep).is_err());
    let ok = [&b"\x80\x02"[..], &b"]".repeat(100), &b"a".repeat(99), b"."].concat();
    assert!(vetted(&ok).is_ok());
    let shared = [
        &b"\x80\x02Nq\x000"[..],
        &b"h\x00h\x00\x86q\x000".repeat(10),
        b"h\x00.",
    ]
    .concat();
    assert!(vetted(&shared).is_ok(), "2^10 expanded nodes are fine");
}
