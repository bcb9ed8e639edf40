//! `dump(value, runtime, protocol)`: the bytes a runtime's pickler writes for a value it loaded,
//! which is what a cache layer writes back. Models CPython 3's C pickler (`Modules/_pickle.c`:
//! memo, framing, `__reduce_ex__` of the built-in types) and 2.7's cPickle (whose memo depends on
//! reference counts: see `Py2Refs`).
//!
//! The corpus test compares these bytes with what the real interpreters wrote when they re-pickled
//! the values they had loaded (`corpora/outcomes/*.jsonl`, `dumps`).

mod containers;
mod objects;
mod py2order;
mod recursion;
mod save;
mod scalars;
mod text;

use super::repr::{HEX, py2_repr_into};
pub use super::repr::{float_repr, format_g17, py2_repr};
use recursion::*;
pub(crate) use text::cp_at;
use text::*;

use super::codec;
use super::py2hash;
use super::value::{Global, Heap, Id, Known, Node, Reduce};
use super::{PyError, Runtime};
use crate::fasthash::{self, Map};
use crate::pickle::ops::code;
use num_bigint::BigInt;
use num_traits::{Signed, ToPrimitive, Zero};
use std::borrow::Cow;

/// Why a value cannot be dumped by the models.
#[derive(Debug, Clone, PartialEq, Eq)]
// Exhaustive on purpose: the ways a write-back ends without bytes; matched exhaustively by the checks.
pub enum DumpError {
    /// The real pickler raises this.
    Py(PyError),
    /// A type whose pickling is not modelled.
    Unmodelled(String),
}

type D<T> = Result<T, DumpError>;

const FRAME_SIZE_TARGET: usize = 64 * 1024;
/// Nested saves the model's recursive walk follows (its own stack: a 2 MiB thread overflowed
/// past about 1,500 nested application instances, 10,000 dicts, 15,000 lists); deeper is not
/// modelled. Values made only of lists, tuples, dicts and atoms get `MAX_PLAIN_DEPTH`.
const MAX_MODEL_DEPTH: usize = 900;
const MAX_PLAIN_DEPTH: usize = 5000;
const BATCHSIZE: usize = 1000;

/// Dump the value at `root` as `rt`'s pickler would at `protocol`.
pub fn dump(heap: &Heap, root: Id, rt: Runtime, protocol: u8) -> D<Vec<u8>> {
    let facts = rt.facts();
    if protocol > facts.highest_protocol {
        return Err(DumpError::Py(PyError::new(
            "ValueError",
            format!("pickle protocol must be <= {}", facts.highest_protocol),
        )));
    }
    let mut p = Pickler {
        heap,
        rt,
        proto: protocol,
        out: Vec::new(),
        memo: Memo::new(heap.len()),
        frame_start: None,
        framing: false,
        refs: if rt.is_py2() {
            Some(Py2Refs::count(heap, root))
        } else {
            None
        },
        depth: 0,
        max_depth: MAX_MODEL_DEPTH,
        hasher: py2hash::Hasher::new(),
        facts,
    };
    if protocol >= 2 {
        p.out.extend_from_slice(&[code::PROTO, protocol]);
        if protocol >= 4 {
            p.framing = true;
        }
    }
    if recursion_precheck(heap, root, rt, protocol)? {
        p.max_depth = MAX_PLAIN_DEPTH;
        save_deep(&mut p, root)?;
    } else {
        p.save(root, 1)?;
    }
    p.write(&[code::STOP]);
    p.commit_frame();
    if !crate::meter::bytes(p.out.len() as u64) {
        return Err(DumpError::Unmodelled("over the verdict budget".into()));
    }
    Ok(p.out)
}

/// The stack a save of up to `MAX_PLAIN_DEPTH` levels runs on (the caller's thread may have as
/// little as 2 MiB; the recursive save of one level of a list or dict takes about a kilobyte).
const DEEP_STACK: usize = 64 << 20;

/// `p.save(root)` for a value nested past `MAX_MODEL_DEPTH`: on a thread of its own with a stack
/// made for it, metered as part of the caller's verdict (the meter is per thread: the thread gets
/// what is left of the caller's budget, and its work is charged back).
fn save_deep(p: &mut Pickler<'_>, root: Id) -> D<()> {
    let (used, limits) = (crate::meter::used(), crate::meter::limits());
    let left = crate::meter::Limits {
        ops: limits.ops.saturating_sub(used.ops),
        bytes: limits.bytes.saturating_sub(used.bytes),
    };
    let outcome = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("cache-compat-deep-dump".into())
            .stack_size(DEEP_STACK)
            .spawn_scoped(s, || {
                let _meter = crate::meter::scope(left);
                let r = p.save(root, 1);
                (r, crate::meter::used())
            })
            .ok()
            .and_then(|h| h.join().ok())
    });
    match outcome {
        Some((r, spent)) => {
            crate::meter::ops(spent.ops);
            crate::meter::bytes(spent.bytes);
            r
        }
        None => Err(DumpError::Unmodelled(
            "a value nested this deep (no thread could be started to dump it)".into(),
        )),
    }
}

