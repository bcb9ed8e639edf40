//! The verdict's fast path: one pass over the parsed opcodes decides whether a value holds only
//! things no runtime or cache layer treats differently by content (None, bools, ints and longs of
//! up to 128 bits, finite floats, ASCII py2 `str`, text, bytes, lists, tuples, dicts of scalar
//! keys, shared scalars),
//! and if so, the five checks are those of a small probe pickle with the same header, form, root
//! and kinds of things, judged once by the full models and remembered per thread.
//!
//! Why that is the same verdict: for such a value every read either fails at the header (the
//! probe has the same header, so it fails alike) or loads the same value on every runtime, every
//! write-back succeeds and reads back equal, and whatever a check finds about one kind (a py2
//! `str` that comes back as `unicode`, say) it finds in the probe, which holds each kind present
//! (as an item, a dict key, shared). A probe verdict is used only when each check is `Ok`,
//! `Skipped`, or the very failure a probe holding only `None` gets (a failure that does not
//! depend on content); anything else, and anything the scan is unsure of (nesting, sizes near a
//! budget, py2 hash collisions), goes to the full models. `tests/fastpath.rs` holds it to
//! byte-identical verdicts; `scan --full-model` turns it off.

use super::{Check, Checks, Form, Preparsed, Side, Stored, judge_stored_with};
use crate::fasthash;
use crate::meter;
use crate::pickle::ops::{self, code};
use crate::pickle::parse::{self, Arg, Parsed};
use crate::runtime::py2hash;
use std::cell::{Cell, RefCell};

// Kinds of things, a bit each; the scalar bits shifted by KEY are the kinds used as dict keys.
const K_NONE: u64 = 1 << 0;
const K_BOOL: u64 = 1 << 1;
/// An int of 32 bits (BININT*, or an INT line).
const K_INT: u64 = 1 << 2;
const K_FLOAT: u64 = 1 << 3;
const K_STR: u64 = 1 << 4;
/// A py2 `str` with control characters, DEL, backslashes or quotes.
const K_STR_SPECIAL: u64 = 1 << 5;
const K_UNI: u64 = 1 << 6;
const K_UNI_LATIN1: u64 = 1 << 7;
const K_UNI_BMP: u64 = 1 << 8;
const K_UNI_ASTRAL: u64 = 1 << 9;
/// Text with control characters, DEL or backslashes.
const K_UNI_SPECIAL: u64 = 1 << 10;
/// An INT line past 32 bits, within 64 (a py2 `int`), and past 64 (a py2 `long`).
const K_INT64: u64 = 1 << 11;
const K_INT_BIG: u64 = 1 << 12;
/// A LONG opcode (a py2 `long`) of 32 bits, 64 bits, more.
const K_LONG32: u64 = 1 << 13;
const K_LONG64: u64 = 1 << 14;
const K_LONG_BIG: u64 = 1 << 15;
/// py3 `bytes`: ASCII only, or with bytes past 0x7f.
const K_BYTES: u64 = 1 << 16;
const K_BYTES_HIGH: u64 = 1 << 17;
const SCALARS: u64 = (1 << 18) - 1;
const K_LIST: u64 = 1 << 20;
const K_TUPLE: u64 = 1 << 21;
const K_DICT: u64 = 1 << 22;
const K_SHARED: u64 = 1 << 23;
const KEY: u64 = 32;

/// Deeper values go to the full models (far below any recursion limit they model).
const MAX_DEPTH: u16 = 40;

#[derive(Clone, Copy)]
enum Item {
    Mark,
    /// A scalar: its kinds and the index of the opcode that made it.
    Scalar(u64, u32),
    List(u16),
    Tuple(u16),
    /// A dict: its depth and its table of key hashes (py2 sides).
    Dict(u16, u32),
}

impl Item {
    fn depth(self) -> u16 {
        match self {
            Item::Mark | Item::Scalar(..) => 0,
            Item::List(d) | Item::Tuple(d) | Item::Dict(d, _) => d,
        }
    }
}

