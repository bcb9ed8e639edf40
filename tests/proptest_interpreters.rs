//! Property test with the real interpreters in the loop: generated unicode-heavy values (py2 `str`
//! of UTF-8, latin-1 and binary bytes; text with CJK, emoji, combining marks, RTL, surrogates;
//! nested and shared containers; datetimes; big ints) are written by one real runtime
//! (`corpora/gen/oracle.py` `build`) and loaded by every real reader under every option set
//! (`load`); the model's prediction (`runtime::load` + `render`) must be what the reader did.
//! Writers: 2.7 cPickle at protocols 0-2, the C pickle of 3.6-3.14 at every protocol. Readers:
//! 2.7 cPickle, and 3.6-3.15 under each option set of corpora/README.md (3.14: Pyodide; 3.15:
//! CPython 3.15.2 built by Debian, a reader only, so that the default seed draws the same cases
//! as before it came; see common::python_command).
//!
//! Deterministic: a fixed proptest seed draws the cases up front (`CACHE_COMPAT_PROPTEST_CASES`,
//! default 10,000; `CACHE_COMPAT_PROPTEST_SEED`, a u64). One oracle process per interpreter gets
//! every request of a phase in one stream. A disagreement is shrunk (proptest's value tree, one
//! oracle round trip per candidate) and printed; `CACHE_COMPAT_PROPTEST_SHRINK_KINDS` (default 1)
//! shrinks the first case of that many kinds of disagreement. All disagreements are written to
//! `target/proptest-interpreters-disagreements.txt`, the drawn cases (spec, writer, pickle) to
//! `target/proptest-interpreters-cases.jsonl`. Values a writer cannot build or pickle are counted
//! and skipped, and so are oracle answers starting with `!` and values the models left opaque.

mod common;

use cache_compat::pickle::parse;
use cache_compat::runtime::load::{self, AppClasses, LoadConfig, LoadResult, Outcome};
use cache_compat::runtime::{Runtime, render};
use num_bigint::{BigInt, Sign};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

// ---------------------------------------------------------------------------------------------
// runtimes, writers, readers

const INTERPRETERS: [&str; 11] = [
    "2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15",
];

/// The writers: the first this many of [`INTERPRETERS`] (3.15 reads only).
const WRITERS: usize = 10;

fn highest_protocol(version: &str) -> u8 {
    match version {
        "2.7" => 2,
        "3.6" | "3.7" => 4,
        _ => 5,
    }
}