/// Reference counts of a loaded py2 value, for cPickle's `put()`, which skips objects whose
/// refcount is below 2: each container slot counts one; the root counts one more (the caller's
/// variable).
struct Py2Refs {
    /// By node id.
    counts: Vec<u32>,
}

impl Py2Refs {
    fn get(&self, id: Id) -> u32 {
        self.counts.get(id).copied().unwrap_or(0)
    }

    fn count(heap: &Heap, root: Id) -> Py2Refs {
        let mut counts = vec![0u32; heap.len()];
        counts[root] += 1;
        let mut seen = vec![false; heap.len()];
        let mut todo = vec![root];
        while let Some(id) = todo.pop() {
            if std::mem::replace(&mut seen[id], true) {
                continue;
            }
            for c in heap.children(id) {
                counts[c] += 1;
                todo.push(c);
            }
        }
        Py2Refs { counts }
    }
}

/// What the memo is keyed by: object identity, with the objects CPython shares (cached
/// one-character and empty strings and bytes, a class looked up twice) keyed by value.
#[derive(Debug, Clone, Copy)]
enum Ident<'k> {
    Node(Id),
    /// A text of at most one character, by its bytes.
    SmallText(&'k [u8]),
    /// Empty bytes (`None`) or one byte.
    SmallBytes(Option<u8>),
    Global(&'k str, &'k str),
    /// An object the pickler itself makes, by what made it and a number (an id or an output
    /// offset): the key `"{tag}#{n}"` of `Interned`.
    Tagged(Tag, usize),
    /// A string the pickler itself makes (module and class names, 'latin1').
    Interned(&'k str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Tag {
    Method,
    Dict,
    Args,
    Tuple,
    Text,
    Bytes,
    Shared,
    List,
}

impl Tag {
    /// The tag and number of an interned string spelled `"{tag}#{n}"` (the one key it shares).
    fn parse(s: &str) -> Option<(Tag, usize)> {
        let (tag, n) = s.split_once('#')?;
        let tag = match tag {
            "method" => Tag::Method,
            "dict" => Tag::Dict,
            "args" => Tag::Args,
            "tuple" => Tag::Tuple,
            "text" => Tag::Text,
            "bytes" => Tag::Bytes,
            "shared" => Tag::Shared,
            "list" => Tag::List,
            _ => return None,
        };
        // Only the spelling `format!("{n}")` gives: digits, no leading zero, no sign.
        let canonical = !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && (n.len() == 1 || !n.starts_with('0'));
        if !canonical {
            return None;
        }
        Some((tag, n.parse().ok()?))
    }
}

const ABSENT: u32 = u32::MAX;

/// The memo: `Ident` -> entry number, with the node keys in a table by id and the one-character
/// strings and bytes in tables by value. `len` counts distinct keys (a key put again keeps one
/// entry and takes the new number, as a map insert does).
struct Memo {
    len: u32,
    nodes: Vec<u32>,
    /// By code point (< 256), 256 for the empty string.
    small_text: [u32; 257],
    /// By byte, 256 for empty bytes.
    small_bytes: [u32; 257],
    /// One-character strings not in `small_text` (a code point of 256 or more), by bytes.
    other_text: Map<Vec<u8>, u32>,
    globals: Map<String, Map<String, u32>>,
    tagged: Map<(Tag, usize), u32>,
    interned: Map<String, u32>,
}

/// Where a key lives in the memo.
enum Slot<'k> {
    Node(Id),
    Text(usize),
    Bytes(usize),
    OtherText(&'k [u8]),
    Global(&'k str, &'k str),
    Tagged(Tag, usize),
    Interned(&'k str),
}

impl Memo {
    fn new(nodes: usize) -> Memo {
        Memo {
            len: 0,
            nodes: vec![ABSENT; nodes],
            small_text: [ABSENT; 257],
            small_bytes: [ABSENT; 257],
            other_text: fasthash::map(),
            globals: fasthash::map(),
            tagged: fasthash::map(),
            interned: fasthash::map(),
        }
    }

    fn slot(k: Ident<'_>) -> Slot<'_> {
        match k {
            Ident::Node(id) => Slot::Node(id),
            Ident::SmallText(t) => match small_text_index(t) {
                Some(i) => Slot::Text(i),
                None => Slot::OtherText(t),
            },
            Ident::SmallBytes(b) => Slot::Bytes(b.map_or(256, usize::from)),
            Ident::Global(m, n) => Slot::Global(m, n),
            Ident::Tagged(t, n) => Slot::Tagged(t, n),
            Ident::Interned(s) => match Tag::parse(s) {
                Some((t, n)) => Slot::Tagged(t, n),
                None => Slot::Interned(s),
            },
        }
    }

    fn get(&self, k: Ident<'_>) -> Option<u32> {
        let v = match Memo::slot(k) {
            Slot::Node(id) => self.nodes.get(id).copied(),
            Slot::Text(i) => Some(self.small_text[i]),
            Slot::Bytes(i) => Some(self.small_bytes[i]),
            Slot::OtherText(t) => self.other_text.get(t).copied(),
            Slot::Global(m, n) => self.globals.get(m).and_then(|g| g.get(n)).copied(),
            Slot::Tagged(t, n) => self.tagged.get(&(t, n)).copied(),
            Slot::Interned(s) => self.interned.get(s).copied(),
        };
        v.filter(|&i| i != ABSENT)
    }

    fn put(&mut self, k: Ident<'_>, i: u32) {
        let old = match Memo::slot(k) {
            Slot::Node(id) => {
                if id >= self.nodes.len() {
                    self.nodes.resize(id + 1, ABSENT);
                }
                std::mem::replace(&mut self.nodes[id], i)
            }
            Slot::Text(x) => std::mem::replace(&mut self.small_text[x], i),
            Slot::Bytes(x) => std::mem::replace(&mut self.small_bytes[x], i),
            Slot::OtherText(t) => self.other_text.insert(t.to_vec(), i).unwrap_or(ABSENT),
            Slot::Global(m, n) => self
                .globals
                .entry(m.to_string())
                .or_default()
                .insert(n.to_string(), i)
                .unwrap_or(ABSENT),
            Slot::Tagged(t, n) => self.tagged.insert((t, n), i).unwrap_or(ABSENT),
            Slot::Interned(s) => self.interned.insert(s.to_string(), i).unwrap_or(ABSENT),
        };
        if old == ABSENT {
            self.len += 1;
        }
    }
}

/// The table index of a string of at most one character whose bytes are the canonical UTF-8 of
/// a code point below 256 (or empty): two such strings are equal exactly when their indexes are.
fn small_text_index(t: &[u8]) -> Option<usize> {
    let canonical = match *t {
        [] => return Some(256),
        [c] => c < 0x80,
        [a, b] => (0xc2..=0xc3).contains(&a) && (0x80..0xc0).contains(&b),
        _ => false,
    };
    canonical.then(|| cp_at(t, 0).0 as usize)
}

/// `n` in decimal.
fn push_decimal(out: &mut Vec<u8>, n: u32) {
    let mut buf = [0u8; 10];
    let mut k = buf.len();
    let mut n = n;
    loop {
        k -= 1;
        buf[k] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[k..]);
}

struct Pickler<'a> {
    heap: &'a Heap,
    rt: Runtime,
    proto: u8,
    out: Vec<u8>,
    memo: Memo,
    frame_start: Option<usize>,
    framing: bool,
    refs: Option<Py2Refs>,
    depth: usize,
    max_depth: usize,
    /// py2: the 2.7 hashes of the keys met so far (dict and set order).
    hasher: py2hash::Hasher,
    /// The runtime's facts, made once: `Runtime::facts` builds the whole table, which a
    /// recursive save must not carry in every frame (deep values would overflow the stack).
    facts: super::Facts,
}

/// How a py2 process filled a dict the dump writes, which decides its table (and so the order
/// the pickler walks it in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filled {
    /// Item by item into a fresh dict in the order the heap holds them (SETITEM/SETITEMS/DICT
    /// in stream order, duplicates overwriting in place; a set from `set(list)`).
    Inserted,
    /// By BUILD from a state dict that was itself filled in heap order: cPickle's `load_build`
    /// (`PyDict_Next` over the state, `PyObject_SetItem` into the fresh `__dict__`) and
    /// `BaseException.__setstate__` (`PyDict_Next`, setattr).
    FromState,
    /// `collections.Counter(d)` re-pickled as `dict(self)`: `d` filled in heap order, merged
    /// into the Counter (`dict.update`), merged again into a fresh dict (`PyDict_Merge` twice).
    CounterCopy,
}

/// A value the pickler writes that is not a node of the heap (the pieces of a `__reduce__`).
enum V<'b> {
    Node(Id),
    Text(&'b str),
    /// Text the pickler interns (module names, 'latin1'): memoized by value.
    Interned(&'b str),
    Bytes(Vec<u8>),
    /// A py2 `str` that something else also references (memoized by cPickle).
    Py2Shared(Vec<u8>),
    Int(BigInt),
    Float(f64),
    Global(&'b str, &'b str),
    Tuple(Vec<V<'b>>),
    List(Vec<V<'b>>),
}

impl<'a> Pickler<'a> {
    fn py2(&self) -> bool {
        self.rt.is_py2()
    }

    // ----- output and framing -------------------------------------------------------------

    fn write(&mut self, b: &[u8]) {
        self.out_mut().extend_from_slice(b);
    }

    /// The output, with a frame open if framing (what `write` appends to).
    fn out_mut(&mut self) -> &mut Vec<u8> {
        if self.framing && self.frame_start.is_none() {
            self.frame_start = Some(self.out.len());
            self.out.extend_from_slice(&[0u8; 9]);
        }
        &mut self.out
    }

    /// `_Pickler_CommitFrame`: write the FRAME header, or drop the reserved bytes of a frame
    /// shorter than 4 bytes (3.7+; 3.4-3.6 frame everything).
    fn commit_frame(&mut self) {
        let Some(start) = self.frame_start.take() else {
            return;
        };
        let len = self.out.len() - start - 9;
        if len >= 4 || !self.facts.frames_min_4 {
            self.out[start] = code::FRAME;
            self.out[start + 1..start + 9].copy_from_slice(&(len as u64).to_le_bytes());
        } else {
            self.out.drain(start..start + 9);
        }
    }

    /// Commit the frame once it has grown past the target (checked before each object).
    fn boundary(&mut self) {
        if let Some(start) = self.frame_start
            && self.out.len() - start - 9 >= FRAME_SIZE_TARGET
        {
            self.commit_frame();
        }
    }

    /// A header and a payload; 3.7+ write payloads of 64 KiB and more outside any frame.
    fn write_payload(&mut self, header: &[u8], data: &[u8]) {
        if self.framing && data.len() >= FRAME_SIZE_TARGET && self.facts.frames_min_4 {
            self.commit_frame();
            self.out.extend_from_slice(header);
            self.out.extend_from_slice(data);
        } else {
            self.write(header);
            self.write(data);
        }
    }

    // ----- memo ---------------------------------------------------------------------------

    /// The memo fetch of entry `i`.
    fn write_get(&mut self, i: u32) {
        self.write_memo_op(i, b'g', code::BINGET, code::LONG_BINGET);
    }

    /// `text` + decimal + newline at protocol 0, else `short` + one byte or `long` + four.
    fn write_memo_op(&mut self, i: u32, text: u8, short: u8, long: u8) {
        if self.proto == 0 {
            let out = self.out_mut();
            out.push(text);
            push_decimal(out, i);
            out.push(b'\n');
        } else if i < 256 {
            self.write(&[short, i as u8]);
        } else {
            let b = i.to_le_bytes();
            self.write(&[long, b[0], b[1], b[2], b[3]]);
        }
    }

    fn memo_put(&mut self, ident: Ident<'_>) {
        // cPickle numbers memo entries from 1, the C pickler of 3.x from 0.
        let i = self.memo.len + if self.py2() { 1 } else { 0 };
        self.memo.put(ident, i);
        if self.proto >= 4 && !self.py2() {
            self.write(&[code::MEMOIZE]);
        } else {
            self.write_memo_op(i, b'p', code::BINPUT, code::LONG_BINPUT);
        }
    }

    /// cPickle's `put()`: only objects with a refcount of 2 or more. `extra` is the reference
    /// the saving code itself holds (an iterator's).
    fn py2_put(&mut self, id: Id, extra: u32) {
        let rc = self.refs.as_ref().map_or(0, |r| r.get(id)) + extra;
        if rc >= 2 {
            let ident = self.ident(id);
            self.memo_put(ident);
        }
    }

    fn ident(&self, id: Id) -> Ident<'a> {
        let heap: &'a Heap = self.heap;
        match heap.get(id) {
            Node::Text(t) if at_most_one_char(t) && codec::code_points(t).all(|c| c < 256) => {
                Ident::SmallText(t)
            }
            Node::Bytes(b) if b.len() <= 1 => Ident::SmallBytes(b.first().copied()),
            Node::Global(g) => Ident::Global(&g.module, &g.name),
            // 2.7's frozenset_new returns one empty frozenset for every empty one (a singleton
            // the interpreter also holds: always memoized).
            Node::FrozenSet(v) if v.is_empty() && self.py2() => Ident::Interned("\0frozenset()"),
            _ => Ident::Node(id),
        }
    }
}

enum Items<'b> {
    None,
    List(&'b [Id]),
    Dict(&'b [(Id, Id)]),
}

#[cfg(test)]
mod tests;