/// What the scan found: the value's kinds and its root's kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Shape {
    kinds: u64,
    /// The root's kinds (a scalar's bits, or K_LIST / K_TUPLE / K_DICT).
    root: u64,
}

thread_local! {
    static TAKEN: Cell<u64> = const { Cell::new(0) };
    static PROBES: RefCell<Vec<(ProbeKey, Option<Checks>)>> = const { RefCell::new(Vec::new()) };
}

/// How many verdicts this thread made on the fast path so far (for tests and benchmarks).
pub fn taken() -> u64 {
    TAKEN.with(Cell::get)
}

#[derive(Clone)]
struct ProbeKey {
    form: Form,
    header: Option<u8>,
    shape: Shape,
    sides: [Side; 2],
}

impl ProbeKey {
    /// The same class of values under the same sides (what a neutral value's verdict depends on:
    /// it holds no globals, so the app classes do not matter).
    fn same(&self, o: &ProbeKey) -> bool {
        let side = |a: &Side, b: &Side| {
            a.runtime == b.runtime
                && a.writer == b.writer
                && a.load.options == b.load.options
                && a.load.budget == b.load.budget
        };
        self.form == o.form
            && self.header == o.header
            && self.shape == o.shape
            && side(&self.sides[0], &o.sides[0])
            && side(&self.sides[1], &o.sides[1])
    }
}

/// The verdict on `stored` (parsed as `parsed`) from the fast path, or `None` where the full
/// models must make it.
pub(super) fn judge(stored: &Stored, parsed: &Parsed, old: &Side, new: &Side) -> Option<Checks> {
    if old.load.full_model || new.load.full_model {
        return None;
    }
    let Stored::Pickle { form, pickle } = stored else {
        return None;
    };
    if !matches!(form, Form::Plain | Form::Bang) {
        return None;
    }
    let n = parsed.ops.len();
    if !(within_budget(n, pickle.len(), old) && within_budget(n, pickle.len(), new)) {
        return None;
    }
    let py2 = old.runtime.is_py2() || new.runtime.is_py2();
    let str_ok = [old, new]
        .iter()
        .all(|s| s.runtime.is_py2() || ascii_superset(&s.load.options.encoding));
    let shape = scan(pickle, parsed, py2, str_ok)?;
    // The scan is one pass over the opcodes and payloads: charged like a load's.
    meter::ops(n as u64);
    meter::bytes(pickle.len() as u64);
    let key = ProbeKey {
        form: *form,
        header: parsed.proto_header(),
        shape,
        sides: [old.clone(), new.clone()],
    };
    let hit = PROBES.with(|p| {
        p.borrow()
            .iter()
            .find(|(k, _)| k.same(&key))
            .map(|(_, c)| c.clone())
    });
    let checks = match hit {
        Some(c) => c,
        None => {
            let c = probe_verdict(&key);
            PROBES.with(|p| {
                let mut p = p.borrow_mut();
                if p.len() >= 256 {
                    p.clear();
                }
                p.push((key, c.clone()));
            });
            c
        }
    }?;
    TAKEN.with(|t| t.set(t.get() + 1));
    Some(checks)
}

/// Whether text of ASCII bytes loads as `str` under this encoding on py3 (as it does on py2).
fn ascii_superset(enc: &str) -> bool {
    let e = enc.to_ascii_lowercase().replace('_', "-");
    matches!(
        e.as_str(),
        "ascii" | "latin1" | "latin-1" | "iso-8859-1" | "utf-8" | "utf8"
    )
}

/// Far enough below every limit of `side` that the full models could not reach one: opcodes of
/// each load and write-back (a write-back at protocol 0 has a few opcodes per node of a compact
/// pickle), its nodes, stack, marks and memo entries (at most one per node), payload bytes (escaped at protocol 0), and the
/// verdict's meter (five loads, three dumps and the comparisons, a few dozen units per opcode).
fn within_budget(n_ops: usize, len: usize, side: &Side) -> bool {
    let b = &side.load.budget;
    let (n, len) = (n_ops as u64, len as u64);
    let per = [b.max_nodes, b.max_stack, b.max_marks, b.max_memo];
    n.saturating_mul(8) <= b.max_ops as u64
        && per.iter().all(|&m| n.saturating_mul(4) <= m as u64)
        && len.saturating_mul(8) <= b.max_bytes as u64
        && b.max_digits >= 64
        && n.saturating_mul(1024) <= b.verdict.ops
        && (len.saturating_add(n.saturating_mul(64))).saturating_mul(64) <= b.verdict.bytes
}