/// Option sets of corpora/README.md: (name, `loads()` keyword arguments).
const OPTSETS: [(&str, &str); 6] = [
    ("default", "{}"),
    ("latin1", r#"{"encoding": "latin1"}"#),
    ("bytes", r#"{"encoding": "bytes"}"#),
    ("utf8", r#"{"encoding": "utf-8"}"#),
    (
        "utf8-surrogateescape",
        r#"{"encoding": "utf-8", "errors": "surrogateescape"}"#,
    ),
    ("no-fix-imports", r#"{"fix_imports": false}"#),
];

fn optsets_of(version: &str) -> &'static [(&'static str, &'static str)] {
    if version == "2.7" {
        &OPTSETS[..1]
    } else {
        &OPTSETS[..]
    }
}

/// Writer pairs (interpreter index, protocol); 2.7 weighs 3 interpreters' worth (py2 `str`).
fn writer_of(sel: u32) -> (usize, u8) {
    let weights: Vec<u32> = INTERPRETERS[..WRITERS]
        .iter()
        .map(|v| if *v == "2.7" { 3 } else { 1 })
        .collect();
    let total: u32 = weights.iter().sum();
    let mut x = sel % total;
    let mut idx = 0;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            idx = i;
            break;
        }
        x -= w;
    }
    let protos = highest_protocol(INTERPRETERS[idx]) as u32 + 1;
    (idx, ((sel / total) % protos) as u8)
}

fn writer_name(w: (usize, u8)) -> String {
    let v = INTERPRETERS[w.0];
    if v == "2.7" {
        format!("2.7-cpickle p{}", w.1)
    } else {
        format!("{v} p{}", w.1)
    }
}

fn load_config(optset: &str) -> LoadConfig {
    // corpora/gen/appmod.py: `New` is new-style, `Old` is classic on Python 2.
    let mut apps = AppClasses::only(["appmod".to_string()]);
    apps.py2_classic.insert("appmod.Old".into());
    LoadConfig {
        options: common::optset(optset),
        apps,
        ..LoadConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// SPEC values (corpora/README.md, `build`)

#[derive(Clone, Debug, PartialEq)]
enum Spec {
    None,
    Bool(bool),
    Int(String),
    Long(String),
    Float(u64),
    Bytes(Vec<u8>),
    Text(Vec<u32>),
    ByteArray(Vec<u8>),
    List(Vec<Spec>),
    Tuple(Vec<Spec>),
    Dict(Vec<(Spec, Spec)>),
    Set(Vec<Spec>),
    FrozenSet(Vec<Spec>),
    DateTime([i64; 7]),
    Date([i64; 3]),
    Time([i64; 4]),
    TimeDelta([i64; 3]),
    Decimal(String),
    OrderedDict(Vec<(Spec, Spec)>),
    Complex(u64, u64),
    /// Attribute names are JSON object keys (no lone surrogates); sorted, distinct.
    New(Vec<(String, Spec)>),
    Def(u32, Box<Spec>),
    Ref(u32),
    /// Generation only: "remember this value" (becomes `Def`).
    Shared(Box<Spec>),
    /// Generation only: "a reference to some earlier value" (becomes `Ref`, or `None` if there is
    /// nothing to refer to); the flag says the slot needs a hashable value.
    Hole(u32, bool),
}

fn text_json(cps: &[u32]) -> Value {
    json!(cps)
}

impl Spec {
    fn to_json(&self) -> Value {
        match self {
            Spec::None => json!(["none"]),
            Spec::Bool(b) => json!(["bool", b]),
            Spec::Int(s) => json!(["int", s]),
            Spec::Long(s) => json!(["long", s]),
            Spec::Float(b) => json!(["float", format!("{b:016x}")]),
            Spec::Bytes(b) => json!(["bytes", common::hex(b)]),
            Spec::Text(t) => json!(["text", text_json(t)]),
            Spec::ByteArray(b) => json!(["bytearray", common::hex(b)]),
            Spec::List(v) => json!(["list", v.iter().map(Spec::to_json).collect::<Vec<_>>()]),
            Spec::Tuple(v) => json!(["tuple", v.iter().map(Spec::to_json).collect::<Vec<_>>()]),
            Spec::Set(v) => json!(["set", v.iter().map(Spec::to_json).collect::<Vec<_>>()]),
            Spec::FrozenSet(v) => {
                json!(["frozenset", v.iter().map(Spec::to_json).collect::<Vec<_>>()])
            }
            Spec::Dict(kv) => json!([
                "dict",
                kv.iter()
                    .map(|(k, v)| json!([k.to_json(), v.to_json()]))
                    .collect::<Vec<_>>()
            ]),
            Spec::OrderedDict(kv) => json!([
                "ordereddict",
                kv.iter()
                    .map(|(k, v)| json!([k.to_json(), v.to_json()]))
                    .collect::<Vec<_>>()
            ]),
            Spec::DateTime(a) => json!(["datetime", a]),
            Spec::Date(a) => json!(["date", a]),
            Spec::Time(a) => json!(["time", a]),
            Spec::TimeDelta(a) => json!(["timedelta", a]),
            Spec::Decimal(s) => json!(["decimal", s]),
            Spec::Complex(r, i) => json!(["complex", [format!("{r:016x}"), format!("{i:016x}")]]),
            Spec::New(attrs) => {
                let m: serde_json::Map<String, Value> = attrs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect();
                json!(["new", m])
            }
            Spec::Def(n, inner) => json!(["def", format!("s{n}"), inner.to_json()]),
            Spec::Ref(n) => json!(["ref", format!("s{n}")]),
            Spec::Shared(_) | Spec::Hole(..) => unreachable!("unresolved spec"),
        }
    }
}

/// Resolve `Shared`/`Hole` into `Def`/`Ref` in the order the oracle's builder builds (list items,
/// dict key then value, `new` attributes by sorted name): a list or dict def can be referred to
/// from inside itself (a cycle), any other def only once it is built; a hashable slot refers only
/// to hashable defs.
struct Resolver {
    /// Defs available to refer to: (number, hashable).
    avail: Vec<(u32, bool)>,
    hashable: HashMap<u32, bool>,
    next: u32,
}

impl Resolver {
    fn run(raw: Spec) -> Spec {
        let mut r = Resolver {
            avail: Vec::new(),
            hashable: HashMap::new(),
            next: 0,
        };
        r.go(raw)
    }

    fn is_hashable(&self, s: &Spec) -> bool {
        match s {
            Spec::List(_)
            | Spec::Dict(_)
            | Spec::Set(_)
            | Spec::ByteArray(_)
            | Spec::OrderedDict(_)
            | Spec::New(_) => false,
            Spec::Decimal(d) => !d.to_ascii_lowercase().contains("nan"),
            Spec::Tuple(v) | Spec::FrozenSet(v) => v.iter().all(|x| self.is_hashable(x)),
            Spec::Def(_, inner) => self.is_hashable(inner),
            Spec::Ref(n) => self.hashable.get(n).copied().unwrap_or(false),
            _ => true,
        }
    }

    fn go(&mut self, s: Spec) -> Spec {
        match s {
            Spec::List(v) => Spec::List(v.into_iter().map(|x| self.go(x)).collect()),
            Spec::Tuple(v) => Spec::Tuple(v.into_iter().map(|x| self.go(x)).collect()),
            Spec::Set(v) => Spec::Set(v.into_iter().map(|x| self.go(x)).collect()),
            Spec::FrozenSet(v) => Spec::FrozenSet(v.into_iter().map(|x| self.go(x)).collect()),
            Spec::Dict(kv) => Spec::Dict(
                kv.into_iter()
                    .map(|(k, v)| (self.go(k), self.go(v)))
                    .collect(),
            ),
            Spec::OrderedDict(kv) => Spec::OrderedDict(
                kv.into_iter()
                    .map(|(k, v)| (self.go(k), self.go(v)))
                    .collect(),
            ),
            Spec::New(attrs) => {
                Spec::New(attrs.into_iter().map(|(k, v)| (k, self.go(v))).collect())
            }
            Spec::Shared(inner) => {
                let n = self.next;
                self.next += 1;
                if matches!(*inner, Spec::List(_) | Spec::Dict(_)) {
                    self.hashable.insert(n, false);
                    self.avail.push((n, false));
                    let built = self.go(*inner);
                    Spec::Def(n, Box::new(built))
                } else {
                    let built = self.go(*inner);
                    let h = self.is_hashable(&built);
                    self.hashable.insert(n, h);
                    self.avail.push((n, h));
                    Spec::Def(n, Box::new(built))
                }
            }
            Spec::Hole(sel, need_hash) => {
                let cands: Vec<u32> = self
                    .avail
                    .iter()
                    .filter(|(_, h)| *h || !need_hash)
                    .map(|(n, _)| *n)
                    .collect();
                if cands.is_empty() {
                    Spec::None
                } else {
                    Spec::Ref(cands[sel as usize % cands.len()])
                }
            }
            other => other,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// strategies

/// Code point ranges of a unicode-heavy text: (weight, ranges), a range being `lo..=hi`.
const CP_BUCKETS: &[(u32, &[(u32, u32)])] = &[
    (4, &[(0x20, 0x7e)]),
    // what protocol 0's raw-unicode-escape and the py2 `S'...'` repr must escape or could misread
    (
        2,
        &[
            (0x5c, 0x5c),
            (0x75, 0x75),
            (0x55, 0x55),
            (0x78, 0x78),
            (0x4e, 0x4e),
            (0x30, 0x30),
            (0x61, 0x61),
            (0x46, 0x46),
            (0x7b, 0x7b),
            (0x0a, 0x0a),
            (0x0d, 0x0d),
            (0x00, 0x00),
            (0x1a, 0x1a),
            (0x27, 0x27),
            (0x22, 0x22),
        ],
    ),
    (1, &[(0x00, 0x1f), (0x7f, 0x9f)]),
    (2, &[(0xa0, 0xff)]),
    // combining marks
    (2, &[(0x300, 0x36f), (0x1ab0, 0x1aff), (0x20d0, 0x20ff)]),
    // RTL: Hebrew, Arabic, bidi controls
    (
        2,
        &[
            (0x591, 0x5f4),
            (0x600, 0x6ff),
            (0x200e, 0x200f),
            (0x202a, 0x202e),
            (0x2066, 0x2069),
        ],
    ),
    // CJK, kana, hangul, fullwidth
    (
        3,
        &[
            (0x4e00, 0x9fff),
            (0x3040, 0x30ff),
            (0xac00, 0xd7a3),
            (0xff01, 0xff5e),
        ],
    ),
    // emoji and their joiners / selectors / modifiers
    (
        3,
        &[
            (0x1f300, 0x1faff),
            (0x200d, 0x200d),
            (0xfe0f, 0xfe0f),
            (0x1f3fb, 0x1f3ff),
            (0x2600, 0x27bf),
        ],
    ),
    (1, &[(0x100, 0xd7ff), (0xe000, 0xffff)]),
    (
        1,
        &[
            (0xfffe, 0xffff),
            (0xfeff, 0xfeff),
            (0x10ffff, 0x10ffff),
            (0xe000, 0xe000),
            (0xfffd, 0xfffd),
            (0x85, 0x85),
            (0x2028, 0x2029),
            (0x7ff, 0x800),
        ],
    ),
    (1, &[(0x10000, 0x10ffff)]),
];
/// Lone high, lone low, and a high+low pair of surrogates.
const SURROGATE_WEIGHT: u32 = 2;

fn pick_range(ranges: &[(u32, u32)], r: u32) -> u32 {
    let (lo, hi) = ranges[(r as usize) % ranges.len()];
    lo + (r / ranges.len() as u32) % (hi - lo + 1)
}

fn token_of(surrogates: bool, sel: u32, a: u32, b: u32) -> Vec<u32> {
    let mut x = sel;
    for (w, ranges) in CP_BUCKETS {
        if x < *w {
            return vec![pick_range(ranges, a)];
        }
        x -= w;
    }
    debug_assert!(surrogates);
    let hi = 0xd800 + a % 0x400;
    let lo = 0xdc00 + b % 0x400;
    match b % 3 {
        0 => vec![hi],
        1 => vec![lo],
        _ => vec![hi, lo],
    }
}

/// One to two code points of a unicode-heavy text. One flat draw per token (no union of
/// strategies): proptest's unions clone the runner for every arm before the one picked.
fn cp_token(surrogates: bool) -> BoxedStrategy<Vec<u32>> {
    let total: u32 = CP_BUCKETS.iter().map(|(w, _)| w).sum::<u32>()
        + if surrogates { SURROGATE_WEIGHT } else { 0 };
    (0..total, 0u32..0x110000, 0u32..0xc00)
        .prop_map(move |(sel, a, b)| token_of(surrogates, sel, a, b))
        .boxed()
}

fn text_cps(surrogates: bool) -> BoxedStrategy<Vec<u32>> {
    prop_oneof![
        30 => prop::collection::vec(cp_token(surrogates), 0..10),
        // long (past the 1- and 2-byte length opcodes), as a repeated run so it shrinks quickly
        1 => (prop::collection::vec(cp_token(surrogates), 1..6), 24usize..48)
            .prop_map(|(run, k)| (0..k).flat_map(|_| run.iter().cloned()).collect()),
    ]
    .prop_map(|v| v.into_iter().flatten().collect())
    .boxed()
}

/// UTF-8 as Python 2 encodes a unicode (lone surrogates as 3-byte sequences, a high+low pair
/// joined into one 4-byte sequence).
fn utf8_py2(cps: &[u32]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < cps.len() {
        let mut c = cps[i];
        if (0xd800..0xdc00).contains(&c)
            && i + 1 < cps.len()
            && (0xdc00..0xe000).contains(&cps[i + 1])
        {
            c = 0x10000 + ((c - 0xd800) << 10) + (cps[i + 1] - 0xdc00);
            i += 1;
        }
        i += 1;
        match c {
            0..=0x7f => out.push(c as u8),
            0x80..=0x7ff => out.extend([0xc0 | (c >> 6) as u8, 0x80 | (c & 0x3f) as u8]),
            0x800..=0xffff => out.extend([
                0xe0 | (c >> 12) as u8,
                0x80 | ((c >> 6) & 0x3f) as u8,
                0x80 | (c & 0x3f) as u8,
            ]),
            _ => out.extend([
                0xf0 | (c >> 18) as u8,
                0x80 | ((c >> 12) & 0x3f) as u8,
                0x80 | ((c >> 6) & 0x3f) as u8,
                0x80 | (c & 0x3f) as u8,
            ]),
        }
    }
    out
}

/// py2 `str` / py3 `bytes` contents.
fn bytes_strategy() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        5 => text_cps(false).prop_map(|t| utf8_py2(&t)),
        1 => text_cps(true).prop_map(|t| utf8_py2(&t)),
        1 => text_cps(false).prop_map(|t| {
            let mut b = utf8_py2(&t);
            if b.last().is_some_and(|x| *x >= 0x80) {
                b.pop();
            }
            b
        }),
        2 => prop::collection::vec(0x20u8..0x7f, 0..12),
        2 => prop::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff], 0..12),
        2 => prop::collection::vec(any::<u8>(), 0..16),
        1 => (any::<u8>(), 250usize..262).prop_map(|(b, n)| vec![b; n]),
    ]
    .boxed()
}

fn int_text() -> BoxedStrategy<String> {
    let boundaries: Vec<BigInt> = [7u32, 8, 15, 16, 31, 32, 63, 64, 127, 128]
        .iter()
        .flat_map(|&k| {
            let p = BigInt::from(1) << k;
            [
                p.clone() - 1,
                p.clone(),
                p.clone() + 1,
                -p.clone() - 1,
                -p.clone(),
                -p + 1,
            ]
        })
        .collect();
    prop_oneof![
        4 => (-300i64..300).prop_map(|i| i.to_string()),
        2 => prop::sample::select(boundaries).prop_map(|b| b.to_string()),
        2 => any::<i64>().prop_map(|i| i.to_string()),
        2 => (any::<bool>(), prop::collection::vec(any::<u32>(), 2..9)).prop_map(|(neg, words)| {
            let sign = if neg { Sign::Minus } else { Sign::Plus };
            BigInt::from_slice(sign, &words).to_string()
        }),
        1 => (any::<bool>(), 4290usize..4310, 1u8..10).prop_map(|(neg, n, d)| {
            let digit = (b'0' + d) as char;
            format!("{}{}", if neg { "-" } else { "" }, std::iter::repeat_n(digit, n).collect::<String>())
        }),
    ]
    .boxed()
}

fn float_bits() -> BoxedStrategy<u64> {
    prop_oneof![
        3 => (-1000i32..1000, 0u32..4).prop_map(|(m, e)| (m as f64 / 2f64.powi(e as i32)).to_bits()),
        2 => any::<u64>(),
        2 => prop::sample::select(vec![
            0u64,
            0x8000000000000000,
            0x7ff0000000000000,
            0xfff0000000000000,
            0x7ff8000000000000,
            0xfff8000000000000,
            0x7ff0000000000001,
            0x7ff8000000000123,
            0x0000000000000001,
            0x7fefffffffffffff,
            (0.1f64).to_bits(),
            (1e16f64).to_bits(),
            (1e-7f64).to_bits(),
            (123456789.125f64).to_bits(),
        ]),
    ]
    .boxed()
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn micros() -> BoxedStrategy<i64> {
    prop_oneof![
        2 => Just(0i64),
        3 => 0i64..1_000_000,
        1 => prop::sample::select(vec![1i64, 127, 128, 255, 256, 999_999, 0x8080, 0xff00]),
    ]
    .boxed()
}

fn datetime_strategy() -> BoxedStrategy<Spec> {
    let ymd = (1900i64..=2100, 1i64..=12, 1i64..=31)
        .prop_map(|(y, m, d)| (y, m, d.min(days_in_month(y, m))));
    prop_oneof![
        4 => (ymd.clone(), 0i64..24, 0i64..60, 0i64..60, micros())
            .prop_map(|((y, m, d), hh, mm, ss, us)| Spec::DateTime([y, m, d, hh, mm, ss, us])),
        1 => ymd.prop_map(|(y, m, d)| Spec::Date([y, m, d])),
        1 => (0i64..24, 0i64..60, 0i64..60, micros()).prop_map(|(h, m, s, us)| Spec::Time([h, m, s, us])),
        1 => (-1_000_000i64..1_000_000, 0i64..86400, micros()).prop_map(|(d, s, us)| Spec::TimeDelta([d, s, us])),
    ]
    .boxed()
}

fn decimal_text(nan: bool) -> BoxedStrategy<String> {
    let mut fixed = vec![
        "0",
        "-0",
        "1.10",
        "3.14159",
        "-1E+10",
        "1e-7",
        "0.000",
        "-Infinity",
        "Infinity",
        "12345678901234567890.5",
    ];
    if nan {
        fixed.extend(["NaN", "-NaN", "NaN123"]);
    }
    let fixed: Vec<String> = fixed.into_iter().map(String::from).collect();
    prop_oneof![
        1 => prop::sample::select(fixed),
        1 => (any::<i64>(), -30i32..30).prop_map(|(m, e)| format!("{m}E{e}")),
    ]
    .boxed()
}

/// Scalars (hashable ones only when `hashable`).
fn scalar(hashable: bool) -> BoxedStrategy<Spec> {
    let mut arms: Vec<(u32, BoxedStrategy<Spec>)> = vec![
        // the heavy arms first: a union clones the runner for every arm before the one picked
        (7, bytes_strategy().prop_map(Spec::Bytes).boxed()),
        (7, text_cps(true).prop_map(Spec::Text).boxed()),
        (2, int_text().prop_map(Spec::Int).boxed()),
        (2, datetime_strategy()),
        (1, int_text().prop_map(Spec::Long).boxed()),
        (
            1,
            prop_oneof![Just(Spec::None), any::<bool>().prop_map(Spec::Bool)].boxed(),
        ),
        (1, float_bits().prop_map(Spec::Float).boxed()),
        (1, decimal_text(!hashable).prop_map(Spec::Decimal).boxed()),
        (
            1,
            (float_bits(), float_bits())
                .prop_map(|(r, i)| Spec::Complex(r, i))
                .boxed(),
        ),
    ];
    if !hashable {
        arms.push((1, bytes_strategy().prop_map(Spec::ByteArray).boxed()));
    }
    proptest::strategy::Union::new_weighted(arms).boxed()
}

/// Values for dict keys and set items: mostly text and py2 str, some tuples and frozensets.
fn hashable_strategy() -> BoxedStrategy<Spec> {
    let leaf = prop_oneof![
        5 => text_cps(true).prop_map(Spec::Text),
        5 => bytes_strategy().prop_map(Spec::Bytes),
        3 => scalar(true),
        1 => any::<u32>().prop_map(|n| Spec::Hole(n, true)),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        let c = prop_oneof![
            2 => items(inner.clone(), 3).prop_map(Spec::Tuple),
            1 => items(inner, 3).prop_map(Spec::FrozenSet),
        ];
        (proptest::bool::weighted(0.25), c)
            .prop_map(|(share, c)| if share { Spec::Shared(Box::new(c)) } else { c })
    })
    .boxed()
}

fn attr_name() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-z_][a-z0-9_]{0,6}",
        2 => text_cps(false).prop_map(|t| t.into_iter().filter_map(char::from_u32).collect::<String>()),
    ]
    .boxed()
}

