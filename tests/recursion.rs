//! The pickler's recursion limit against the real picklers: values nested around and far past
//! `Facts::pickler_recursion_limit` (lists, tuples, dicts, lists with atom leaves, tuple chains
//! ending in an atom; protocols 0 to the highest), loaded by the real 2.7 cPickle and the C
//! pickle of 3.6-3.13 and dumped again from the top level of a script at the default recursion
//! limit (tests/recursion/probe.py), and the list nested 20,000 deep that 3.11 writes at
//! protocol 2 with a raised recursion limit. Where the model answers (bytes, or the exception),
//! the answer must be the real one, exact text; it must answer every case past the limit made
//! of measured kinds of objects, and every case below the band near the limit that its own walk
//! follows; the limit itself is checked to the unit (`limit` units dump, `limit + 1` raise).
//! 3.14 is left out: Pyodide dies of a JavaScript stack overflow where a native build raises,
//! and its limit is not in the Facts table (its dumps stay not modelled past 900 levels).

mod common;

use cache_compat::runtime::Runtime;
use cache_compat::runtime::dump::{DumpError, dump};
use cache_compat::runtime::load::{self, LoadConfig, Outcome};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const READERS: [&str; 9] = [
    "2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13",
];

/// (pickle, protocol, recursion units, kind (None: 3.11's own pickle), label)
type Case = (Vec<u8>, u8, usize, Option<Kind>, String);

const TEXT_A: &[u8] = b"X\x01\x00\x00\x00a";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    List,
    Tuple,
    Dict,
    /// `[1, 'a', x, None, 1.5, True]`
    Mixed,
    /// `((1,),)`: a chain of 1-tuples ending in the int 1.
    TupleAtom,
}

impl Kind {
    /// The protocol-2 pickle of the value nested `n` levels deep.
    fn pickle(self, n: usize) -> Vec<u8> {
        let mut p = b"\x80\x02".to_vec();
        match self {
            Kind::List => {
                p.extend(std::iter::repeat_n(b']', n + 1));
                p.extend(std::iter::repeat_n(b'a', n));
            }
            Kind::Tuple => {
                p.push(b')');
                p.extend(std::iter::repeat_n(0x85, n));
            }
            Kind::TupleAtom => {
                p.extend_from_slice(b"K\x01");
                p.extend(std::iter::repeat_n(0x85, n));
            }
            Kind::Dict => {
                for _ in 0..n {
                    p.push(b'}');
                    p.extend_from_slice(TEXT_A);
                }
                p.push(b'}');
                p.extend(std::iter::repeat_n(b's', n));
            }
            Kind::Mixed => {
                for _ in 0..n {
                    p.extend_from_slice(b"](K\x01");
                    p.extend_from_slice(TEXT_A);
                }
                p.push(b']');
                for _ in 0..n {
                    p.push(b'N');
                    p.push(b'G');
                    p.extend_from_slice(&1.5f64.to_be_bytes());
                    p.extend_from_slice(b"\x88e");
                }
            }
        }
        p.push(b'.');
        p
    }

    /// Recursion units of the value `n` levels deep (`Facts::pickler_recursion_limit`).
    fn units(self, n: usize, atoms_free: bool) -> usize {
        match self {
            Kind::List | Kind::Dict | Kind::Mixed => 2 * n + 1,
            Kind::Tuple => n + 1,
            Kind::TupleAtom => n + usize::from(!atoms_free),
        }
    }

    /// Levels whose units are `u` (rounded down).
    fn levels(self, u: usize, atoms_free: bool) -> usize {
        match self {
            Kind::List | Kind::Dict | Kind::Mixed => (u - 1) / 2,
            Kind::Tuple => u - 1,
            Kind::TupleAtom => u - usize::from(!atoms_free),
        }
    }
}