/// The value's shape, or `None` if it holds anything outside the fast path.
fn scan(data: &[u8], parsed: &Parsed, py2: bool, str_ok: bool) -> Option<Shape> {
    if parsed.end != Ok(data.len()) {
        return None;
    }
    let header = parsed.proto_header();
    let max_proto = header.map_or(2, |p| p.max(2));
    let ops = &parsed.ops;
    let mut stack: Vec<Item> = Vec::with_capacity(64);
    let mut memo: fasthash::Map<u32, Option<Item>> = fasthash::Map::default();
    let mut tables: Vec<Vec<i64>> = Vec::new();
    let mut kinds = 0u64;
    let mut frame_end: Option<usize> = None;
    let mut stopped = false;
    for (i, op) in ops.iter().enumerate() {
        if stopped || ops::info(op.code)?.proto > max_proto {
            return None;
        }
        let end = ops.get(i + 1).map_or(data.len(), |o| o.pos);
        if let Some(e) = frame_end {
            if op.pos >= e {
                frame_end = None;
            } else if end > e {
                return None;
            }
        }
        let scalar = |k: u64| Some(Item::Scalar(k, i as u32));
        let push = match op.code {
            code::PROTO => (i == 0).then_some(None)?,
            code::FRAME => {
                let Arg::U64(n) = op.arg else { return None };
                if frame_end.is_some() {
                    return None;
                }
                let e = end.checked_add(usize::try_from(n).ok()?)?;
                if e > data.len() {
                    return None;
                }
                frame_end = Some(e);
                None
            }
            code::STOP => {
                stopped = true;
                None
            }
            code::MARK => Some(Item::Mark),
            code::NONE => scalar(K_NONE),
            code::NEWTRUE | code::NEWFALSE => scalar(K_BOOL),
            code::BININT | code::BININT1 | code::BININT2 => scalar(K_INT),
            code::INT => {
                let Arg::Line(r) = &op.arg else { return None };
                match &data[r.clone()] {
                    b"00" | b"01" => scalar(K_BOOL),
                    l => scalar(int_class(int_line(l)?, false)),
                }
            }
            code::FLOAT => {
                let Arg::Line(r) = &op.arg else { return None };
                float_line(&data[r.clone()])?;
                scalar(K_FLOAT)
            }
            code::LONG => {
                let Arg::Line(r) = &op.arg else { return None };
                scalar(int_class(long_line(&data[r.clone()])?, true))
            }
            code::LONG1 | code::LONG4 => {
                let Arg::Bytes(r) = &op.arg else { return None };
                scalar(int_class(long_bytes(&data[r.clone()])?, true))
            }
            code::BINBYTES | code::SHORT_BINBYTES | code::BINBYTES8 => {
                let Arg::Bytes(r) = &op.arg else { return None };
                scalar(if data[r.clone()].is_ascii() {
                    K_BYTES
                } else {
                    K_BYTES_HIGH
                })
            }
            code::BINFLOAT => match op.arg {
                Arg::Float(f) if f.is_finite() => scalar(K_FLOAT),
                _ => return None,
            },
            code::STRING | code::BINSTRING | code::SHORT_BINSTRING => {
                if !str_ok {
                    return None;
                }
                scalar(py2_str(data, &op.arg, op.code == code::STRING)?)
            }
            code::UNICODE => {
                let Arg::Line(r) = &op.arg else { return None };
                scalar(raw_unicode(&data[r.clone()], |_| {})?)
            }
            code::BINUNICODE | code::SHORT_BINUNICODE | code::BINUNICODE8 => {
                let Arg::Bytes(r) = &op.arg else { return None };
                scalar(utf8_text(&data[r.clone()], |_| {})?)
            }
            code::EMPTY_LIST => Some(Item::List(1)),
            code::EMPTY_TUPLE => Some(Item::Tuple(1)),
            code::EMPTY_DICT => {
                tables.push(Vec::new());
                Some(Item::Dict(1, (tables.len() - 1) as u32))
            }
            code::LIST | code::TUPLE => {
                let at = stack.iter().rposition(|x| matches!(x, Item::Mark))?;
                let d = 1 + stack[at + 1..].iter().map(|x| x.depth()).max().unwrap_or(0);
                stack.truncate(at);
                Some(if op.code == code::LIST {
                    Item::List(d)
                } else {
                    Item::Tuple(d)
                })
            }
            code::TUPLE1 | code::TUPLE2 | code::TUPLE3 => {
                let k = usize::from(op.code - code::TUPLE1 + 1);
                let at = stack.len().checked_sub(k)?;
                if stack[at..].iter().any(|x| matches!(x, Item::Mark)) {
                    return None;
                }
                let d = 1 + stack[at..].iter().map(|x| x.depth()).max().unwrap_or(0);
                stack.truncate(at);
                Some(Item::Tuple(d))
            }
            code::DICT => {
                let at = stack.iter().rposition(|x| matches!(x, Item::Mark))?;
                tables.push(Vec::new());
                let t = (tables.len() - 1) as u32;
                let d = set_items(data, ops, &stack[at + 1..], t, &mut tables, &mut kinds, py2)?;
                stack.truncate(at);
                Some(Item::Dict(d.max(1), t))
            }
            code::APPEND | code::APPENDS => {
                let from = if op.code == code::APPEND {
                    stack.len().checked_sub(1)?
                } else {
                    stack.iter().rposition(|x| matches!(x, Item::Mark))? + 1
                };
                let target = if op.code == code::APPEND {
                    from
                } else {
                    from - 1
                };
                let items = &stack[from..];
                if items.iter().any(|x| matches!(x, Item::Mark)) {
                    return None;
                }
                let d = 1 + items.iter().map(|x| x.depth()).max().unwrap_or(0);
                let Some(Item::List(ld)) = stack.get(target.checked_sub(1)?).copied() else {
                    return None;
                };
                stack.truncate(target);
                *stack.last_mut()? = Item::List(ld.max(d));
                None
            }
            code::SETITEM | code::SETITEMS => {
                let from = if op.code == code::SETITEM {
                    stack.len().checked_sub(2)?
                } else {
                    stack.iter().rposition(|x| matches!(x, Item::Mark))? + 1
                };
                let target = if op.code == code::SETITEM {
                    from
                } else {
                    from - 1
                };
                let Some(Item::Dict(dd, t)) = stack.get(target.checked_sub(1)?).copied() else {
                    return None;
                };
                let d = set_items(data, ops, &stack[from..], t, &mut tables, &mut kinds, py2)?;
                stack.truncate(target);
                *stack.last_mut()? = Item::Dict(dd.max(d), t);
                None
            }
            code::PUT | code::BINPUT | code::LONG_BINPUT | code::MEMOIZE => {
                let idx = match (&op.arg, op.code) {
                    (_, code::MEMOIZE) => u32::try_from(memo.len()).ok()?,
                    (Arg::Line(r), _) => int_digits(&data[r.clone()])?,
                    (Arg::Int(n), _) => u32::try_from(*n).ok()?,
                    _ => return None,
                };
                let top = *stack.last()?;
                match top {
                    Item::Mark => return None,
                    Item::Scalar(..) => memo.insert(idx, Some(top)),
                    _ => memo.insert(idx, None),
                };
                None
            }
            code::GET | code::BINGET | code::LONG_BINGET => {
                let idx = match &op.arg {
                    Arg::Line(r) => int_digits(&data[r.clone()])?,
                    Arg::Int(n) => u32::try_from(*n).ok()?,
                    _ => return None,
                };
                kinds |= K_SHARED;
                Some((*memo.get(&idx)?)?)
            }
            _ => return None,
        };
        if let Some(it) = push {
            match it {
                Item::Scalar(k, _) => kinds |= k,
                Item::List(_) => kinds |= K_LIST,
                Item::Tuple(_) => kinds |= K_TUPLE,
                Item::Dict(..) => kinds |= K_DICT,
                Item::Mark => {}
            }
            if it.depth() > MAX_DEPTH {
                return None;
            }
            stack.push(it);
        }
        if stack.last().is_some_and(|x| x.depth() > MAX_DEPTH) {
            return None;
        }
    }
    let [root] = stack.as_slice() else {
        return None;
    };
    if !stopped {
        return None;
    }
    if py2 {
        for t in tables.iter().filter(|t| t.len() >= 2) {
            // Keys whose 2.7 hashes share their low 32 bits (equal keys among them) go to the
            // full models, and so does a table the py2 order model cannot follow.
            let mut seen: fasthash::Set<u32> = fasthash::Set::default();
            if !t.iter().all(|&h| seen.insert(h as u32)) {
                return None;
            }
            py2hash::insertion_table(t).ok()?;
        }
    }
    let root = match *root {
        Item::Scalar(k, _) => k,
        Item::List(_) => K_LIST,
        Item::Tuple(_) => K_TUPLE,
        Item::Dict(..) => K_DICT,
        Item::Mark => return None,
    };
    Some(Shape { kinds, root })
}