/// Container items: 1..=max mostly, sometimes none.
fn items<T: Strategy + 'static>(item: T, max: usize) -> BoxedStrategy<Vec<T::Value>>
where
    T::Value: 'static,
{
    let item = std::sync::Arc::new(item);
    prop_oneof![
        6 => prop::collection::vec(item.clone(), 1..=max),
        1 => prop::collection::vec(item, 0..1),
    ]
    .boxed()
}

fn spec_strategy() -> BoxedStrategy<Spec> {
    let leaf = prop_oneof![
        12 => scalar(false),
        1 => any::<u32>().prop_map(|n| Spec::Hole(n, false)),
    ];
    let leaf = (proptest::bool::weighted(0.08), leaf).prop_map(|(share, s)| {
        if share && !matches!(s, Spec::Hole(..)) {
            Spec::Shared(Box::new(s))
        } else {
            s
        }
    });
    // prop_recursive calls this closure on every draw: the strategies it uses are built once here.
    let (hashable, attr) = (hashable_strategy(), attr_name());
    let raw = leaf.prop_recursive(4, 48, 5, move |inner| {
        let kv = (hashable.clone(), inner.clone());
        let c = prop_oneof![
            3 => items(inner.clone(), 5).prop_map(Spec::List),
            2 => items(inner.clone(), 5).prop_map(Spec::Tuple),
            3 => items(kv.clone(), 5).prop_map(Spec::Dict),
            1 => items(hashable.clone(), 5).prop_map(Spec::Set),
            1 => items(hashable.clone(), 5).prop_map(Spec::FrozenSet),
            1 => items(kv, 4).prop_map(Spec::OrderedDict),
            1 => items((attr.clone(), inner), 4).prop_map(|attrs| {
                let m: BTreeMap<String, Spec> = attrs.into_iter().collect();
                Spec::New(m.into_iter().collect())
            }),
        ];
        (proptest::bool::weighted(0.25), c)
            .prop_map(|(share, c)| if share { Spec::Shared(Box::new(c)) } else { c })
    });
    raw.prop_map(Resolver::run).boxed()
}

