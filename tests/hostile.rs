//! Hostile and broken input: the reader, every runtime model, the rendering and the report layer
//! must stay bounded in time and memory and never panic (robustness.md).
//!
//! * `hostile_*`: one crafted input each (deep nesting, DUP/memo doubling bombs, MARK and memo
//!   floods, 4 GiB length prefixes, megabyte digit strings, huge and colliding dicts, ...). Each runs
//!   in a child process (this test binary re-run with `--exact`) under `ulimit -v` and a wall-clock
//!   limit, so that a stack overflow, an allocation failure or a hang fails that one test and not the
//!   whole binary. The child loads the input for every runtime, renders every loaded value, runs
//!   `inspect` (and its text and JSON forms), checks the expected kind of outcome, reads its own
//!   peak RSS (`VmHWM`) and asserts a growth below 1 GiB. Elapsed times are printed, never asserted:
//!   run `cargo test --release --test hostile -- --nocapture` to see the table.
//! * `truncation_*`: every prefix of ~20 corpus pickles, every runtime: a prefix that lost its STOP
//!   never loads.
//! * `mutation_smoke`: ~50,000 seeded mutations of corpus pickles through the same body as the
//!   cargo-fuzz target `fuzz/fuzz_targets/reader.rs` (a panic fails the test; nothing catches it).

mod common;

use cache_compat::inspect;
use cache_compat::pickle::ops;
use cache_compat::pickle::parse;
use cache_compat::runtime::load::{self, LoadConfig, Outcome, Unmodelled};
use cache_compat::runtime::{LoadOptions, Runtime, render};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// ------------------------------------------------------------------------------------------------
// The body every input goes through (the fuzz target runs the same).

/// The runtimes a hostile input is judged for: a spread over the fact boundaries (cPickle and
/// pickle.py on 2.7, 3.0, 3.6, 3.8, 3.13, 3.14); fewer in debug builds, where a load of a million
/// opcodes is slow, not wrong. HOSTILE_ALL_RUNTIMES=1: all 17.
fn runtimes() -> Vec<Runtime> {
    if std::env::var_os("HOSTILE_ALL_RUNTIMES").is_some() {
        return Runtime::all();
    }
    let names: &[&str] = if cfg!(debug_assertions) {
        &["2.7", "3.6", "3.13"]
    } else {
        &["2.7", "2.7-pickle", "3.0", "3.6", "3.8", "3.13", "3.14"]
    };
    names
        .iter()
        .map(|s| Runtime::parse(s).expect("runtime"))
        .collect()
}

/// What one runtime predicted, for the report and the checks.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Loaded { render_len: usize },
    Raised(String),
    Budget(&'static str),
    Feature(String),
}

impl Seen {
    fn short(&self) -> String {
        match self {
            Seen::Loaded { render_len } => format!("loaded(render {render_len} B)"),
            Seen::Raised(e) => {
                let e: String = e.chars().take(70).collect();
                format!("raised({e})")
            }
            Seen::Budget(w) => format!("budget({w})"),
            Seen::Feature(f) => format!("unmodelled({f})"),
        }
    }
}

/// The longest rendering `render` may return: its cap plus the marker.
const RENDER_BOUND: usize = render::MAX_RENDER + "!render-too-large".len();

/// Wall-clock figures of one `exercise` (reported, never asserted).
#[derive(Debug, Default, Clone, Copy)]
struct Timings {
    parse: Duration,
    /// The slowest single load, and the slowest single render.
    max_load: Duration,
    max_render: Duration,
    /// `inspect` (all the runtimes again) plus its text and JSON forms.
    report: Duration,
}

/// Parse once, load for each runtime, render every loaded value, then the report layer. Panics
/// (and so fails the test) on anything unbounded it can see.
fn exercise(data: &[u8], rts: &[Runtime], cfg: &LoadConfig) -> Vec<(Runtime, Seen, Option<usize>)> {
    exercise_timed(data, rts, cfg).0
}