/// Items `kv` (key, value, ...) set into the dict of table `t`: their depth, or `None` if a key
/// is not a scalar (or, with a py2 side, has no predictable 2.7 hash).
fn set_items(
    data: &[u8],
    ops: &[parse::Op],
    kv: &[Item],
    t: u32,
    tables: &mut [Vec<i64>],
    kinds: &mut u64,
    py2: bool,
) -> Option<u16> {
    if !kv.len().is_multiple_of(2) {
        return None;
    }
    let mut d = 0;
    for pair in kv.chunks_exact(2) {
        let Item::Scalar(k, at) = pair[0] else {
            return None;
        };
        if matches!(pair[1], Item::Mark) {
            return None;
        }
        *kinds |= k << KEY;
        if py2 {
            let h = py2_hash(data, &ops[at as usize])?;
            tables[t as usize].push(h);
        }
        d = d.max(1 + pair[1].depth());
    }
    Some(d)
}

/// The 2.7 hash of the scalar `op` makes.
fn py2_hash(data: &[u8], op: &parse::Op) -> Option<i64> {
    Some(match (op.code, &op.arg) {
        (code::NEWTRUE, _) => 1,
        (code::NEWFALSE, _) => 0,
        (code::BININT | code::BININT1 | code::BININT2, Arg::Int(v)) => big_hash(i128::from(*v)),
        (code::INT, Arg::Line(r)) => match &data[r.clone()] {
            b"00" => 0,
            b"01" => 1,
            l => big_hash(int_line(l)?),
        },
        (code::LONG, Arg::Line(r)) => big_hash(long_line(&data[r.clone()])?),
        (code::LONG1 | code::LONG4, Arg::Bytes(r)) => big_hash(long_bytes(&data[r.clone()])?),
        (code::FLOAT, Arg::Line(r)) => py2hash::hash_double(float_line(&data[r.clone()])?),
        (code::BINFLOAT, Arg::Float(f)) => py2hash::hash_double(*f),
        (code::BINSTRING | code::SHORT_BINSTRING, Arg::Bytes(r)) => {
            py2hash::string_hash(data[r.clone()].iter().map(|&b| u32::from(b)))
        }
        (code::STRING, Arg::Line(r)) => {
            let l = &data[r.clone()];
            py2hash::string_hash(l[1..l.len() - 1].iter().map(|&b| u32::from(b)))
        }
        (code::UNICODE, Arg::Line(r)) => {
            let mut cps = Vec::new();
            raw_unicode(&data[r.clone()], |c| cps.push(c))?;
            py2hash::string_hash(cps)
        }
        (code::BINUNICODE | code::SHORT_BINUNICODE | code::BINUNICODE8, Arg::Bytes(r)) => {
            let mut cps = Vec::new();
            utf8_text(&data[r.clone()], |c| cps.push(c))?;
            py2hash::string_hash(cps)
        }
        // None hashes by address on 2.7.
        _ => return None,
    })
}