fn writer_strategy() -> BoxedStrategy<u32> {
    any::<u32>().boxed()
}

type Trees = (
    Box<dyn ValueTree<Value = u32>>,
    Box<dyn ValueTree<Value = Spec>>,
);

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The runner's configuration: no failure persistence (the runner is cloned for every lazily
/// generated union arm, so it is kept cheap to clone).
fn runner_config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

/// Case `case` of the run with `seed`: its own runner (XorShift seeded from both), so any case can
/// be drawn again alone (for shrinking) and the cases can be drawn in parallel.
fn draw(
    seed: u64,
    case: usize,
    config: &Config,
    ws: &BoxedStrategy<u32>,
    ss: &BoxedStrategy<Spec>,
) -> Trees {
    let mut state = seed ^ (case as u64).wrapping_mul(0xd134_2543_de82_ef95);
    let mut bytes = [0u8; 16];
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&splitmix(&mut state).to_le_bytes());
    }
    let mut runner = TestRunner::new_with_rng(
        config.clone(),
        TestRng::from_seed(RngAlgorithm::XorShift, &bytes),
    );
    let w = ws.new_tree(&mut runner).expect("writer tree");
    let s = ss.new_tree(&mut runner).expect("spec tree");
    (Box::new(w), Box::new(s))
}