fn exercise_timed(
    data: &[u8],
    rts: &[Runtime],
    cfg: &LoadConfig,
) -> (Vec<(Runtime, Seen, Option<usize>)>, Timings) {
    let mut tm = Timings::default();
    let t = Instant::now();
    let parsed = parse::parse(data, cfg.budget.max_ops);
    tm.parse = t.elapsed();
    // The security view `scan` makes of every value (CC020/CC021): bounded too, never panics.
    let audit = cache_compat::check::security::audit(data, &parsed.ops, &cfg.apps);
    assert!(audit.findings.len() <= parsed.ops.len());
    drop(audit);
    let mut seen = Vec::with_capacity(rts.len());
    for &rt in rts {
        let t = Instant::now();
        let r = load::load_parsed(data, &parsed, rt, cfg);
        tm.max_load = tm.max_load.max(t.elapsed());
        let s = match &r.outcome {
            Outcome::Loaded { heap, root } => {
                let t = Instant::now();
                let text = render::render(heap, *root, rt);
                let _ = render::has_opaque(heap, *root);
                tm.max_render = tm.max_render.max(t.elapsed());
                assert!(
                    text.len() <= RENDER_BOUND,
                    "{rt}: render of {} bytes",
                    text.len()
                );
                Seen::Loaded {
                    render_len: text.len(),
                }
            }
            Outcome::Raised(e) => Seen::Raised(e.to_string()),
            Outcome::Unknown(Unmodelled::Budget(w)) => Seen::Budget(w),
            Outcome::Unknown(Unmodelled::Feature(f)) => Seen::Feature(f.clone()),
        };
        seen.push((rt, s, r.at));
    }
    // The report layer parses again: free ours first so that the peak is the library's alone.
    drop(parsed);
    let t = Instant::now();
    let report = inspect::inspect(data, rts, cfg);
    let text = report.to_text(data);
    assert!(!text.is_empty());
    let json = serde_json::to_string(&report).expect("report serializes");
    assert!(!json.is_empty());
    let _ = report.any_fails();
    tm.report = t.elapsed();
    (seen, tm)
}

// ------------------------------------------------------------------------------------------------
// Memory figures (Linux /proc; elsewhere the figures are absent and the bound is not checked).

fn proc_status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

// ------------------------------------------------------------------------------------------------
// The child-process harness.

/// Address-space limit of a child (`ulimit -v`, KiB): an unbounded allocation aborts the child
/// instead of swapping the machine to death.
const CHILD_VMEM_KIB: u64 = 6 << 20;
/// Peak-RSS growth a hostile input may cause.
const MAX_GROWTH_KIB: u64 = 1 << 20;
/// A child still running after this is a hang (override: HOSTILE_TIMEOUT_SECS).
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