/// A decimal INT line without leading zeros, of at most 38 digits.
fn int_line(l: &[u8]) -> Option<i128> {
    let digits = l.strip_prefix(b"-").unwrap_or(l);
    if digits.is_empty() || digits.len() > 38 || (digits[0] == b'0' && l != b"0") {
        return None;
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(l).ok()?.parse().ok()
}

/// A LONG line: an INT line and an `L`.
fn long_line(l: &[u8]) -> Option<i128> {
    int_line(l.strip_suffix(b"L")?)
}

/// A LONG1 / LONG4 payload (little-endian two's complement) of at most 16 bytes.
fn long_bytes(b: &[u8]) -> Option<i128> {
    if b.len() > 16 {
        return None;
    }
    let fill = if b.last().is_some_and(|&x| x >= 0x80) {
        0xff
    } else {
        0
    };
    let mut le = [fill; 16];
    le[..b.len()].copy_from_slice(b);
    Some(i128::from_le_bytes(le))
}

/// The kind of an int: by the opcode family that made it (`long`: a LONG opcode) and its range.
fn int_class(v: i128, long: bool) -> u64 {
    let range = if i32::try_from(v).is_ok() {
        0
    } else if i64::try_from(v).is_ok() {
        1
    } else {
        2
    };
    match (long, range) {
        (false, 0) => K_INT,
        (false, 1) => K_INT64,
        (false, _) => K_INT_BIG,
        (true, 0) => K_LONG32,
        (true, 1) => K_LONG64,
        (true, _) => K_LONG_BIG,
    }
}

/// The 2.7 hash of an int or long.
fn big_hash(v: i128) -> i64 {
    py2hash::long_hash(&num_bigint::BigInt::from(v))
}

/// A memo index line: decimal digits.
fn int_digits(l: &[u8]) -> Option<u32> {
    if l.is_empty() || l.len() > 9 || !l.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(l).ok()?.parse().ok()
}

/// A FLOAT line of digits, sign, point and exponent only, finite.
fn float_line(l: &[u8]) -> Option<f64> {
    if l.is_empty()
        || !l
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let v: f64 = std::str::from_utf8(l).ok()?.parse().ok()?;
    v.is_finite().then_some(v)
}

fn special(b: u8) -> bool {
    b < 0x20 || b == 0x7f || b == b'\\'
}

/// A py2 `str` of ASCII bytes: its kinds.
fn py2_str(data: &[u8], arg: &Arg, quoted: bool) -> Option<u64> {
    let body = match arg {
        Arg::Line(r) if quoted => {
            let l = &data[r.clone()];
            let q = *l.first()?;
            if l.len() < 2 || !matches!(q, b'\'' | b'"') || l[l.len() - 1] != q {
                return None;
            }
            let body = &l[1..l.len() - 1];
            if body.iter().any(|&b| b == q || special(b) || b >= 0x80) {
                return None;
            }
            body
        }
        Arg::Bytes(r) if !quoted => &data[r.clone()],
        _ => return None,
    };
    if !body.is_ascii() {
        return None;
    }
    Some(
        if body.iter().any(|&b| special(b) || b == b'\'' || b == b'"') {
            K_STR | K_STR_SPECIAL
        } else {
            K_STR
        },
    )
}

fn text_kinds(c: u32, k: &mut u64) {
    if c < 0x80 {
        if c < 0x20 || c == 0x7f || c == u32::from(b'\\') {
            *k |= K_UNI_SPECIAL;
        }
    } else if c < 0x100 {
        *k |= K_UNI_LATIN1;
    } else if c < 0x10000 {
        *k |= K_UNI_BMP;
    } else {
        *k |= K_UNI_ASTRAL;
    }
}

/// UTF-8 text (no surrogates): its kinds; `each` sees its code points.
fn utf8_text(b: &[u8], mut each: impl FnMut(u32)) -> Option<u64> {
    let s = std::str::from_utf8(b).ok()?;
    let mut k = K_UNI;
    if s.is_ascii() {
        if b.iter().any(|&x| special(x)) {
            k |= K_UNI_SPECIAL;
        }
        b.iter().for_each(|&x| each(u32::from(x)));
        return Some(k);
    }
    for c in s.chars() {
        text_kinds(c as u32, &mut k);
        each(c as u32);
    }
    Some(k)
}

/// Protocol 0 text (raw-unicode-escape as Python's picklers write it: Latin-1 bytes, and `\u`
/// or `\U` escapes for the rest; any other backslash goes to the full models).
fn raw_unicode(b: &[u8], mut each: impl FnMut(u32)) -> Option<u64> {
    let mut k = K_UNI;
    let mut i = 0;
    while i < b.len() {
        let c = if b[i] == b'\\' {
            let n = match b.get(i + 1) {
                Some(b'u') => 4,
                Some(b'U') => 8,
                _ => return None,
            };
            let hex = b.get(i + 2..i + 2 + n)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let c = u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            char::from_u32(c)?;
            i += 2 + n;
            c
        } else {
            i += 1;
            u32::from(b[i - 1])
        };
        text_kinds(c, &mut k);
        each(c);
    }
    Some(k)
}

/// The probe of `key`'s class judged by the full models: `Some` where every check is `Ok`,
/// `Skipped` or the failure of a probe holding only `None`.
fn probe_verdict(key: &ProbeKey) -> Option<Checks> {
    let full = |s: &Side| {
        let mut s = s.clone();
        s.load.full_model = true;
        s
    };
    let (old, new) = (full(&key.sides[0]), full(&key.sides[1]));
    let run = |pickle: Vec<u8>| {
        let _m = meter::scope(old.load.budget.verdict);
        let max_ops = old.load.budget.max_ops;
        let parsed = parse::parse(&pickle, max_ops);
        let stored = Stored::Pickle {
            form: key.form,
            pickle,
        };
        judge_stored_with(
            &stored,
            Some(Preparsed {
                parsed: &parsed,
                max_ops,
            }),
            &old,
            &new,
        )
    };
    let head: Vec<u8> = key.header.map_or(vec![], |p| vec![code::PROTO, p]);
    let mut minimal = head.clone();
    minimal.extend_from_slice(b"N.");
    let mut probe = head;
    probe_body(key.shape, &mut probe);
    probe.push(code::STOP);
    let (p, m) = (run(probe), run(minimal));
    let fine = |c: &Check, base: &Check| match c {
        Check::Ok | Check::Skipped => true,
        Check::Fails(_) => c == base,
        Check::Changes(_) | Check::Unknown(_) => false,
    };
    let pairs = [
        (&p.old_reads, &m.old_reads),
        (&p.new_reads, &m.new_reads),
        (&p.old_reads_new_write, &m.old_reads_new_write),
        (&p.new_reads_old_write, &m.new_reads_old_write),
        (&p.round_trip, &m.round_trip),
    ];
    pairs.iter().all(|(c, b)| fine(c, b)).then_some(p)
}

/// One example of each scalar kind in `kinds` (text with every feature present), as protocol 0-1
/// opcodes; `memo` numbers BINPUTs.
fn scalar_examples(kinds: u64, shared: bool, memo: &mut u8) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if kinds & K_NONE != 0 {
        out.push(b"N".to_vec());
    }
    if kinds & K_BOOL != 0 {
        out.push(b"I01\n".to_vec());
    }
    if kinds & K_INT != 0 {
        out.push(b"K\x07".to_vec());
    }
    if kinds & K_FLOAT != 0 {
        let mut f = vec![code::BINFLOAT];
        f.extend_from_slice(&1.5f64.to_be_bytes());
        out.push(f);
    }
    for (bit, ex) in [
        (K_INT64, b"I4294967296\n".as_slice()),
        (K_INT_BIG, b"I1180591620717411303424\n"),
        (K_LONG32, b"L7L\n"),
        (K_LONG64, b"L4294967296L\n"),
        (K_LONG_BIG, b"L1180591620717411303424L\n"),
        // Only in pickles of protocol 3 and up (the probe has the same header).
        (K_BYTES, b"C\x01b"),
        (K_BYTES_HIGH, b"C\x02b\xff"),
    ] {
        if kinds & bit != 0 {
            out.push(ex.to_vec());
        }
    }
    let mut strings = Vec::new();
    if kinds & (K_STR | K_STR_SPECIAL) != 0 {
        let mut s = b"s".to_vec();
        if kinds & K_STR_SPECIAL != 0 {
            s.extend_from_slice(b"\n\\'\"\x00\x7f");
        }
        let mut op = vec![code::SHORT_BINSTRING, s.len() as u8];
        op.extend_from_slice(&s);
        strings.push(op);
    }
    let text = K_UNI | K_UNI_LATIN1 | K_UNI_BMP | K_UNI_ASTRAL | K_UNI_SPECIAL;
    if kinds & text != 0 {
        let mut s = String::from("u");
        for (bit, part) in [
            (K_UNI_LATIN1, "\u{e9}"),
            (K_UNI_BMP, "\u{20ac}"),
            (K_UNI_ASTRAL, "\u{1f600}"),
            (K_UNI_SPECIAL, "\\\n\r\x00\x7f"),
        ] {
            if kinds & bit != 0 {
                s.push_str(part);
            }
        }
        let mut op = vec![code::BINUNICODE];
        op.extend_from_slice(&(s.len() as u32).to_le_bytes());
        op.extend_from_slice(s.as_bytes());
        strings.push(op);
    }
    for mut s in strings {
        if shared {
            s.extend_from_slice(&[code::BINPUT, *memo]);
            out.push(s);
            out.push(vec![code::BINGET, *memo]);
            *memo += 1;
        } else {
            out.push(s);
        }
    }
    out
}