/// All cases, drawn on a few threads (each builds its own strategies).
fn draw_all(seed: u64, cases: usize) -> Vec<((usize, u8), Spec)> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 8);
    let per = cases.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..cases)
            .step_by(per)
            .map(|start| {
                s.spawn(move || {
                    let (ws, ss, config) = (writer_strategy(), spec_strategy(), runner_config());
                    (start..(start + per).min(cases))
                        .map(|i| {
                            let (w, t) = draw(seed, i, &config, &ws, &ss);
                            (writer_of(w.current()), t.current())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("draw thread"))
            .collect()
    })
}

// ---------------------------------------------------------------------------------------------
// the oracle processes

struct Oracle {
    version: &'static str,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    restarts: usize,
}

impl Oracle {
    fn start(version: &'static str) -> Oracle {
        let python = common::python_command(version);
        let script = common::root().join("corpora/gen/oracle.py");
        // 3.14 is Pyodide under Node.js, which reserves far more address space than it uses
        // (WebAssembly memories): no `ulimit -v` there.
        let limit = if version == "3.14" {
            "exec \"$0\" \"$@\""
        } else {
            "ulimit -v 4000000 2>/dev/null; exec \"$0\" \"$@\""
        };
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(limit)
            .args(&python)
            .arg(&script)
            .env_clear()
            .env(
                "PATH",
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
            )
            .env("HOME", std::env::var("HOME").unwrap_or_else(|_| "/".into()))
            .env("LANG", "C.UTF-8")
            .env("PYTHONHASHSEED", "0")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONIOENCODING", "utf-8")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {python:?}: {e}"));
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Oracle {
            version,
            child,
            stdin,
            stdout,
            restarts: 0,
        }
    }

    /// Requests `make(0..n)` (JSON objects without an id; ids are set here), answered in order to
    /// `on_answer(i, answer)`. Requests are written on a second thread while answers are read and
    /// handled on this one, so neither pipe can fill up and nothing is held in memory. A crash
    /// answers the request it died on with `!oracle-crash` and the process is restarted for the rest.
    fn run(
        &mut self,
        n: usize,
        make: &(dyn Fn(usize) -> String + Sync),
        on_answer: &mut dyn FnMut(usize, Value),
    ) {
        let mut next = 0;
        while next < n {
            next += self.stream(next, n, make, on_answer);
            if next < n {
                let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
                on_answer(
                    next,
                    json!({"id": next, "ok": false, "error": format!("!oracle-crash: {status}")}),
                );
                next += 1;
                let fresh = Oracle::start(self.version);
                let restarts = self.restarts + 1;
                let mut old = std::mem::replace(self, fresh);
                let _ = old.child.kill();
                let _ = old.child.wait();
                self.restarts = restarts;
            }
        }
    }

    /// One request, one answer.
    fn ask(&mut self, req: String) -> Value {
        let mut out = Value::Null;
        self.run(1, &|_| req.clone(), &mut |_, a| out = a);
        out
    }

    /// Requests `start..n` until all are answered or the process dies; the number answered.
    fn stream(
        &mut self,
        start: usize,
        n: usize,
        make: &(dyn Fn(usize) -> String + Sync),
        on_answer: &mut dyn FnMut(usize, Value),
    ) -> usize {
        let version = self.version;
        let stdin = &mut self.stdin;
        let stdout = &mut self.stdout;
        std::thread::scope(|s| {
            s.spawn(move || {
                let mut w = std::io::BufWriter::with_capacity(1 << 16, stdin);
                for i in start..n {
                    let req = make(i);
                    let body = req.strip_prefix('{').expect("a JSON object");
                    if writeln!(w, "{{\"id\":{i},{body}").is_err() {
                        return;
                    }
                }
                let _ = w.flush();
            });
            let mut line = String::new();
            let mut i = start;
            while i < n {
                line.clear();
                match stdout.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let ans: Value = serde_json::from_str(line.trim_end()).unwrap_or_else(
                    |e| json!({"id": i, "ok": false, "error": format!("!unparseable-answer: {e}")}),
                );
                assert_eq!(
                    ans["id"].as_u64(),
                    Some(i as u64),
                    "oracle {version} answered out of order"
                );
                on_answer(i, ans);
                i += 1;
            }
            i - start
        })
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn build_request(spec: &Spec, protocol: u8) -> String {
    json!({"op": "build", "spec": spec.to_json(), "impl": "c", "protocol": protocol}).to_string()
}

/// `opts` is already JSON (an `OPTSETS` entry); hex needs no escaping.
fn load_request(pickle_hex: &str, opts: &str) -> String {
    format!(r#"{{"op":"load","pickle":"{pickle_hex}","opts":{opts},"impl":"c"}}"#)
}

// ---------------------------------------------------------------------------------------------
// judging

#[derive(Clone, Debug, PartialEq)]
enum Verdict {
    Agree,
    SkipOpaque,
    SkipMarker,
    SkipUnknown,
    Disagree { real: String, ours: String },
}

fn outcome_text(ok: bool, text: &str) -> String {
    format!("{} {}", if ok { "ok" } else { "raises" }, text)
}

fn judge(answer: &Value, r: &LoadResult, rt: Runtime) -> Verdict {
    let real_ok = answer["ok"].as_bool().unwrap_or(false);
    let real_text = if real_ok {
        answer["render"].as_str()
    } else {
        answer["error"].as_str()
    }
    .unwrap_or("!missing")
    .to_string();
    if real_text.starts_with('!') {
        return Verdict::SkipMarker;
    }
    let (ours_ok, ours_text, opaque) = match &r.outcome {
        Outcome::Loaded { heap, root } => (
            true,
            render::render(heap, *root, rt),
            render::has_opaque(heap, *root),
        ),
        Outcome::Raised(e) => (false, e.to_string(), false),
        Outcome::Unknown(_) => return Verdict::SkipUnknown,
    };
    if ours_ok == real_ok && opaque {
        return Verdict::SkipOpaque;
    }
    if ours_ok == real_ok && ours_text == real_text {
        return Verdict::Agree;
    }
    Verdict::Disagree {
        real: outcome_text(real_ok, &real_text),
        ours: outcome_text(ours_ok, &ours_text),
    }
}

/// A coarse kind of disagreement: writer and reader families, option set, and the outcome kinds
/// (`ok` or the exception type) of both sides.
fn kind_of(writer: (usize, u8), reader: &str, optset: &str, real: &str, ours: &str) -> String {
    fn k(s: &str) -> &str {
        if let Some(rest) = s.strip_prefix("raises ") {
            rest.split(':').next().unwrap_or(rest)
        } else {
            "ok"
        }
    }
    let wfam = if INTERPRETERS[writer.0] == "2.7" {
        "py2"
    } else {
        "py3"
    };
    let rfam = if reader == "2.7" { "py2" } else { "py3" };
    format!(
        "{wfam}->{rfam} [{optset}] real={} ours={}",
        k(real),
        k(ours)
    )
}

struct Disagreement {
    case: usize,
    writer: (usize, u8),
    reader: &'static str,
    optset: &'static str,
    pickle: String,
    real: String,
    ours: String,
    kind: String,
}

#[derive(Default)]
struct Tally {
    comparisons: usize,
    agree: usize,
    opaque: usize,
    markers: usize,
    unknown: usize,
    oracle_secs: f64,
    model_secs: f64,
}

fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(s) if !s.trim().is_empty() => {
            let s = s.trim().replace('_', "");
            if let Some(h) = s.strip_prefix("0x") {
                u64::from_str_radix(h, 16).unwrap_or_else(|e| panic!("{name}={s}: {e}"))
            } else {
                s.parse().unwrap_or_else(|e| panic!("{name}={s}: {e}"))
            }
        }
        _ => default,
    }
}

fn trunc(s: &str, n: usize) -> String {
    if s.len() > n {
        let mut end = n;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s.to_string()
    }
}

/// The default seed and case count, whose exact answers per reader [`EXACT_FLOOR`] holds.
const DEFAULT_SEED: u64 = 0x00c0_ffee_cafe_2024;
const DEFAULT_CASES: u64 = 10_000;

/// Exact answers per reader (the model's value or exception text equals the real reader's) at
/// the default seed and case count, as counted on 2026-12-03: "0 disagreements" alone would pass
/// a model that answers `unknown` (or leaves values opaque) everywhere. The rest of each
/// reader's comparisons are values the models leave opaque (app objects); none is `unknown`.
/// Raise a floor when the model answers more; lower one only with the reason in the commit.
const EXACT_FLOOR: [(&str, usize); 11] = [
    ("2.7", 8514),
    ("3.6", 51060),
    ("3.7", 51060),
    ("3.8", 51042),
    ("3.9", 51042),
    ("3.10", 51042),
    ("3.11", 51042),
    ("3.12", 51042),
    ("3.13", 51042),
    ("3.14", 51042),
    ("3.15", 51042),
];

/// At any seed or case count: the share of each reader's comparisons answered exactly (today
/// 99.55% to 99.64% at the default seed).
const EXACT_SHARE_FLOOR: f64 = 0.99;

#[test]
fn generated_values_agree_with_real_interpreters() {
    let t0 = Instant::now();
    let cases = env_num("CACHE_COMPAT_PROPTEST_CASES", DEFAULT_CASES) as usize;
    let seed = env_num("CACHE_COMPAT_PROPTEST_SEED", DEFAULT_SEED);
    let shrink_kinds = env_num("CACHE_COMPAT_PROPTEST_SHRINK_KINDS", 1) as usize;

    // 1. draw the cases
    let (writers, specs): (Vec<(usize, u8)>, Vec<Spec>) = draw_all(seed, cases).into_iter().unzip();
    let t_gen = t0.elapsed();

    // 2. build: each case on its writer
    let mut oracles: Vec<Oracle> = INTERPRETERS.iter().map(|v| Oracle::start(v)).collect();
    let mut by_writer: Vec<Vec<usize>> = vec![Vec::new(); INTERPRETERS.len()];
    for (i, w) in writers.iter().enumerate() {
        by_writer[w.0].push(i);
    }
    let mut pickles: Vec<Option<String>> = vec![None; cases];
    let mut build_failures: BTreeMap<String, (usize, usize)> = BTreeMap::new(); // error -> (count, first case)
    let mut build_markers = 0usize;
    std::thread::scope(|s| {
        let handles: Vec<_> = oracles
            .iter_mut()
            .enumerate()
            .map(|(vi, o)| {
                let idx = &by_writer[vi];
                let (specs, writers) = (&specs, &writers);
                s.spawn(move || {
                    let mut answers = Vec::with_capacity(idx.len());
                    let make = |k: usize| build_request(&specs[idx[k]], writers[idx[k]].1);
                    o.run(idx.len(), &make, &mut |_, a| answers.push(a));
                    answers
                })
            })
            .collect();
        for (vi, h) in handles.into_iter().enumerate() {
            let answers = h.join().expect("build thread");
            for (&i, a) in by_writer[vi].iter().zip(answers) {
                if a["ok"].as_bool() == Some(true) {
                    pickles[i] = Some(a["pickle"].as_str().expect("pickle").to_string());
                } else {
                    let e = a["error"].as_str().unwrap_or("?").to_string();
                    if e.starts_with('!') {
                        build_markers += 1;
                    }
                    let key = format!("{}: {}", writer_name(writers[i]), trunc(&e, 120));
                    let ent = build_failures.entry(key).or_insert((0, i));
                    ent.0 += 1;
                }
            }
        }
    });
    let t_build = t0.elapsed();
    {
        let mut lines = String::new();
        for (i, spec) in specs.iter().enumerate() {
            let line = json!({"case": i, "writer": writer_name(writers[i]), "spec": spec.to_json(), "pickle": pickles[i]});
            lines.push_str(&line.to_string());
            lines.push('\n');
        }
        let _ = std::fs::create_dir_all(common::root().join("target"));
        let _ = std::fs::write(
            common::root().join("target/proptest-interpreters-cases.jsonl"),
            lines,
        );
    }

    // distinct pickles, each loaded once per reader x option set
    let mut distinct: Vec<String> = Vec::new();
    let mut first_case: Vec<usize> = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, p) in pickles.iter().enumerate() {
        if let Some(p) = p
            && !seen.contains_key(p.as_str())
        {
            seen.insert(p.as_str(), distinct.len());
            distinct.push(p.clone());
            first_case.push(i);
        }
    }
    drop(seen);

    // 3. load: every distinct pickle on every reader x option set, judged against the model
    let results: Vec<(Tally, Vec<Disagreement>)> = std::thread::scope(|s| {
        let handles: Vec<_> = oracles
            .iter_mut()
            .map(|o| {
                let distinct = &distinct;
                let first_case = &first_case;
                let writers = &writers;
                std::thread::Builder::new()
                    .stack_size(256 << 20)
                    .spawn_scoped(s, move || {
                        let reader = o.version;
                        let sets = optsets_of(reader);
                        let rt = Runtime::parse(reader).expect("runtime");
                        let cfgs: Vec<LoadConfig> =
                            sets.iter().map(|(n, _)| load_config(n)).collect();
                        let mut tally = Tally::default();
                        let mut dis = Vec::new();
                        // answers come pickle-major: parse each pickle once, on its first answer
                        let mut current: Option<(usize, Vec<u8>, parse::Parsed)> = None;
                        let mut model = std::time::Duration::ZERO;
                        let t = Instant::now();
                        let make = |k: usize| {
                            load_request(&distinct[k / sets.len()], sets[k % sets.len()].1)
                        };
                        let mut on_answer = |k: usize, answer: Value| {
                            let t_model = Instant::now();
                            let (pi, si) = (k / sets.len(), k % sets.len());
                            if current.as_ref().is_none_or(|c| c.0 != pi) {
                                let data = common::unhex(&distinct[pi]);
                                let parsed = parse::parse(&data, cfgs[0].budget.max_ops);
                                current = Some((pi, data, parsed));
                            }
                            let (_, data, parsed) = current.as_ref().expect("current pickle");
                            let r = load::load_parsed(data, parsed, rt, &cfgs[si]);
                            tally.comparisons += 1;
                            match judge(&answer, &r, rt) {
                                Verdict::Agree => tally.agree += 1,
                                Verdict::SkipOpaque => tally.opaque += 1,
                                Verdict::SkipMarker => tally.markers += 1,
                                Verdict::SkipUnknown => tally.unknown += 1,
                                Verdict::Disagree { real, ours } => {
                                    let case = first_case[pi];
                                    let name = sets[si].0;
                                    let kind = kind_of(writers[case], reader, name, &real, &ours);
                                    dis.push(Disagreement {
                                        case,
                                        writer: writers[case],
                                        reader,
                                        optset: name,
                                        pickle: distinct[pi].clone(),
                                        real,
                                        ours,
                                        kind,
                                    });
                                }
                            }
                            model += t_model.elapsed();
                        };
                        o.run(distinct.len() * sets.len(), &make, &mut on_answer);
                        tally.model_secs = model.as_secs_f64();
                        tally.oracle_secs = t.elapsed().as_secs_f64() - tally.model_secs;
                        (tally, dis)
                    })
                    .expect("spawn")
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("load thread"))
            .collect()
    });
    let t_load = t0.elapsed();

    // 4. summary
    let mut total = Tally::default();
    let mut dis: Vec<Disagreement> = Vec::new();
    let mut per_reader = String::new();
    let mut short = Vec::new();
    let default_run = seed == DEFAULT_SEED && cases as u64 == DEFAULT_CASES;
    for (vi, (t, d)) in results.into_iter().enumerate() {
        let reader = INTERPRETERS[vi];
        let floor = EXACT_FLOOR
            .iter()
            .find(|(r, _)| *r == reader)
            .map_or(usize::MAX, |f| f.1);
        if (default_run && t.agree < floor)
            || (t.agree as f64) < EXACT_SHARE_FLOOR * t.comparisons as f64
        {
            short.push(format!(
                "{reader}: exact {} of {} (floor {} at the default seed, share floor {EXACT_SHARE_FLOOR})",
                t.agree,
                t.comparisons,
                if default_run { floor.to_string() } else { "-".into() }
            ));
        }
        let _ = writeln!(
            per_reader,
            "  reader {:<5} comparisons {:>6}  agree {:>6}  opaque {:>4}  markers {:>4}  unknown {:>4}  disagree {:>5}  (oracle wait {:.1}s, model {:.1}s)",
            INTERPRETERS[vi],
            t.comparisons,
            t.agree,
            t.opaque,
            t.markers,
            t.unknown,
            d.len(),
            t.oracle_secs,
            t.model_secs
        );
        total.comparisons += t.comparisons;
        total.agree += t.agree;
        total.opaque += t.opaque;
        total.markers += t.markers;
        total.unknown += t.unknown;
        dis.extend(d);
    }
    dis.sort_by_key(|d| {
        (
            d.case,
            d.reader != "2.7",
            d.reader.len(),
            d.reader,
            d.optset,
        )
    });
    let mut writer_counts: BTreeMap<String, usize> = BTreeMap::new();
    for w in &writers {
        *writer_counts.entry(writer_name(*w)).or_default() += 1;
    }
    let built = pickles.iter().filter(|p| p.is_some()).count();
    let pairs: usize = INTERPRETERS.iter().map(|v| optsets_of(v).len()).sum();
    let mut kinds: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, d) in dis.iter().enumerate() {
        kinds.entry(d.kind.clone()).or_default().push(i);
    }
    let mut summary = String::new();
    let _ = writeln!(summary, "proptest_interpreters: seed {seed:#x}");
    let _ = writeln!(
        summary,
        "  cases {cases}; writers {} pairs used ({} interpreters); built {built}, not built {} ({} harness markers); distinct pickles {}",
        writer_counts.len(),
        INTERPRETERS.len(),
        cases - built,
        build_markers,
        distinct.len()
    );
    let _ = writeln!(
        summary,
        "  reader x optset pairs {pairs}; comparisons {}; agree {}; skipped: opaque {}, harness markers {}, model unknown {}; disagreements {} ({} kinds)",
        total.comparisons,
        total.agree,
        total.opaque,
        total.markers,
        total.unknown,
        dis.len(),
        kinds.len()
    );
    let _ = writeln!(
        summary,
        "  time: generate {:.1}s, build {:.1}s, load+judge {:.1}s",
        t_gen.as_secs_f64(),
        (t_build - t_gen).as_secs_f64(),
        (t_load - t_build).as_secs_f64()
    );
    summary.push_str(&per_reader);
    if !build_failures.is_empty() {
        let _ = writeln!(summary, "  not built (writer: error -> count):");
        for (e, (n, _)) in build_failures.iter().take(40) {
            let _ = writeln!(summary, "    {e} -> {n}");
        }
    }
    if !kinds.is_empty() {
        let _ = writeln!(summary, "  disagreement kinds (count):");
        for (k, v) in &kinds {
            let _ = writeln!(summary, "    {k} ({})", v.len());
        }
    }
    println!("{summary}");

    let mut details = String::new();
    for d in &dis {
        let _ = writeln!(
            details,
            "case {} kind {}\n  writer {} -> reader {} [{}]\n  spec {}\n  pickle {}\n  real: {}\n  ours: {}",
            d.case,
            d.kind,
            writer_name(d.writer),
            d.reader,
            d.optset,
            specs[d.case].to_json(),
            d.pickle,
            trunc(&d.real, 2000),
            trunc(&d.ours, 2000)
        );
    }
    let out = common::root().join("target/proptest-interpreters-disagreements.txt");
    let _ = std::fs::create_dir_all(common::root().join("target"));
    let _ = std::fs::write(&out, format!("{summary}\n{details}"));
    if dis.is_empty() {
        assert!(
            short.is_empty(),
            "the model answers fewer generated values exactly than it did:\n{}\n{summary}",
            short.join("\n")
        );
        return;
    }

    // 5. shrink the first case of the first `shrink_kinds` kinds (in case order)
    let mut firsts: Vec<usize> = kinds.values().map(|v| v[0]).collect();
    firsts.sort_unstable();
    let mut report = String::new();
    for &di in firsts.iter().take(shrink_kinds.max(1)) {
        let d = &dis[di];
        let shrunk = shrink(d, seed, &mut oracles);
        report.push_str(&shrunk);
    }
    let _ = std::fs::write(&out, format!("{summary}\nSHRUNK\n{report}\n{details}"));
    panic!(
        "{} disagreements with the real interpreters ({} kinds; all in {}); shrunk:\n{report}\n{summary}",
        dis.len(),
        kinds.len(),
        out.display()
    );
}

