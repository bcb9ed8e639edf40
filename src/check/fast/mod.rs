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

mod probe;
mod scalars;
use probe::*;
use scalars::*;

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
