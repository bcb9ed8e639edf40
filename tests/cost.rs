//! The verdict's cost is linear in the value, and bounded by one budget per value: proven by the
//! work the verdict's meter counts (opcodes run, nodes built, saved, compared and fingerprinted;
//! bytes allocated), not by timings. Each family of values is written by a real interpreter at a
//! size N and 8N; the count at 8N must be at most 9 times the count at N, for every check of a
//! migration judged in full (both loads, all write-backs, the five checks, the explanation).

mod common;

use cache_compat::check::{Check, Checks, Side, judge};
use cache_compat::envelope::Writer;
use cache_compat::meter;
use cache_compat::runtime::load::LoadConfig;
use cache_compat::runtime::{LoadOptions, Runtime};
use std::process::Command;

/// Pickles `python` writes: one per line of `code`'s output, hex.
fn pickles(version: &str, code: &str) -> Vec<Vec<u8>> {
    let o = Command::new(common::interpreter(version))
        .args(["-c", code])
        .output()
        .expect("python");
    assert!(
        o.status.success(),
        "python {version}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(common::unhex)
        .collect()
}

fn side(rt: &str, load: &str, writer: &str) -> Side {
    Side {
        runtime: Runtime::parse(rt).expect("runtime"),
        load: LoadConfig {
            options: LoadOptions::parse(load).expect("options"),
            // The full models' cost (the fast path's is the last test's).
            full_model: true,
            ..LoadConfig::default()
        },
        writer: Writer::parse(writer).expect("writer"),
    }
}

fn counted(p: &[u8], old: &Side, new: &Side) -> (Checks, meter::Used) {
    let c = judge(p, old, new);
    (c, meter::last())
}

/// A py3 family: `expr` is a Python expression of `n`, pickled at `protocol` by 3.11.
fn py3_family(expr: &str, protocol: u8, ns: [usize; 2]) -> Vec<Vec<u8>> {
    let code = format!(
        "import pickle, binascii\nfor n in {ns:?}:\n    v = {expr}\n    print(binascii.hexlify(pickle.dumps(v, {protocol})).decode())"
    );
    pickles("3.11", &code)
}

fn py2_family(expr: &str, protocol: u8, ns: [usize; 2]) -> Vec<Vec<u8>> {
    let code = format!(
        "import cPickle, binascii\nfor n in {ns:?}:\n    v = {expr}\n    print binascii.hexlify(cPickle.dumps(v, {protocol}))"
    );
    pickles("2.7", &code)
}

/// No check of `c` is an unknown (the value was judged in full).
fn judged_in_full(name: &str, c: &Checks) {
    for (check, o) in c.all() {
        assert!(
            !matches!(o, Check::Unknown(_)),
            "{name}: {check} is {o:?}: the family must be judged in full to count its cost"
        );
    }
}

fn assert_linear(name: &str, ps: &[Vec<u8>], old: &Side, new: &Side) -> Checks {
    assert_eq!(ps.len(), 2, "{name}");
    let (c1, u1) = counted(&ps[0], old, new);
    let (c8, u8) = counted(&ps[1], old, new);
    judged_in_full(name, &c1);
    judged_in_full(name, &c8);
    println!(
        "{name}: {} -> {} bytes of pickle; ops {} -> {} ({:.2}x), bytes {} -> {} ({:.2}x)",
        ps[0].len(),
        ps[1].len(),
        u1.ops,
        u8.ops,
        u8.ops as f64 / u1.ops as f64,
        u1.bytes,
        u8.bytes,
        u8.bytes as f64 / u1.bytes as f64
    );
    assert!(u1.ops > 0 && u1.bytes > 0, "{name}: nothing was counted");
    assert!(
        u8.ops <= 9 * u1.ops,
        "{name}: work grew {} -> {} for 8x the value",
        u1.ops,
        u8.ops
    );
    assert!(
        u8.bytes <= 9 * u1.bytes,
        "{name}: memory grew {} -> {} for 8x the value",
        u1.bytes,
        u8.bytes
    );
    c8
}

#[test]
fn every_family_costs_linear_work_and_memory() {
    let (py2, py3) = (side("2.7", "", "pickle:2"), side("3.11", "", "pickle:2"));
    let py3p0 = side("3.11", "", "pickle:0");
    let ns = [1000, 8000];
    let families: Vec<(&str, Vec<Vec<u8>>, &Side, &Side)> = vec![
        (
            "list of N dicts (JSON-API items, py3 protocol 0)",
            py3_family(
                "{'data': [{'id': i + 100000, 'type': 'item', 'attrs': {'title': 'T%06d caf\\u00e9' % i, 'score': i * 1.5, 'tags': ['a', 'b']}} for i in range(n)]}",
                0,
                ns,
            ),
            &py2,
            &py3p0,
        ),
        (
            "list of N dicts and a NaN (py3 protocol 0)",
            py3_family(
                "[{'k': i + 100000, 'v': 'x%06d' % i} for i in range(n)] + [float('nan')]",
                0,
                ns,
            ),
            &py2,
            &py3p0,
        ),
        (
            "dict of N dicts (py3 protocol 2)",
            py3_family(
                "{'k%06d' % i: {'v': i + 100000, 'w': [i + 100000]} for i in range(n)}",
                2,
                ns,
            ),
            &py2,
            &py3,
        ),
        (
            "N distinct strings (py2 protocol 2)",
            py2_family("['s%06d' % i for i in range(n)]", 2, ns),
            &py2,
            &py3,
        ),
        (
            "set of N strings in another order (py2 protocol 2)",
            py2_family("set(u'm%06d' % i for i in range(n))", 2, ns),
            &py2,
            &py3,
        ),
        (
            "N references to one shared dict (py3 protocol 2)",
            py3_family("[{'a': [1, 2, 3], 'b': 'x'}] * n", 2, ns),
            &py2,
            &py3,
        ),
        (
            "nesting depth N (py3 protocol 2)",
            py3_family(
                "(lambda d: [d.__setitem__('v', [d['v']]) for _ in range(n)] and d['v'])({'v': 0})",
                2,
                [30, 240],
            ),
            &py2,
            &py3,
        ),
    ];
    for (name, ps, old, new) in &families {
        assert_linear(name, ps, old, new);
    }
}

#[test]
fn a_difference_at_the_very_end_is_found_in_linear_work_with_its_path() {
    // py2 writes N ASCII dicts and one UTF-8 str at the very end; 3.11 loads with latin1: the
    // explanation must walk the whole value to find it, and say where it is.
    let ps = py2_family(
        "[{'id': i + 100000, 'name': 'n%06d' % i} for i in range(n)] + [{'name': 'caf\\xc3\\xa9'}]",
        2,
        [1000, 8000],
    );
    let (old, new) = (
        side("2.7", "", "pickle:2"),
        side("3.11", "encoding=latin1", "pickle:2"),
    );
    let c = assert_linear("difference at the end", &ps, &old, &new);
    match &c.new_reads {
        Check::Changes(ch) => {
            let e = ch.to_string();
            assert!(
                e.starts_with("mojibake at [8000]['name']:"),
                "the path of the last item: {e}"
            );
            assert_eq!(ch.path, "[8000]['name']");
        }
        other => panic!("expected mojibake, got {other:?}"),
    }
}

#[test]
fn a_value_over_the_verdict_budget_is_not_modelled_and_the_next_is_judged() {
    let ps = py3_family("[{'k': i} for i in range(n)]", 2, [10, 20000]);
    let mut old = side("2.7", "", "pickle:2");
    let mut new = side("3.11", "", "pickle:2");
    for s in [&mut old, &mut new] {
        s.load.budget.verdict = meter::Limits {
            ops: 50_000,
            bytes: u64::MAX,
        };
    }
    let big = judge(&ps[1], &old, &new);
    let over = big.all().iter().filter(|(_, c)| c.over_budget()).count();
    assert!(over >= 1, "{big:?}");
    for (name, c) in big.all() {
        assert!(
            matches!(c, Check::Unknown(_) | Check::Skipped),
            "{name}: {c:?} past the budget"
        );
        if let Check::Unknown(u) = c {
            assert!(u.to_string().contains("verdict_ops"), "{u}");
        }
    }
    assert!(
        meter::last().ops <= 50_000 + 1_000,
        "the verdict stopped at its budget: {:?}",
        meter::last()
    );
    // The small value is judged in full under the same budget.
    let small = judge(&ps[0], &old, &new);
    judged_in_full("small", &small);
    // And the memory budget alike.
    for s in [&mut old, &mut new] {
        s.load.budget.verdict = meter::Limits {
            ops: u64::MAX,
            bytes: 200_000,
        };
    }
    let big = judge(&ps[1], &old, &new);
    assert!(
        big.all().iter().any(
            |(_, c)| matches!(c, Check::Unknown(u) if u.to_string().contains("verdict_bytes"))
        ),
        "{big:?}"
    );
}

/// A snapshot file (src/source/snapshot.rs format) holding `values`.
fn snapshot(path: &std::path::Path, values: &[(&str, &[u8])]) {
    use std::io::Write;
    let f = std::fs::File::create(path).expect("snapshot");
    let mut w = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    writeln!(
        w,
        r#"{{"cache_compat_snapshot": 1, "source": "tests/cost.rs"}}"#
    )
    .expect("write");
    for (k, v) in values {
        writeln!(
            w,
            r#"{{"key": "{}", "type": "string", "field": null, "ttl_ms": null, "value": "{}"}}"#,
            common::hex(k.as_bytes()),
            common::hex(v)
        )
        .expect("write");
    }
    w.finish().expect("gzip");
}

#[test]
fn scan_reports_a_value_over_the_budget_as_cc090_counts_it_and_judges_the_rest() {
    let big = py3_family("[{'k': i} for i in range(n)]", 2, [10, 20000]);
    let utf8 = py2_family("'caf\\xc3\\xa9' * n", 2, [1, 2]);
    let dir = std::env::temp_dir().join(format!("cache-compat-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let snap = dir.join("budget.snapshot");
    snapshot(&snap, &[("big", &big[1]), ("small", &utf8[0])]);
    let out = common::cache_compat()
        .args(["scan", "--snapshot"])
        .arg(&snap)
        .args([
            "--old",
            "2.7",
            "--new",
            "3.11",
            "--writer",
            "pickle:2",
            "--verdict-ops",
            "50000",
            "--all",
            "--format",
            "jsonl",
            "--format",
            "table",
            "--output",
        ])
        .arg(dir.join("table.txt"))
        .output()
        .expect("run");
    let _ = std::fs::remove_file(&snap);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the small value's finding fails the run"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let of = |key: &str| {
        lines
            .iter()
            .find(|v| v["key"] == key)
            .unwrap_or_else(|| panic!("{key} in {stdout}"))
            .clone()
    };
    let big = of("big");
    let reasons: Vec<String> = big["checks"]
        .as_object()
        .expect("checks")
        .values()
        .filter_map(|c| c["reason"].as_str().map(str::to_string))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("over the verdict budget (verdict_ops)")),
        "{big}"
    );
    // The next value is judged in full: its py2 UTF-8 str fails on 3.11 (CC001).
    let small = of("small");
    assert_eq!(small["checks"]["new_reads"]["outcome"], "fails", "{small}");
    let table = std::fs::read_to_string(dir.join("table.txt")).expect("table");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        table.contains("1 over the verdict budget: judged in part (CC090)"),
        "{table}"
    );
    assert!(table.contains("CC090 not-modelled"), "{table}");
}

/// The fast path (`check::fast`) costs linear work too: neutral families at N and 8N, both on the
/// fast path, within 9x.
#[test]
fn the_fast_path_costs_linear_work() {
    let fast = |rt: &str, writer: &str| {
        let mut s = side(rt, "", writer);
        s.load.full_model = false;
        s
    };
    let (py2, py3) = (fast("2.7", "pickle:2"), fast("3.11", "pickle:2"));
    let ns = [1000, 8000];
    let families: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "list of N dicts (py3 protocol 4)",
            py3_family(
                "[{'id': i, 'title': u'T%06d caf\\u00e9' % i, 'score': i * 1.5, 'tags': ['a', None, True]} for i in range(n)]",
                4,
                ns,
            ),
        ),
        (
            "dict of N unicode keys (py2 protocol 2)",
            py2_family("dict((u'k%d' % i, [i, 0.5]) for i in range(n))", 2, ns),
        ),
    ];
    for (name, ps) in families {
        let before = cache_compat::check::fast::taken();
        assert_linear(name, &ps, &py2, &py3);
        assert_eq!(
            cache_compat::check::fast::taken() - before,
            2,
            "{name}: both sizes on the fast path"
        );
    }
}