/// One case on one writer and one reader x option set, through the oracles (per-case calls).
fn check_one(
    spec: &Spec,
    writer: (usize, u8),
    reader: &str,
    optset: &str,
    oracles: &mut [Oracle],
) -> Option<(String, Verdict)> {
    let built = oracles[writer.0].ask(build_request(spec, writer.1));
    if built["ok"].as_bool() != Some(true) {
        return None;
    }
    let p = built["pickle"].as_str()?.to_string();
    let ri = INTERPRETERS.iter().position(|v| *v == reader)?;
    let opts = OPTSETS.iter().find(|(n, _)| *n == optset)?.1;
    let ans = oracles[ri].ask(load_request(&p, opts));
    let rt = Runtime::parse(reader)?;
    let r = load::load(&common::unhex(&p), rt, &load_config(optset));
    Some((p, judge(&ans, &r, rt)))
}

fn shrink(d: &Disagreement, seed: u64, oracles: &mut [Oracle]) -> String {
    // Draw the failing case again to get its value tree back; shrink the value, keep the writer.
    let mut tree = draw(
        seed,
        d.case,
        &runner_config(),
        &writer_strategy(),
        &spec_strategy(),
    )
    .1;
    let fails = |spec: &Spec, oracles: &mut [Oracle]| -> Option<(String, String, String)> {
        match check_one(spec, d.writer, d.reader, d.optset, oracles) {
            Some((p, Verdict::Disagree { real, ours }))
                if kind_of(d.writer, d.reader, d.optset, &real, &ours) == d.kind =>
            {
                Some((p, real, ours))
            }
            _ => None,
        }
    };
    let mut best_spec = tree.current();
    let mut best =
        fails(&best_spec, oracles).unwrap_or((d.pickle.clone(), d.real.clone(), d.ours.clone()));
    // proptest's shrinking steps (simplify while it still fails, complicate when it passes),
    // within a budget of steps and time; candidates already judged are not asked again.
    let started = Instant::now();
    let mut judged: HashMap<String, bool> = HashMap::new();
    let mut steps = 0;
    if tree.simplify() {
        while steps < 2000 && started.elapsed().as_secs() < 30 {
            steps += 1;
            let cur = tree.current();
            let key = cur.to_json().to_string();
            let still = match judged.get(&key) {
                Some(&f) => f,
                None => {
                    let f = fails(&cur, oracles);
                    let failed = f.is_some();
                    if let Some(f) = f {
                        best_spec = cur;
                        best = f;
                    }
                    judged.insert(key, failed);
                    failed
                }
            };
            let moved = if still {
                tree.simplify()
            } else {
                tree.complicate()
            };
            if !moved {
                break;
            }
        }
    }
    format!(
        "kind {}\n  case {} shrunk in {steps} steps, {:.1}s\n  writer {} -> reader {} [{}]\n  spec {}\n  pickle {}\n  real: {}\n  ours: {}\n",
        d.kind,
        d.case,
        started.elapsed().as_secs_f64(),
        writer_name(d.writer),
        d.reader,
        d.optset,
        best_spec.to_json(),
        best.0,
        trunc(&best.1, 2000),
        trunc(&best.2, 2000)
    )
}