fn real_dumps(reader: &str, cases: &[(Vec<u8>, u8)]) -> Vec<Value> {
    let mut child = Command::new(common::interpreter(reader))
        .arg(common::root().join("tests/recursion/probe.py"))
        .arg("read")
        .env("PYTHONHASHSEED", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{reader}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let reqs: String = cases
        .iter()
        .map(|(p, proto)| json!({"pickle": common::hex(p), "protocol": proto}).to_string() + "\n")
        .collect();
    let writer = std::thread::spawn(move || stdin.write_all(reqs.as_bytes()).expect("write"));
    let answers: Vec<Value> = BufReader::new(child.stdout.take().expect("stdout"))
        .lines()
        .map(|l| serde_json::from_str(&l.expect("line")).expect("json"))
        .collect();
    writer.join().expect("writer");
    assert!(child.wait().expect("wait").success(), "{reader} probe");
    assert_eq!(answers.len(), cases.len(), "{reader}: answers");
    answers
}

#[test]
fn deep_values_dump_as_the_real_picklers_dump_them() {
    // The list nested 20,000 deep, as 3.11 writes it with a raised recursion limit.
    let out = Command::new(common::interpreter("3.11"))
        .arg(common::root().join("tests/recursion/probe.py"))
        .args(["write", "20000"])
        .output()
        .expect("3.11 probe write");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deep_311 = common::unhex(String::from_utf8(out.stdout).expect("utf-8").trim());

    let kinds = [
        Kind::List,
        Kind::Tuple,
        Kind::Dict,
        Kind::Mixed,
        Kind::TupleAtom,
    ];
    let mut failures = Vec::new();
    let mut summary = Vec::new();
    for reader in READERS {
        let rt = Runtime::parse(reader).expect("runtime");
        let facts = rt.facts();
        let limit = facts.pickler_recursion_limit.expect("measured limit") as usize;
        let band = facts.pickler_caller_band as usize;
        let free = facts.pickler_atoms_free;
        let protos: Vec<u8> = (0..=facts.highest_protocol).collect();
        // (pickle, protocol, units, kind, label)
        let mut cases: Vec<Case> = Vec::new();
        for &kind in &kinds {
            let mut levels = vec![
                10,
                kind.levels(limit - band, free).min(2400),
                kind.levels(limit - band / 2, free),
                kind.levels(limit, free),
                kind.levels(limit, free) + 1,
                kind.levels(limit, free) + 2,
                kind.levels(limit + 500, free),
                20_000,
            ];
            levels.dedup();
            for n in levels {
                for &p in &protos {
                    cases.push((
                        kind.pickle(n),
                        p,
                        kind.units(n, free),
                        Some(kind),
                        format!("{kind:?} x{n} p{p}"),
                    ));
                }
            }
        }
        for &p in &protos {
            // 20,000 lists + 1: units 40,001.
            cases.push((
                deep_311.clone(),
                p,
                40_001,
                None,
                format!("3.11's list x20000 p{p}"),
            ));
        }
        let reqs: Vec<(Vec<u8>, u8)> = cases.iter().map(|c| (c.0.clone(), c.1)).collect();
        let answers = real_dumps(reader, &reqs);
        let (mut bytes_exact, mut raised_exact, mut unknown) = (0, 0, 0);
        for ((data, p, units, kind, label), ans) in cases.iter().zip(&answers) {
            let real_ok = ans["ok"].as_bool().expect("ok");
            // The limit, to the unit: a tuple chain of `limit` units dumps, one more raises.
            if *kind == Some(Kind::Tuple) && *units == limit && !real_ok {
                failures.push(format!(
                    "{reader} {label}: Facts limit {limit} but the real pickler raised at {units} units: {ans}"
                ));
            }
            if *kind == Some(Kind::Tuple) && *units == limit + 1 && real_ok {
                failures.push(format!(
                    "{reader} {label}: Facts limit {limit} but the real pickler dumped {units} units"
                ));
            }
            let Outcome::Loaded { heap, root } =
                load::load(data, rt, &LoadConfig::default()).outcome
            else {
                failures.push(format!("{reader} {label}: the model did not load it"));
                continue;
            };
            let ours = dump(&heap, root, rt, *p);
            // Measured kinds: everything in these values is, except dicts and ints at protocol 0.
            let plain = *p >= 1 || matches!(kind, Some(Kind::List) | Some(Kind::Tuple) | None);
            match ours {
                Ok(b) => {
                    let real = ans["dump"].as_str().map(common::unhex);
                    if real.as_deref() == Some(&b[..]) {
                        bytes_exact += 1;
                    } else {
                        failures.push(format!(
                            "{reader} {label}: ours wrote bytes, real: {}",
                            trunc(ans)
                        ));
                    }
                }
                Err(DumpError::Py(e)) => {
                    if !real_ok && ans["error"].as_str() == Some(&e.to_string()) {
                        raised_exact += 1;
                    } else {
                        failures.push(format!(
                            "{reader} {label}: ours raised {e}, real: {}",
                            trunc(ans)
                        ));
                    }
                }
                Err(DumpError::Unmodelled(why)) => {
                    unknown += 1;
                    if plain && *units > limit {
                        failures.push(format!(
                            "{reader} {label} ({units} units > {limit}): certain, but ours: not modelled ({why})"
                        ));
                    }
                    if plain && *units <= limit - band && *units <= 2 * 2400 + 1 {
                        failures.push(format!(
                            "{reader} {label} ({units} units, below the band): ours: not modelled ({why})"
                        ));
                    }
                }
            }
        }
        summary.push(format!(
            "{reader:<5} limit {limit:>5} band {band:>3}: cases {:>3}  bytes exact {bytes_exact:>3}  raised exact {raised_exact:>3}  not modelled {unknown:>3}",
            cases.len()
        ));
    }
    println!("{}", summary.join("\n"));
    assert!(
        failures.is_empty(),
        "{}\n{}",
        failures.join("\n"),
        summary.join("\n")
    );
}

fn trunc(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 200 {
        format!("{}...", &s[..200])
    } else {
        s
    }
}