/// The probe of `shape`: its root's kind holding one of each kind present.
fn probe_body(shape: Shape, out: &mut Vec<u8>) {
    let shared = shape.kinds & K_SHARED != 0;
    let mut memo = 0u8;
    if shape.root & SCALARS != 0 {
        // A scalar root: the value is that one scalar.
        out.extend(scalar_examples(shape.root, false, &mut memo).concat());
        return;
    }
    let mut items = scalar_examples(shape.kinds & SCALARS, shared, &mut memo);
    if shape.kinds & K_LIST != 0 {
        items.push(vec![code::EMPTY_LIST]);
    }
    if shape.kinds & K_TUPLE != 0 {
        let mut t = vec![code::MARK];
        t.extend(scalar_examples(shape.kinds & SCALARS, false, &mut memo).concat());
        t.push(code::TUPLE);
        items.push(t);
    }
    let keys = scalar_examples((shape.kinds >> KEY) & SCALARS, false, &mut memo);
    if shape.kinds & K_DICT != 0 {
        let mut d = vec![code::EMPTY_DICT, code::MARK];
        for (i, k) in keys.iter().enumerate() {
            d.extend_from_slice(k);
            d.extend_from_slice(items.get(i).map_or(b"N".as_slice(), |v| v));
        }
        d.push(code::SETITEMS);
        items.push(d);
    }
    let list = |items: &[Vec<u8>], out: &mut Vec<u8>| {
        out.extend_from_slice(&[code::EMPTY_LIST, code::MARK]);
        items.iter().for_each(|i| out.extend_from_slice(i));
        out.push(code::APPENDS);
    };
    match shape.root {
        K_TUPLE => {
            out.push(code::MARK);
            items.iter().for_each(|i| out.extend_from_slice(i));
            out.push(code::TUPLE);
        }
        K_DICT => {
            // Every kind in a value's place: the items in a list under the first key.
            out.extend_from_slice(&[code::EMPTY_DICT, code::MARK]);
            for (i, k) in keys.iter().enumerate() {
                out.extend_from_slice(k);
                if i == 0 {
                    list(&items, out);
                } else {
                    out.extend_from_slice(items.get(i).map_or(b"N".as_slice(), |v| v));
                }
            }
            out.push(code::SETITEMS);
        }
        _ => list(&items, out),
    }
}