/// Run `body` in a child process: this test binary, re-run with `--exact name`. In the child
/// (HOSTILE_CHILD set) the body simply runs.
fn isolated(name: &str, body: impl FnOnce()) {
    if std::env::var_os("HOSTILE_CHILD").is_some() {
        body();
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let timeout = std::env::var("HOSTILE_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(CHILD_TIMEOUT);
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {CHILD_VMEM_KIB} 2>/dev/null; exec \"$0\" \"$@\""
        ))
        .arg(&exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("HOSTILE_CHILD", "1")
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child test process");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for the child") {
            break Some(st);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    for l in stdout.lines().filter(|l| l.starts_with("hostile ")) {
        println!("{l}");
    }
    match status {
        None => panic!(
            "{name}: HANG: still running after {:?} (killed)\n{stdout}\n{stderr}",
            timeout
        ),
        Some(st) if !st.success() => panic!(
            "{name}: the child failed ({st}: a panic, an abort such as a stack overflow, or an \
             allocation refused under ulimit -v {CHILD_VMEM_KIB} KiB)\n--- stdout\n{}\n--- stderr\n{}",
            tail(&stdout),
            tail(&stderr)
        ),
        Some(_) => {}
    }
}

fn tail(s: &str) -> &str {
    let n = s.len();
    let mut start = n.saturating_sub(4000);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// What a hostile input must come to, for every runtime.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// A Python exception or a budget: a finding either way.
    Finding,
    /// A Python exception (the real interpreters raise).
    Raised,
    /// The real interpreters load it (deep nesting, shared references): a load, an exception or a
    /// budget are all acceptable predictions; only boundedness is checked.
    Bounded,
}

/// One hostile case, in the child: exercise, check, print the figures.
fn run_case(name: &str, data: &[u8], expect: Expect) {
    let rss0 = proc_status_kib("VmRSS:");
    let rts = runtimes();
    let cfg = LoadConfig::default();
    let (seen, tm) = exercise_timed(data, &rts, &cfg);
    let hwm = proc_status_kib("VmHWM:");
    let growth = match (rss0, hwm) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    // Group runtimes with the same outcome for the figures.
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (rt, s, _) in &seen {
        let k = s.short();
        match groups.iter_mut().find(|g| g.0 == k) {
            Some(g) => g.1.push(rt.to_string()),
            None => groups.push((k, vec![rt.to_string()])),
        }
    }
    let summary: Vec<String> = groups
        .iter()
        .map(|(k, rts)| format!("{k} [{}]", rts.join(",")))
        .collect();
    println!(
        "\nhostile {name}: {} bytes; parse {:.3} s, slowest load {:.3} s, slowest render {:.3} s, \
         inspect x{} runtimes {:.3} s; peak RSS growth {} MiB: {}",
        data.len(),
        tm.parse.as_secs_f64(),
        tm.max_load.as_secs_f64(),
        tm.max_render.as_secs_f64(),
        rts.len(),
        tm.report.as_secs_f64(),
        growth.map_or("?".to_string(), |g| (g / 1024).to_string()),
        summary.join("; ")
    );
    if let Some(g) = growth {
        assert!(
            g < MAX_GROWTH_KIB,
            "{name}: peak RSS grew by {} MiB (bound {} MiB)",
            g / 1024,
            MAX_GROWTH_KIB / 1024
        );
    }
    for (rt, s, _) in &seen {
        let ok = match expect {
            Expect::Finding => matches!(s, Seen::Raised(_) | Seen::Budget(_)),
            Expect::Raised => matches!(s, Seen::Raised(_)),
            Expect::Bounded => true,
        };
        assert!(ok, "{name}: {rt}: expected {expect:?}, got {}", s.short());
    }
}

macro_rules! hostile {
    ($(#[$m:meta])* $name:ident, $expect:expr, $build:expr) => {
        $(#[$m])*
        #[test]
        fn $name() {
            isolated(stringify!($name), || {
                let data: Vec<u8> = $build;
                run_case(stringify!($name), &data, $expect);
            });
        }
    };
}

// ------------------------------------------------------------------------------------------------
// Builders.

const MIB: usize = 1 << 20;
const N1M: usize = 1_000_000;

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn rep(b: &[u8], n: usize) -> Vec<u8> {
    b.repeat(n)
}

fn u32le(n: u32) -> [u8; 4] {
    n.to_le_bytes()
}

fn u64le(n: u64) -> [u8; 8] {
    n.to_le_bytes()
}

/// A BINUNICODE (protocol 1+) of `s`.
fn binunicode(s: &[u8]) -> Vec<u8> {
    cat(&[b"X", &u32le(s.len() as u32), s])
}

/// `BINBYTES` of `n` bytes of `fill`.
fn binbytes(n: usize, fill: u8) -> Vec<u8> {
    cat(&[b"B", &u32le(n as u32), &vec![fill; n]])
}

/// The doubling bomb: `x` at memo 0, then `doublings` times `x = (x, x)` through the memo; leaves
/// exactly the final tuple on the stack.
fn tuple_bomb(seed: &[u8], doublings: usize) -> Vec<u8> {
    cat(&[
        seed,
        b"q\x000",
        &rep(b"h\x00h\x00\x86q\x000", doublings),
        b"h\x00",
    ])
}

// ------------------------------------------------------------------------------------------------
// Deep nesting: CPython loads a million levels (its loader has no recursion limit), so a load is a
// correct prediction; the point is an iterative reader and renderer.

hostile!(hostile_nested_lists_1m, Expect::Bounded, {
    cat(&[b"\x80\x02", &rep(b"]", N1M), &rep(b"a", N1M - 1), b"."])
});

hostile!(hostile_nested_tuples_mark_1m, Expect::Bounded, {
    cat(&[b"\x80\x02", &rep(b"(", N1M), &rep(b"t", N1M), b"."])
});

hostile!(hostile_nested_tuple1_1m, Expect::Bounded, {
    cat(&[b"\x80\x02)", &rep(b"\x85", N1M), b"."])
});

hostile!(hostile_nested_dicts_1m, Expect::Bounded, {
    cat(&[
        b"\x80\x02",
        &rep(b"}K\x00", N1M - 1),
        b"}",
        &rep(b"s", N1M - 1),
        b".",
    ])
});

hostile!(hostile_nested_lists_no_stop, Expect::Finding, {
    cat(&[b"\x80\x02", &rep(b"]", N1M), &rep(b"a", N1M - 1)])
});

// frozenset(frozenset(...)) 40 deep, 84 bytes: each level of the sorted rendering renders its
// items once to sort them and once more to print them: 2^40 steps.
hostile!(hostile_nested_frozensets_40, Expect::Bounded, {
    cat(&[b"\x80\x04", &rep(b"(", 41), &rep(b"\x91", 41), b"."])
});

// frozenset(frozenset(...)) 100,000 deep: keys and the sorted rendering of set items both walk
// into the items.
hostile!(hostile_nested_frozensets_100k, Expect::Bounded, {
    let n = 100_000;
    cat(&[b"\x80\x04", &rep(b"(", n + 1), &rep(b"\x91", n + 1), b"."])
});

// frozenset([(frozenset([(...,)]),)]) 40 levels of each, alternating.
hostile!(
    hostile_nested_frozenset_tuple_alternating,
    Expect::Bounded,
    {
        cat(&[
            b"\x80\x04",
            &rep(b"(", 40),
            b")",
            &rep(b"\x85\x91", 40),
            b".",
        ])
    }
);

// A 40-deep frozenset nest as a dict key, and as the value of a set's items.
hostile!(hostile_nested_frozensets_as_dict_key, Expect::Bounded, {
    cat(&[b"\x80\x04}", &rep(b"(", 41), &rep(b"\x91", 41), b"Ns."])
});

// A set of 10,000 distinct frozensets, each holding i and one shared 30-deep frozenset nest.
hostile!(hostile_set_of_frozensets_sharing_a_nest, Expect::Bounded, {
    let mut v = cat(&[
        b"\x80\x04",
        &rep(b"(", 31),
        &rep(b"\x91", 31),
        b"q\x000\x8f(",
    ]);
    for i in 0..10_000u16 {
        v.extend_from_slice(b"(M");
        v.extend_from_slice(&i.to_le_bytes());
        v.extend_from_slice(b"h\x00\x91");
    }
    v.extend_from_slice(b"\x90.");
    v
});

// A dict key that is a tuple nested 100,000 deep: ((((...),),),).
hostile!(hostile_deep_tuple_key, Expect::Bounded, {
    cat(&[b"\x80\x02}", b")", &rep(b"\x85", 100_000), b"Ns."])
});

// {((...),): {((...),): ...}} as dict keys 1,000 deep, each key a 100-deep tuple.
hostile!(hostile_nested_dicts_with_tuple_keys, Expect::Bounded, {
    let key = cat(&[b")", &rep(b"\x85", 100)]);
    cat(&[
        b"\x80\x02",
        &rep(&cat(&[b"}", &key]), 1000),
        b"N",
        &rep(b"s", 1000),
        b".",
    ])
});

// ------------------------------------------------------------------------------------------------
// Shared references and cycles.

// The serde-pickle killer shape: `]` then `(h0 h0 t q0` doubling a tuple through the memo 64 times.
// CPython builds 65 objects; anything that expands shared references explodes.
hostile!(hostile_memo_doubling_tuple_mark, Expect::Bounded, {
    cat(&[b"\x80\x02]q\x00", &rep(b"(h\x00h\x00tq\x00", 64), b"."])
});

hostile!(hostile_memo_doubling_tuple2, Expect::Bounded, {
    cat(&[b"\x80\x02", &tuple_bomb(b"N", 64), b"."])
});

// Lists doubling through the memo: L_{i+1} = [L_i, L_i].
hostile!(hostile_memo_doubling_lists, Expect::Bounded, {
    cat(&[b"\x80\x02]q\x00", &rep(b"](h\x00h\x00eq\x00", 64), b"."])
});

// DUP doubling: 2 bytes per doubling, 100,000 doublings.
hostile!(hostile_dup_doubling_100k, Expect::Bounded, {
    cat(&[b"\x80\x02)", &rep(b"2\x86", 100_000), b"."])
});

// A dict of dicts doubling: D_{i+1} = {1: D_i, 2: D_i}.
hostile!(hostile_memo_doubling_dicts, Expect::Bounded, {
    cat(&[
        b"\x80\x02}q\x00",
        &rep(b"}(K\x01h\x00K\x02h\x00uq\x00", 64),
        b".",
    ])
});

// A list that contains itself a million times.
hostile!(hostile_self_reference_1m, Expect::Bounded, {
    cat(&[b"\x80\x02]q\x00", &rep(b"h\x00a", N1M), b"."])
});

// A million lists, each containing itself and the previous one.
hostile!(hostile_cycle_chain_1m, Expect::Bounded, {
    // memo 0: the previous list; each new list L: L.append(L); L.append(prev); memo 0 = L.
    cat(&[
        b"\x80\x02]q\x00",
        &rep(b"]q\x012h\x01ah\x00aq\x000", N1M / 2),
        b"h\x00.",
    ])
});

// A doubling bomb used as a dict key: CPython hashes it (tuple hashes are not cached), 2^64
// element hashes, so it never returns: the model must not claim a load.
hostile!(hostile_bomb_as_dict_key, Expect::Finding, {
    cat(&[b"\x80\x02}", &tuple_bomb(b"N", 64), b"Ns."])
});

// A doubling bomb as a set item (frozenset construction hashes it too).
hostile!(hostile_bomb_as_frozenset_item, Expect::Finding, {
    cat(&[b"\x80\x04(", &tuple_bomb(b"N", 64), b"\x91."])
});

// 10,000 distinct set items (i, B), B a doubling bomb: the sorted rendering of a set renders every
// item before sorting.
hostile!(hostile_set_of_bomb_pairs, Expect::Bounded, {
    let mut v = cat(&[b"\x80\x04", &tuple_bomb(b"N", 40), b"0\x8f("]);
    for i in 0..10_000u16 {
        v.extend_from_slice(b"M");
        v.extend_from_slice(&i.to_le_bytes());
        v.extend_from_slice(b"h\x00\x86");
    }
    v.extend_from_slice(b"\x90.");
    v
});

// The same 1 MiB string as the key of 250,000 SETITEMs on one dict (CPython caches str hashes).
hostile!(hostile_dict_same_big_key_250k, Expect::Bounded, {
    cat(&[
        b"\x80\x02}",
        &binunicode(&vec![b'k'; MIB]),
        b"q\x000",
        &rep(b"h\x00Ns", 250_000),
        b".",
    ])
});

// The same 100 KiB string as the key of 20,000 distinct dicts in a list.
hostile!(hostile_many_dicts_same_big_key, Expect::Bounded, {
    cat(&[
        b"\x80\x02",
        &binunicode(&vec![b'k'; 100 << 10]),
        b"q\x000(",
        &rep(b"}h\x00Ns", 20_000),
        b"l.",
    ])
});

// A dict key that is a tuple of 10,000 references to one 100 KiB bytes object.
hostile!(hostile_tuple_key_of_shared_big_bytes, Expect::Bounded, {
    cat(&[
        b"\x80\x03}",
        &binbytes(100 << 10, b'b'),
        b"q\x000(",
        &rep(b"h\x00", 10_000),
        b"tNs.",
    ])
});

// ------------------------------------------------------------------------------------------------
// Floods.

hostile!(hostile_mark_flood_1mib, Expect::Finding, rep(b"(", MIB));

hostile!(hostile_mark_flood_then_stop, Expect::Finding, {
    cat(&[b"\x80\x02", &rep(b"(", MIB), b"."])
});

hostile!(hostile_stack_flood_1m_none, Expect::Bounded, {
    cat(&[b"\x80\x02", &rep(b"N", 2 * N1M), b"."])
});

hostile!(hostile_memo_flood_memoize, Expect::Bounded, {
    cat(&[b"\x80\x04N", &rep(b"\x94", 1_100_000), b"."])
});

hostile!(hostile_memo_flood_long_binput_1m, Expect::Bounded, {
    let mut v = b"\x80\x02N".to_vec();
    for i in 0..N1M as u32 {
        v.push(b'r');
        v.extend_from_slice(&u32le(i));
    }
    v.push(b'.');
    v
});

hostile!(hostile_memo_flood_text_put_1m, Expect::Bounded, {
    let mut v = b"N".to_vec();
    for i in 0..N1M {
        v.extend_from_slice(format!("p{i}\n").as_bytes());
    }
    v.push(b'.');
    v
});

hostile!(
    hostile_long_binput_7fffffff,
    Expect::Bounded,
    b"\x80\x02]r\xff\xff\xff\x7f.".to_vec()
);

hostile!(
    hostile_long_binput_ffffffff,
    Expect::Bounded,
    b"\x80\x02]r\xff\xff\xff\xff.".to_vec()
);

hostile!(
    hostile_long_binget_7fffffff,
    Expect::Raised,
    b"\x80\x02]j\xff\xff\xff\x7f.".to_vec()
);

hostile!(hostile_text_put_huge_index, Expect::Bounded, {
    cat(&[b"]p", &rep(b"9", 5000), b"\n."])
});

hostile!(hostile_text_get_huge_index, Expect::Raised, {
    cat(&[b"]p0\ng", &rep(b"9", 5000), b"\n."])
});

// ------------------------------------------------------------------------------------------------
// Length prefixes that claim gigabytes.

const GIB4: u32 = u32::MAX;

hostile!(
    hostile_binunicode_4gib,
    Expect::Raised,
    cat(&[b"\x80\x02X", &u32le(GIB4), b"abc."])
);
hostile!(
    hostile_binunicode_2gib,
    Expect::Raised,
    cat(&[b"\x80\x02X", &u32le(0x8000_0000), b"abc."])
);
hostile!(
    hostile_binbytes_4gib,
    Expect::Raised,
    cat(&[b"\x80\x03B", &u32le(GIB4), b"abc."])
);
hostile!(
    hostile_binstring_2gib,
    Expect::Raised,
    cat(&[b"T", &u32le(0x7fff_ffff), b"abc."])
);
hostile!(
    hostile_binbytes8_4gib,
    Expect::Raised,
    cat(&[b"\x80\x04\x8e", &u64le(1 << 32), b"abc."])
);
hostile!(
    hostile_binbytes8_max,
    Expect::Raised,
    cat(&[b"\x80\x04\x8e", &u64le(u64::MAX), b"abc."])
);
hostile!(
    hostile_binunicode8_4gib,
    Expect::Raised,
    cat(&[b"\x80\x04\x8d", &u64le(1 << 32), b"abc."])
);
hostile!(
    hostile_binunicode8_max,
    Expect::Raised,
    cat(&[b"\x80\x04\x8d", &u64le(u64::MAX), b"abc."])
);
hostile!(
    hostile_bytearray8_4gib,
    Expect::Raised,
    cat(&[b"\x80\x05\x96", &u64le(1 << 32), b"abc."])
);
hostile!(
    hostile_frame_4gib,
    Expect::Raised,
    cat(&[b"\x80\x04\x95", &u64le(1 << 32), b"N."])
);
hostile!(
    hostile_frame_max,
    Expect::Raised,
    cat(&[b"\x80\x04\x95", &u64le(u64::MAX), b"N."])
);
hostile!(
    hostile_long4_2gib,
    Expect::Raised,
    cat(&[b"\x80\x02\x8b", &u32le(0x7fff_ffff), b"abc."])
);
hostile!(
    hostile_long4_negative,
    Expect::Raised,
    cat(&[b"\x80\x02\x8b", &u32le(GIB4), b"abc."])
);
hostile!(hostile_list_prefix_then_4gib, Expect::Raised, {
    cat(&[
        b"\x80\x03](",
        &rep(b"K\x01", 1000),
        b"B",
        &u32le(GIB4),
        b"e.",
    ])
});

// ------------------------------------------------------------------------------------------------
// Digit strings.

hostile!(
    hostile_int_1mib_digits,
    Expect::Finding,
    cat(&[b"I", &rep(b"1", MIB), b"\n."])
);
hostile!(
    hostile_long_1mib_digits,
    Expect::Finding,
    cat(&[b"L", &rep(b"7", MIB), b"L\n."])
);
hostile!(
    hostile_long_1mib_digits_no_l,
    Expect::Finding,
    cat(&[b"L", &rep(b"7", MIB), b"\n."])
);
hostile!(
    hostile_long4_1mib,
    Expect::Finding,
    cat(&[b"\x80\x02\x8b", &u32le(MIB as u32), &vec![0x5a; MIB], b"."])
);

// Just under the digit budget, where 2.7 and 3.6 (no 4,300-digit limit) convert it.
hostile!(
    hostile_int_99999_digits,
    Expect::Bounded,
    cat(&[b"I", &rep(b"9", 99_999), b"\n."])
);

// 40 LONG4s of 99,999 bytes (240,000 decimal digits each) in a list: conversion to decimal for
// the rendering is the cost.
hostile!(hostile_many_long4_99999, Expect::Bounded, {
    let one = cat(&[b"\x8b", &u32le(99_999), &vec![0x5a; 99_999]]);
    cat(&[b"\x80\x02(", &rep(&one, 40), b"l."])
});

// 40 INT lines of 99,999 digits in a list.
hostile!(hostile_many_int_99999_digits, Expect::Bounded, {
    let one = cat(&[b"I", &rep(b"9", 99_999), b"\n"]);
    cat(&[b"(", &rep(&one, 40), b"l."])
});

hostile!(
    hostile_float_1mib_digits,
    Expect::Bounded,
    cat(&[b"F", &rep(b"1", MIB), b"\n."])
);

// ------------------------------------------------------------------------------------------------
// Big and colliding dicts.

// A million distinct int keys.
hostile!(hostile_dict_1m_int_keys, Expect::Bounded, {
    let mut v = b"\x80\x02}(".to_vec();
    for i in 0..N1M as u32 {
        v.push(b'J');
        v.extend_from_slice(&u32le(i));
        v.push(b'N');
    }
    v.extend_from_slice(b"u.");
    v
});

// A million SETITEMs on keys that are all equal in Python: 1, 1.0, True, 1L.
hostile!(hostile_dict_equal_keys_1m, Expect::Bounded, {
    let keys: [&[u8]; 4] = [
        b"K\x01",
        b"G\x3f\xf0\x00\x00\x00\x00\x00\x00",
        b"\x88",
        b"\x8a\x01\x01",
    ];
    let mut v = b"\x80\x02}(".to_vec();
    for i in 0..N1M {
        v.extend_from_slice(keys[i % 4]);
        v.push(b'N');
    }
    v.extend_from_slice(b"u.");
    v
});

// Ints congruent mod 2**61-1 (CPython's hash modulus: all hash alike) as 100,000 keys.
hostile!(hostile_dict_hash_colliding_ints, Expect::Bounded, {
    let mut v = b"\x80\x02}(".to_vec();
    let m: u128 = (1u128 << 61) - 1;
    for i in 0..100_000u128 {
        let k = 7 + i * m;
        let bytes = k.to_le_bytes();
        let mut n = 16;
        while n > 1 && bytes[n - 1] == 0 && bytes[n - 2] & 0x80 == 0 {
            n -= 1;
        }
        v.push(0x8a);
        v.push(n as u8);
        v.extend_from_slice(&bytes[..n]);
        v.push(b'N');
    }
    v.extend_from_slice(b"u.");
    v
});

// 200,000 NaN keys (never equal to each other in Python) and 200,000 -0.0/0.0 keys (all equal).
hostile!(hostile_dict_nan_and_zero_keys, Expect::Bounded, {
    let mut v = b"\x80\x02}(".to_vec();
    for i in 0..400_000usize {
        v.push(b'G');
        let f: f64 = match i % 4 {
            0 | 1 => f64::NAN,
            2 => 0.0,
            _ => -0.0,
        };
        v.extend_from_slice(&f.to_be_bytes());
        v.push(b'N');
    }
    v.extend_from_slice(b"u.");
    v
});

// 100,000 distinct tuple keys of 50 items each that agree on all but the last.
hostile!(hostile_dict_long_tuple_keys, Expect::Bounded, {
    let mut v = b"\x80\x02}(".to_vec();
    for i in 0..100_000u32 {
        v.push(b'(');
        v.extend_from_slice(&rep(b"K\x07", 49));
        v.push(b'J');
        v.extend_from_slice(&u32le(i));
        v.extend_from_slice(b"tN");
    }
    v.extend_from_slice(b"u.");
    v
});

// A set of 1,000,000 ADDITEMS of 64 distinct values.
hostile!(hostile_set_repeated_items_1m, Expect::Bounded, {
    let mut v = b"\x80\x04\x8f(".to_vec();
    for i in 0..N1M {
        v.extend_from_slice(&[b'K', (i % 64) as u8]);
    }
    v.extend_from_slice(b"\x90.");
    v
});

// ------------------------------------------------------------------------------------------------
// Strings and the report layer.

// An 8 MiB string shared 100,000 times in a list (CPython: one string, 100,000 references).
hostile!(hostile_big_string_shared_100k, Expect::Bounded, {
    cat(&[
        b"\x80\x02",
        &binunicode(&vec![b'z'; 8 * MIB]),
        b"q\x000(",
        &rep(b"h\x00", 100_000),
        b"l.",
    ])
});

// A 1 MiB string memoized under 8,000 indexes (LONG_BINPUT): one object, 8,000 memo entries.
hostile!(hostile_big_string_memoized_8000_times, Expect::Bounded, {
    let mut v = cat(&[b"\x80\x02", &binunicode(&vec![b'z'; MIB])]);
    for i in 0..8000u32 {
        v.push(b'r');
        v.extend_from_slice(&u32le(i));
    }
    v.push(b'.');
    v
});

// 5,000,000 None pushed and popped: the node budget (5M) is reached with a tiny stack.
hostile!(hostile_node_budget_none_pop_5m, Expect::Bounded, {
    cat(&[b"\x80\x02", &rep(b"N0", 5_000_000), b"N."])
});

// 5,000 STRING opcodes of 2 KiB escapes each (escape decoding in the model and in `inspect`).
hostile!(hostile_many_escaped_strings, Expect::Bounded, {
    let one = cat(&[b"S'", &rep(b"\\x41", 512), b"'\n"]);
    cat(&[b"(", &rep(&one, 5000), b"l."])
});

// 1 MiB of UNICODE raw-unicode-escape `\U0010ffff`.
hostile!(
    hostile_unicode_escapes_1mib,
    Expect::Bounded,
    cat(&[b"V", &rep(b"\\U0010ffff", MIB / 10), b"\n."])
);

// 20,000 GLOBAL opcodes with 1 KiB names (imports, the security scan and the report).
hostile!(hostile_many_globals, Expect::Bounded, {
    let one = cat(&[b"cappmod\n", &rep(b"N", 1024), b"\n0"]);
    cat(&[&rep(&one, 20_000), b"N."])
});

/// `(text of n 'a's, global(m.é))`: a class name is not ASCII-escaped in the rendering (a py3 class
/// may be called `Café`), and `n` places its 2-byte character at any offset.
fn text_then_non_ascii_global(n: usize) -> Vec<u8> {
    cat(&[
        b"\x80\x04X",
        &u32le(n as u32),
        &vec![b'a'; n],
        b"\x8c\x01m\x8c\x02\xc3\xa9\x93\x86.",
    ])
}

/// `inspect`'s text form previews a value in its first 200 bytes: the cut must fall on a char
/// boundary. Every offset of the 2-byte character around the cut is tried.
#[test]
fn inspect_preview_cut_inside_non_ascii_name() {
    let rts = [Runtime::new(3, 13)];
    for n in 150..=200 {
        exercise(&text_then_non_ascii_global(n), &rts, &LoadConfig::default());
    }
}

/// `render` cuts a rendering longer than its cap: the cut must fall on a char boundary.
#[test]
fn render_cap_cut_inside_non_ascii_name() {
    let rt = Runtime::new(3, 13);
    for n in render::MAX_RENDER - 40..=render::MAX_RENDER {
        let r = load::load(&text_then_non_ascii_global(n), rt, &LoadConfig::default());
        if let Outcome::Loaded { heap, root } = r.outcome {
            let text = render::render(&heap, root, rt);
            assert!(text.len() <= RENDER_BOUND);
        }
    }
}

/// robustness.md (measured): CPython's C unpickler sizes its memo array from a LONG_BINPUT index, so
/// `]r\xff\xff\xff\x7f.` raises MemoryError on 3.6-3.13 (2.7's cPickle keeps a dict: it loads).
#[test]
fn long_binput_7fffffff_is_memoryerror_on_3_6_to_3_13() {
    let data = b"\x80\x02]r\xff\xff\xff\x7f.";
    for minor in 6..=13 {
        let rt = Runtime::new(3, minor);
        let r = load::load(data, rt, &LoadConfig::default());
        match &r.outcome {
            Outcome::Raised(e) => assert_eq!(e.ty, "MemoryError", "{rt}: {e}"),
            Outcome::Loaded { .. } => {
                panic!("{rt}: the model loads {data:?}; CPython raises MemoryError")
            }
            Outcome::Unknown(u) => panic!("{rt}: unknown ({u:?}); CPython raises MemoryError"),
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Truncation: every prefix of ~20 corpus pickles, for every runtime.

/// Varied corpus pickles: every protocol, py2 and py3 writers, containers, shared and recursive
/// values, instances, big ints and long strings.
const TRUNCATION_IDS: &[&str] = &[
    "2.7-cpickle/p0/app_new_nested",
    "2.7-cpickle/p0/session_mixed",
    "2.7-cpickle/p1/dict_tuple_keys",
    "2.7-cpickle/p2/recursive_dict",
    "2.7-pickle/p2/datetime_2020_us",
    "2.7-pickle/p0/text_surrogate_pair",
    "3.6/p3/bytes_len_256",
    "3.6/p4/ordereddict",
    "3.8/p0/float_nan",
    "3.8/p5/bytearray_ab",
    "3.9/p2/set_text",
    "3.10/p4/shared_dict_in_tuple",
    "3.11/p1/int_2p1000",
    "3.11/p3/defaultdict_list",
    "3.12/p4/exc_valueerror",
    "3.12/p5/frozenset_ints",
    "3.13/p0/pystr_special_p0",
    "3.13/p2/app_new",
    "3.13/p4/session_mixed",
    "3.13/p5/list_deep_20",
    "3.13/p5/recursive_tuple",
    "3.13/p4/datetime_utc",
];

#[test]
fn truncation_at_every_offset_never_loads_without_stop() {
    let pickles = common::pickles();
    let rts = Runtime::all();
    let configs = [
        LoadConfig::default(),
        LoadConfig {
            options: LoadOptions::parse("encoding=bytes").expect("options"),
            ..LoadConfig::default()
        },
    ];
    let mut found = 0;
    let mut figures = [0usize; 4]; // prefixes, raised, unknown, loaded-with-stop
    let t = Instant::now();
    for id in TRUNCATION_IDS {
        let Some(data) = pickles.get(*id) else {
            println!("truncation: {id} not in the corpus, skipped");
            continue;
        };
        found += 1;
        for k in 0..data.len() {
            let prefix = &data[..k];
            let stop_kept = parse::parse(prefix, usize::MAX).end.is_ok();
            for (ci, cfg) in configs.iter().enumerate() {
                let seen = exercise(prefix, &rts, cfg);
                figures[0] += 1;
                for (rt, s, _) in &seen {
                    match s {
                        Seen::Loaded { .. } => {
                            assert!(
                                stop_kept,
                                "{id}[..{k}] (config {ci}): {rt} loads a prefix without STOP: {}",
                                common::hex(prefix)
                            );
                            figures[3] += 1;
                        }
                        Seen::Raised(_) => figures[1] += 1,
                        Seen::Budget(_) | Seen::Feature(_) => figures[2] += 1,
                    }
                }
            }
        }
    }
    println!(
        "truncation: {found} pickles, {} prefixes x configs, x {} runtimes: {} raised, {} unknown, \
         {} loaded (STOP kept); {:.2} s",
        figures[0],
        rts.len(),
        figures[1],
        figures[2],
        figures[3],
        t.elapsed().as_secs_f64()
    );
    assert!(
        found >= 15,
        "only {found} of the truncation pickles are in the corpus"
    );
}

// ------------------------------------------------------------------------------------------------
// The stable-Rust smoke test of the fuzz target's body: seeded mutations of corpus pickles.

/// xorshift64*: deterministic, no dependency.
use common::mutate::{Rng, mutate};

#[test]
fn mutation_smoke() {
    let mut pickles: Vec<(String, Vec<u8>)> = common::pickles().into_iter().collect();
    pickles.sort();
    let opcodes: Vec<u8> = ops::OPCODES.iter().map(|o| o.code).collect();
    let rts: Vec<Runtime> = ["2.7", "2.7-pickle", "3.0", "3.6", "3.8", "3.13", "3.14"]
        .iter()
        .map(|s| Runtime::parse(s).expect("runtime"))
        .collect();
    let configs: Vec<LoadConfig> = [
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
    .collect();
    let n: usize = std::env::var("MUTATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50_000);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut tally = [0usize; 4]; // loaded, raised, budget, feature
    let t = Instant::now();
    for i in 0..n {
        let (_, base) = &pickles[rng.below(pickles.len())];
        let data = mutate(&mut rng, base, &opcodes);
        if std::env::var_os("MUTATION_TRACE").is_some() {
            eprintln!("mutation {i}: {}", common::hex(&data));
        }
        for (_, s, _) in exercise(&data, &rts, &configs[i % configs.len()]) {
            tally[match s {
                Seen::Loaded { .. } => 0,
                Seen::Raised(_) => 1,
                Seen::Budget(_) => 2,
                Seen::Feature(_) => 3,
            }] += 1;
        }
    }
    println!(
        "mutation_smoke: {n} mutations x {} runtimes: {} loaded, {} raised, {} budget, {} unmodelled; {:.2} s",
        rts.len(),
        tally[0],
        tally[1],
        tally[2],
        tally[3],
        t.elapsed().as_secs_f64()
    );
}
