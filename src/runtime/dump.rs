//! `dump(value, runtime, protocol)`: the bytes a runtime's pickler writes for a value it loaded,
//! which is what a cache layer writes back. Models CPython 3's C pickler (`Modules/_pickle.c`:
//! memo, framing, `__reduce_ex__` of the built-in types) and 2.7's cPickle (whose memo depends on
//! reference counts: see `Py2Refs`).
//!
//! The corpus test compares these bytes with what the real interpreters wrote when they re-pickled
//! the values they had loaded (`corpora/outcomes/*.jsonl`, `dumps`).

use super::codec;
use super::value::{Global, Heap, Id, Known, Node, Reduce};
use super::{PyError, Runtime};
use crate::fasthash::{self, Map};
use crate::pickle::ops::code;
use num_bigint::BigInt;
use num_traits::{Signed, ToPrimitive, Zero};

/// Why a value cannot be dumped by the models.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    };
    if protocol >= 2 {
        p.out.extend_from_slice(&[code::PROTO, protocol]);
        if protocol >= 4 {
            p.framing = true;
        }
    }
    if recursion_precheck(heap, root, rt, protocol)? {
        p.max_depth = MAX_PLAIN_DEPTH;
    }
    p.save(root, 1)?;
    p.write(&[code::STOP]);
    p.commit_frame();
    if !crate::meter::bytes(p.out.len() as u64) {
        return Err(DumpError::Unmodelled("over the verdict budget".into()));
    }
    Ok(p.out)
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
        if len >= 4 || !self.rt.facts().frames_min_4 {
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
        if self.framing && data.len() >= FRAME_SIZE_TARGET && self.rt.facts().frames_min_4 {
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
            _ => Ident::Node(id),
        }
    }

    // ----- save ---------------------------------------------------------------------------

    /// `extra`: references the caller holds while saving (cPickle's iterators), for py2's memo.
    fn save(&mut self, id: Id, extra: u32) -> D<()> {
        if !crate::meter::ops(1) {
            return Err(DumpError::Unmodelled("over the verdict budget".into()));
        }
        self.depth += 1;
        if self.depth > self.max_depth {
            // `recursion_precheck` said what the real pickler does past its limit; this only
            // bounds the model's own (recursive) walk.
            return Err(DumpError::Unmodelled(
                "nesting deeper than the model follows".into(),
            ));
        }
        let r = self.save_inner(id, extra);
        self.depth -= 1;
        r
    }

    fn save_inner(&mut self, id: Id, extra: u32) -> D<()> {
        if !self.py2() {
            self.boundary();
        }
        let heap = self.heap;
        let node: &'a Node = heap.get(id);
        match node {
            Node::None => {
                self.write(b"N");
                return Ok(());
            }
            Node::Bool(b) => {
                self.save_bool(*b);
                return Ok(());
            }
            Node::Int(v) => return self.save_int(v, false),
            Node::Long(v) => return self.save_int(v, true),
            Node::Float(f) => {
                self.save_float(*f);
                return Ok(());
            }
            _ => {}
        }
        let ident = self.ident(id);
        if let Some(i) = self.memo.get(ident) {
            self.write_get(i);
            return Ok(());
        }
        match node {
            Node::Bytes(b) => {
                if self.py2() {
                    self.save_py2_str(b);
                    if b.len() > 1 {
                        self.py2_put(id, extra);
                    }
                    Ok(())
                } else {
                    self.save_bytes(b, Some(ident))
                }
            }
            Node::Text(t) => {
                self.save_text(t);
                if self.py2() {
                    if !at_most_one_char(t) {
                        self.py2_put(id, extra);
                    }
                } else {
                    self.memo_put(ident);
                }
                Ok(())
            }
            Node::List(items) => {
                if self.proto >= 1 {
                    self.write(&[code::EMPTY_LIST]);
                } else {
                    self.write(b"(l");
                }
                self.put_container(id, ident, extra, !items.is_empty());
                self.batch_appends(items)
            }
            Node::Dict(kv) => {
                if self.proto >= 1 {
                    self.write(&[code::EMPTY_DICT]);
                } else {
                    self.write(b"(d");
                }
                self.put_container(id, ident, extra, !kv.is_empty());
                self.batch_setitems(kv, self.py2() && self.proto == 0)
            }
            Node::Tuple(items) => self.save_tuple(id, items, extra),
            Node::Set(items) if self.proto >= 4 => {
                self.write(&[code::EMPTY_SET]);
                self.memo_put(ident);
                for chunk in items.chunks(BATCHSIZE) {
                    self.write(&[code::MARK]);
                    for &it in chunk {
                        self.save(it, 0)?;
                    }
                    self.write(&[code::ADDITEMS]);
                }
                Ok(())
            }
            Node::FrozenSet(items) if self.proto >= 4 => {
                self.write(&[code::MARK]);
                for &it in items {
                    self.save(it, 0)?;
                }
                if let Some(i) = self.memo.get(ident) {
                    // Recursive: pop what was written, fetch the memoized one.
                    self.write(&[code::POP_MARK]);
                    self.write_get(i);
                    return Ok(());
                }
                self.write(&[code::FROZENSET]);
                self.memo_put(ident);
                Ok(())
            }
            Node::Set(items) | Node::FrozenSet(items) => {
                let g = if matches!(node, Node::Set(_)) {
                    "set"
                } else {
                    "frozenset"
                };
                let list = V::List(items.iter().map(|&i| V::Node(i)).collect());
                self.save_reduce(id, ("builtins", g), V::Tuple(vec![list]), None, extra)
            }
            Node::ByteArray(b) => self.save_bytearray(id, b, extra),
            Node::Global(g) if !super::render::global_predictable(g) => {
                // A dunder or dotted attribute the models do not know: what it is, and so how
                // it pickles, is not known.
                Err(DumpError::Unmodelled(format!(
                    "pickling {}.{}",
                    g.module, g.name
                )))
            }
            Node::Global(g) => self.save_global(&g.module, &g.name, Some(ident)),
            Node::Datetime {
                fields: f,
                tz,
                fold,
            } => {
                let fold = if self.proto > 3 { *fold } else { 0 };
                let mut st = vec![
                    (f[0] >> 8) as u8,
                    f[0] as u8,
                    f[1] as u8 | (fold << 7),
                    f[2] as u8,
                    f[3] as u8,
                    f[4] as u8,
                    f[5] as u8,
                ];
                st.extend_from_slice(&[(f[6] >> 16) as u8, (f[6] >> 8) as u8, f[6] as u8]);
                let mut args = vec![V::Bytes(st)];
                if let Some(t) = tz {
                    args.push(V::Node(*t));
                }
                self.save_reduce(id, ("datetime", "datetime"), V::Tuple(args), None, extra)
            }
            Node::Date(f) => {
                let st = vec![(f[0] >> 8) as u8, f[0] as u8, f[1] as u8, f[2] as u8];
                self.save_reduce(
                    id,
                    ("datetime", "date"),
                    V::Tuple(vec![V::Bytes(st)]),
                    None,
                    extra,
                )
            }
            Node::Time {
                fields: f,
                tz,
                fold,
            } => {
                let fold = if self.proto > 3 { *fold } else { 0 };
                let st = vec![
                    f[0] as u8 | (fold << 7),
                    f[1] as u8,
                    f[2] as u8,
                    (f[3] >> 16) as u8,
                    (f[3] >> 8) as u8,
                    f[3] as u8,
                ];
                let mut args = vec![V::Bytes(st)];
                if let Some(t) = tz {
                    args.push(V::Node(*t));
                }
                self.save_reduce(id, ("datetime", "time"), V::Tuple(args), None, extra)
            }
            Node::Timedelta(f) => {
                let args = V::Tuple(f.iter().map(|&x| V::Int(BigInt::from(x))).collect());
                self.save_reduce(id, ("datetime", "timedelta"), args, None, extra)
            }
            Node::Timezone { offset, name } => {
                let mut args = vec![V::Node(*offset)];
                if let Some(n) = name {
                    args.push(V::Node(*n));
                }
                self.save_reduce(id, ("datetime", "timezone"), V::Tuple(args), None, extra)
            }
            Node::ZoneInfo { key, from_cache } => {
                // ZoneInfo.__reduce__ is (ZoneInfo._unpickle, (key, from_cache)); the bound
                // method pickles as getattr(ZoneInfo, '_unpickle') (a fresh object, memoized).
                self.save_global("builtins", "getattr", None)?;
                self.save_tuple_v(
                    &[V::Global("zoneinfo", "ZoneInfo"), V::Interned("_unpickle")],
                    0,
                )?;
                self.write(&[code::REDUCE]);
                let m = Ident::Tagged(Tag::Method, self.out.len());
                self.memo_put(m);
                self.save_tuple_v(&[V::Node(*key), V::Int(BigInt::from(*from_cache))], 0)?;
                self.write(&[code::REDUCE]);
                self.memo_put(ident);
                Ok(())
            }
            Node::Decimal(s) => {
                let arg = if self.py2() && matches!(s.as_str(), "NaN" | "sNaN" | "Infinity") {
                    // py2 Decimal.__str__ returns these as the code's constants (refcount > 1).
                    V::Py2Shared(s.clone().into_bytes())
                } else if self.py2() {
                    V::Bytes(s.clone().into_bytes())
                } else {
                    V::Text(s)
                };
                let args = V::Tuple(vec![arg]);
                self.save_reduce(id, ("decimal", "Decimal"), args, None, extra)
            }
            Node::Complex(re, im) => {
                let args = V::Tuple(vec![V::Float(*re), V::Float(*im)]);
                self.save_reduce(id, ("builtins", "complex"), args, None, extra)
            }
            Node::OrderedDict(kv) if !self.py2() => self.save_reduce_with_items(
                id,
                ("collections", "OrderedDict"),
                V::Tuple(vec![]),
                Items::Dict(kv),
                extra,
            ),
            Node::DefaultDict { factory, items } if !self.py2() => {
                // defdict_reduce: no arguments when the factory is None.
                let args = if matches!(self.heap.get(*factory), Node::None) {
                    V::Tuple(vec![])
                } else {
                    V::Tuple(vec![V::Node(*factory)])
                };
                self.save_reduce_with_items(
                    id,
                    ("collections", "defaultdict"),
                    args,
                    Items::Dict(items),
                    extra,
                )
            }
            Node::Deque { items, maxlen } if !self.py2() => {
                let args = match maxlen {
                    Some(m) => V::Tuple(vec![V::Tuple(vec![]), V::Int(BigInt::from(*m))]),
                    None => V::Tuple(vec![]),
                };
                self.save_reduce_with_items(
                    id,
                    ("collections", "deque"),
                    args,
                    Items::List(items),
                    extra,
                )
            }
            Node::OrderedDict(kv) => {
                // 2.7 collections.py: __reduce__ returns (cls, ([[k, v], ...],)) (plus the
                // instance dict when it has more than the class's own links, which a load
                // never sets).
                self.save_global("collections", "OrderedDict", None)?;
                self.py2_args_open(1);
                self.py2_fresh_list(kv.len(), |p| {
                    p.py2_batch(kv, |p, &(k, v)| {
                        // [k, v]: a fresh list, so memoized; k and v held by it and the list
                        // iterator besides the OrderedDict.
                        p.py2_fresh_list(2, |p| {
                            if p.proto == 0 {
                                p.save(k, 2)?;
                                p.write(&[code::APPEND]);
                                p.save(v, 2)?;
                                p.write(&[code::APPEND]);
                            } else {
                                p.write(&[code::MARK]);
                                p.save(k, 2)?;
                                p.save(v, 2)?;
                                p.write(&[code::APPENDS]);
                            }
                            Ok(())
                        })
                    })
                })?;
                self.py2_args_close(1);
                self.write(&[code::REDUCE]);
                self.py2_memo_reduced(ident);
                Ok(())
            }
            Node::DefaultDict { factory, items } => {
                // defdict_reduce: (type, () or (factory,), None, None, iteritems()).
                self.save_global("collections", "defaultdict", None)?;
                if matches!(self.heap.get(*factory), Node::None) {
                    self.write(if self.proto >= 1 { b")" } else { b"(t" });
                } else {
                    self.py2_args_open(1);
                    self.save(*factory, 1)?;
                    self.py2_args_close(1);
                }
                self.write(&[code::REDUCE]);
                if self.py2_memo_reduced(ident) {
                    self.batch_setitems_mode(items, 1, false)?;
                }
                Ok(())
            }
            Node::Deque { items, maxlen } => {
                // deque_reduce: (type, (list(d),)) or (type, (list(d), maxlen)).
                let n = if maxlen.is_some() { 2 } else { 1 };
                self.save_global("collections", "deque", None)?;
                self.py2_args_open(n);
                self.py2_fresh_list(items.len(), |p| p.py2_batch(items, |p, &it| p.save(it, 2)))?;
                if let Some(m) = maxlen {
                    self.save_int(&BigInt::from(*m), false)?;
                }
                self.py2_args_close(n);
                self.write(&[code::REDUCE]);
                self.py2_memo_reduced(ident);
                Ok(())
            }
            Node::Range([start, stop, step]) if self.py2() => {
                // range_reduce: (xrange, (start, start + len * step, step)), built with C ints
                // ("(O(iii))"): values beyond 32 bits would be truncated, so not modelled.
                let len = if step.is_positive() && start < stop {
                    (stop - start - 1) / step + 1
                } else if step.is_negative() && start > stop {
                    (start - stop - 1) / -step + 1
                } else {
                    BigInt::zero()
                };
                let end = start + &len * step;
                let fits = |v: &BigInt| v.to_i32().is_some();
                if ![start, stop, step, &end].into_iter().all(fits) {
                    return Err(DumpError::Unmodelled(
                        "py2: an xrange beyond C int (range_reduce's \"i\" format)".into(),
                    ));
                }
                self.save_global("builtins", "xrange", None)?;
                self.py2_args_open(3);
                for v in [start, &end, step] {
                    self.save_int(v, false)?;
                }
                self.py2_args_close(3);
                self.write(&[code::REDUCE]);
                self.py2_memo_reduced(ident);
                Ok(())
            }
            Node::Range([start, stop, step]) => {
                // range_reduce: (range, (start, stop, step)) as constructed.
                let args = V::Tuple(vec![
                    V::Int(start.clone()),
                    V::Int(stop.clone()),
                    V::Int(step.clone()),
                ]);
                self.save_reduce(id, ("builtins", "range"), args, None, extra)
            }
            Node::Opaque {
                reduce: Some(r), ..
            } if self.py2() && self.py2_slice_args(r).is_some() => {
                // slice_reduce: (slice, (start, stop, step)), the parts held by the slice.
                let parts = self.py2_slice_args(r).unwrap_or_default();
                self.save_global("builtins", "slice", None)?;
                self.py2_args_open(3);
                for part in parts {
                    match part {
                        Some(x) => self.save(x, 1)?,
                        None => self.write(b"N"),
                    }
                }
                self.py2_args_close(3);
                self.write(&[code::REDUCE]);
                self.py2_memo_reduced(ident);
                Ok(())
            }
            Node::Opaque {
                reduce: Some(r), ..
            } if self.py2() && self.py2_fraction_str(r).is_some() => {
                // 2.7 fractions.py: __reduce__ returns (cls, (str(self),)), a fresh str.
                let text = self.py2_fraction_str(r).unwrap_or_default();
                self.save_global("fractions", "Fraction", None)?;
                self.py2_args_open(1);
                self.save_py2_str(text.as_bytes());
                self.py2_args_close(1);
                self.write(&[code::REDUCE]);
                self.py2_memo_reduced(ident);
                Ok(())
            }
            Node::Opaque {
                reduce: Some(r), ..
            } if self.py2() && self.py2_counter_items(r).is_some() => {
                // 2.7 collections.py: Counter.__reduce__ returns (cls, (dict(self),)); the
                // Counter holds what its one argument held (dict.update into an empty Counter).
                let kv = self.py2_counter_items(r).unwrap_or(&[]);
                self.save_global("collections", "Counter", None)?;
                self.py2_args_open(1);
                self.write(if self.proto >= 1 { b"}" } else { b"(d" });
                if !kv.is_empty() {
                    // A fresh container (put2), keyed by its output offset.
                    self.memo_put(Ident::Tagged(Tag::List, self.out.len()));
                }
                // Keys and values are held by the Counter and the fresh dict.
                self.batch_setitems_mode(kv, 1 + u32::from(self.proto == 0), false)?;
                self.py2_args_close(1);
                self.write(&[code::REDUCE]);
                self.py2_memo_reduced(ident);
                Ok(())
            }
            Node::Exception { class, args, dict } => {
                // BaseException.__reduce__ returns (type, self.args[, self.__dict__]): the args
                // tuple is shared with the exception (refcount 2 on py2), and py2's exceptions
                // keep a second reference to some arguments as attributes: `message` (a single
                // argument), EnvironmentError's errno/strerror/filename, the Unicode errors'
                // fields.
                let (m, n) = (class.module.clone(), class.name.clone());
                self.save_global(&m, &n, None)?;
                let args = *args;
                let items: &'a [Id] = match heap.get(args) {
                    Node::Tuple(v) => v,
                    _ => &[],
                };
                let attrs = self.py2()
                    && (items.len() == 1
                        || (matches!(n.as_str(), "OSError" | "IOError" | "EnvironmentError")
                            && (2..=3).contains(&items.len()))
                        || (n.starts_with("Unicode")
                            && n.ends_with("Error")
                            && (4..=5).contains(&items.len())));
                if attrs {
                    let op = match (self.proto >= 2, items.len()) {
                        (true, 1) => Some(code::TUPLE1),
                        (true, 2) => Some(code::TUPLE2),
                        (true, 3) => Some(code::TUPLE3),
                        _ => None,
                    };
                    if op.is_none() {
                        self.write(&[code::MARK]);
                    }
                    for &it in items {
                        self.save(it, 1)?;
                    }
                    self.write(&[op.unwrap_or(code::TUPLE)]);
                    self.py2_put(args, 1);
                } else {
                    self.save(args, 1)?;
                }
                self.write(&[code::REDUCE]);
                // py2 too: the bound __reduce_ex__ holds the exception, so `put` memoizes it.
                let _ = extra;
                let ident = self.ident(id);
                self.memo_put(ident);
                if !dict.is_empty() {
                    // The state is the exception's __dict__ (refcount 2 on py2: the exception
                    // and the reduce tuple); its keys went through setattr, which interns them.
                    self.write(if self.proto >= 1 { b"}" } else { b"(d" });
                    self.memo_put(Ident::Tagged(Tag::Dict, id));
                    self.attr_items(dict)?;
                    self.write(&[code::BUILD]);
                }
                Ok(())
            }
            Node::Instance { class, dict } => self.save_instance(id, class, dict, extra),
            Node::Opaque {
                class,
                reduce: Some(r),
            } if !self.py2() && class.known == Known::AppClass => self.save_reduced(id, class, r),
            other => Err(DumpError::Unmodelled(format!(
                "pickling {} is not modelled",
                super::load::type_name(other, self.py2())
            ))),
        }
    }

    /// cPickle's save_list/save_dict: `put2` (always memoized) when the container is
    /// non-empty, `put` (by refcount) when it is empty.
    fn put_container(&mut self, id: Id, ident: Ident, extra: u32, non_empty: bool) {
        if self.py2() && !non_empty {
            self.py2_put(id, extra);
        } else {
            self.memo_put(ident);
        }
    }

    fn save_bool(&mut self, b: bool) {
        if self.proto >= 2 {
            self.write(&[if b { code::NEWTRUE } else { code::NEWFALSE }]);
        } else {
            self.write(if b { b"I01\n" } else { b"I00\n" });
        }
    }

    fn save_int(&mut self, v: &BigInt, long: bool) -> D<()> {
        let fits32 = v.to_i32().is_some();
        if self.proto >= 1 && fits32 && !long {
            let x = v.to_i32().unwrap_or(0);
            if (0..=0xff).contains(&x) {
                self.write(&[code::BININT1, x as u8]);
            } else if (0..=0xffff).contains(&x) {
                let b = (x as u16).to_le_bytes();
                self.write(&[code::BININT2, b[0], b[1]]);
            } else {
                let b = x.to_le_bytes();
                self.write(&[code::BININT, b[0], b[1], b[2], b[3]]);
            }
            return Ok(());
        }
        if self.py2() && !long && v.to_i64().is_some() {
            // A py2 int (C long) that does not fit 32 bits: text INT at every protocol.
            self.write(format!("I{v}\n").as_bytes());
            return Ok(());
        }
        if self.proto >= 2 {
            let bytes = if v.is_zero() {
                Vec::new()
            } else {
                v.to_signed_bytes_le()
            };
            if bytes.len() < 256 {
                self.write(&[code::LONG1, bytes.len() as u8]);
            } else {
                self.write(&[code::LONG4]);
                self.write(&(bytes.len() as u32).to_le_bytes());
            }
            self.write(&bytes);
            return Ok(());
        }
        let digits = v.abs().to_string().len();
        if let Some(limit) = self.rt.facts().int_max_str_digits
            && digits > limit
        {
            return Err(DumpError::Py(PyError::new(
                "ValueError",
                format!(
                    "Exceeds the limit ({}) for integer string conversion; use sys.set_int_max_str_digits() to increase the limit",
                    if self.rt.facts().int_limit_says_digits {
                        "4300 digits"
                    } else {
                        "4300"
                    }
                ),
            )));
        }
        let small = v.to_i32().is_some();
        let py3_int = !self.py2() && self.proto == 0 && small && !self.rt.facts().p0_int_as_long;
        if py3_int || (self.py2() && !long) {
            self.write(format!("I{v}\n").as_bytes());
        } else {
            self.write(format!("L{v}L\n").as_bytes());
        }
        Ok(())
    }

    fn save_float(&mut self, f: f64) {
        if self.proto >= 1 {
            self.write(&[code::BINFLOAT]);
            self.write(&f.to_be_bytes());
        } else {
            let text = if self.py2() {
                format_g17(f)
            } else {
                float_repr(f)
            };
            self.write(format!("F{text}\n").as_bytes());
        }
    }

    fn save_py2_str(&mut self, b: &[u8]) {
        if self.proto == 0 {
            let out = self.out_mut();
            out.push(b'S');
            py2_repr_into(out, b);
            out.push(b'\n');
        } else if b.len() < 256 {
            self.write(&[code::SHORT_BINSTRING, b.len() as u8]);
            self.write(b);
        } else {
            self.write(&[code::BINSTRING]);
            self.write(&(b.len() as u32).to_le_bytes());
            self.write(b);
        }
    }

    fn save_text(&mut self, t: &[u8]) {
        let joined;
        // Standard UTF-8 holds no surrogates, and re-encoding its code points gives it back.
        let t = if self.py2() && self.proto >= 1 && std::str::from_utf8(t).is_err() {
            // py2's UTF-8 encoder joins a high and a low surrogate into one 4-byte sequence.
            joined = join_surrogate_pairs(t);
            &joined[..]
        } else {
            t
        };
        if self.proto == 0 {
            let (py2, ctrl) = (self.py2(), self.rt.facts().p0_unicode_escapes_ctrl);
            let out = self.out_mut();
            out.push(b'V');
            raw_unicode_escape_into(out, t, py2, ctrl);
            out.push(b'\n');
            return;
        }
        if self.proto >= 4 && t.len() < 256 && !self.py2() {
            self.write(&[code::SHORT_BINUNICODE, t.len() as u8]);
            self.write(t);
        } else if t.len() <= u32::MAX as usize {
            let mut h = vec![code::BINUNICODE];
            h.extend_from_slice(&(t.len() as u32).to_le_bytes());
            self.write_payload(&h, t);
        } else {
            let mut h = vec![code::BINUNICODE8];
            h.extend_from_slice(&(t.len() as u64).to_le_bytes());
            self.write_payload(&h, t);
        }
    }

    fn save_bytes(&mut self, b: &[u8], ident: Option<Ident>) -> D<()> {
        if self.proto < 3 {
            // save_bytes: `bytes()` or `_codecs.encode(text, 'latin1')` through save_reduce.
            if b.is_empty() {
                self.save_global("builtins", "bytes", None)?;
                self.save_v(&V::Tuple(vec![]), 0)?;
            } else {
                self.save_global("_codecs", "encode", None)?;
                let text = codec::decode_latin1(b);
                self.save_tuple_v(
                    &[
                        V::Text(std::str::from_utf8(&text).unwrap_or("")),
                        V::Interned("latin1"),
                    ],
                    0,
                )?;
            }
            self.write(&[code::REDUCE]);
        } else if b.len() < 256 {
            self.write(&[code::SHORT_BINBYTES, b.len() as u8]);
            self.write(b);
        } else {
            let mut h = if b.len() <= u32::MAX as usize {
                vec![code::BINBYTES]
            } else {
                vec![code::BINBYTES8]
            };
            if h[0] == code::BINBYTES {
                h.extend_from_slice(&(b.len() as u32).to_le_bytes());
            } else {
                h.extend_from_slice(&(b.len() as u64).to_le_bytes());
            }
            self.write_payload(&h, b);
        }
        if let Some(i) = ident {
            self.memo_put(i);
        }
        Ok(())
    }

    fn save_bytearray(&mut self, id: Id, b: &[u8], extra: u32) -> D<()> {
        let facts = self.rt.facts();
        if self.proto >= 5 {
            self.write(&[code::BYTEARRAY8]);
            self.write(&(b.len() as u64).to_le_bytes());
            self.write(b);
            let ident = self.ident(id);
            self.memo_put(ident);
            return Ok(());
        }
        let text;
        let args = if self.py2() || (self.proto < 3 && !facts.bytearray_via_codecs) {
            text = String::from_utf8(codec::decode_latin1(b)).unwrap_or_default();
            let enc = if self.py2() {
                V::Bytes(b"latin-1".to_vec())
            } else {
                V::Interned("latin-1")
            };
            V::Tuple(vec![V::Text(&text), enc])
        } else if b.is_empty() {
            V::Tuple(vec![])
        } else {
            V::Tuple(vec![V::Bytes(b.to_vec())])
        };
        self.save_reduce(id, ("builtins", "bytearray"), args, None, extra)
    }

    /// The module and name a global is written under (`fix_imports` at protocols 0-2).
    fn global_name(&self, module: &str, name: &str) -> (String, String) {
        let module = match (module, self.py2()) {
            ("builtins", true) => "__builtin__",
            ("copyreg", true) => "copy_reg",
            (m, _) => m,
        };
        if !self.py2()
            && self.proto < 3
            && let Some(c) = self.rt.tables_or_nearest().compat
        {
            if let Some((m, n)) = c.reverse_name(module, name) {
                return (m.into(), n.into());
            }
            if let Some(m) = c.reverse_import(module) {
                return (m.into(), name.into());
            }
        }
        (module.into(), name.into())
    }

    fn save_global(&mut self, module: &str, name: &str, ident: Option<Ident>) -> D<()> {
        let module = match module {
            "os.path" => "posixpath",
            // py2's own spellings of the modules the models name in 3.x terms: one class object.
            "__builtin__" if self.py2() => "builtins",
            "copy_reg" if self.py2() => "copyreg",
            m => m,
        };
        let key = Ident::Global(module, name);
        if let Some(i) = self.memo.get(key) {
            self.write_get(i);
            return Ok(());
        }
        if self.proto >= 4 && !self.py2() {
            // The module name is interned (one object however often it is written); the
            // qualified name of a C type is a fresh string each time.
            self.save_v(&V::Interned(module), 0)?;
            self.save_v(&V::Text(name), 0)?;
            self.write(&[code::STACK_GLOBAL]);
        } else {
            let (m, n) = self.global_name(module, name);
            self.write(format!("c{m}\n{n}\n").as_bytes());
        }
        let _ = ident;
        self.memo_put(key);
        Ok(())
    }

    fn save_tuple(&mut self, id: Id, items: &[Id], extra: u32) -> D<()> {
        if items.is_empty() {
            self.write(if self.proto >= 1 { b")" } else { b"(t" });
            return Ok(());
        }
        let ident = self.ident(id);
        let n = items.len();
        if n <= 3 && self.proto >= 2 {
            for &it in items {
                self.save(it, 0)?;
            }
            if let Some(i) = self.memo.get(ident) {
                for _ in 0..n {
                    self.write(&[code::POP]);
                }
                self.write_get(i);
                return Ok(());
            }
            self.write(&[code::TUPLE1 + n as u8 - 1]);
        } else {
            self.write(&[code::MARK]);
            for &it in items {
                self.save(it, 0)?;
            }
            if let Some(i) = self.memo.get(ident) {
                if self.proto >= 1 {
                    self.write(&[code::POP_MARK]);
                } else {
                    for _ in 0..=n {
                        self.write(&[code::POP]);
                    }
                }
                self.write_get(i);
                return Ok(());
            }
            self.write(&[code::TUPLE]);
        }
        if self.py2() {
            self.py2_put(id, extra);
        } else {
            self.memo_put(ident);
        }
        Ok(())
    }

    /// The 3.x C pickler's exact list and dict paths put every batch under MARK, a last batch
    /// of one too, up to 3.14 (`Facts::pickler_last_single_plain`: 3.15 writes it plain).
    fn exact_batches(&self) -> bool {
        !self.py2() && !self.rt.facts().pickler_last_single_plain
    }

    fn batch_appends(&mut self, items: &[Id]) -> D<()> {
        self.batch_appends_mode(items, self.exact_batches())
    }

    /// `exact`: the 3.x C pickler's path for an exact list (every batch under MARK); otherwise
    /// the generic iterator path, whose last batch of a single item is a plain APPEND.
    fn batch_appends_mode(&mut self, items: &[Id], exact: bool) -> D<()> {
        if self.proto == 0 {
            for &it in items {
                self.save(it, 1)?;
                self.write(&[code::APPEND]);
            }
            return Ok(());
        }
        if items.len() == 1 {
            self.save(items[0], 1)?;
            self.write(&[code::APPEND]);
            return Ok(());
        }
        for chunk in items.chunks(BATCHSIZE) {
            if chunk.len() == 1 && !exact {
                self.save(chunk[0], 1)?;
                self.write(&[code::APPEND]);
                continue;
            }
            self.write(&[code::MARK]);
            for &it in chunk {
                self.save(it, 1)?;
            }
            self.write(&[code::APPENDS]);
        }
        Ok(())
    }

    /// The items of an instance's or exception's `__dict__`: as `batch_setitems`, except that on
    /// py2 an attribute name (a `str` of two or more characters; shorter ones are never memoized)
    /// is interned, and so held by the code that names it as well: memoized.
    fn attr_items(&mut self, kv: &[(Id, Id)]) -> D<()> {
        if !self.py2() {
            return self.batch_setitems(kv, false);
        }
        let iter = u32::from(self.proto == 0);
        let one = |p: &mut Self, k: Id, v: Id| -> D<()> {
            let interned = matches!(p.heap.get(k), Node::Bytes(b) if b.len() >= 2);
            p.save(k, iter + u32::from(interned))?;
            p.save(v, iter)
        };
        if self.proto == 0 || kv.len() == 1 {
            for &(k, v) in kv {
                one(self, k, v)?;
                self.write(&[code::SETITEM]);
            }
            return Ok(());
        }
        for chunk in kv.chunks(BATCHSIZE) {
            if chunk.len() == 1 {
                one(self, chunk[0].0, chunk[0].1)?;
                self.write(&[code::SETITEM]);
                continue;
            }
            self.write(&[code::MARK]);
            for &(k, v) in chunk {
                one(self, k, v)?;
            }
            self.write(&[code::SETITEMS]);
        }
        Ok(())
    }

    /// `iter_refs`: py2 protocol 0 walks `iteritems()`, whose tuples hold a reference to each key
    /// and value; the binary protocols use PyDict_Next (borrowed).
    fn batch_setitems(&mut self, kv: &[(Id, Id)], iter_refs: bool) -> D<()> {
        self.batch_setitems_mode(kv, u32::from(iter_refs), self.exact_batches())
    }

    /// cPickle's/pickle.py's batch_setitems over `kv`, each key and value saved with `extra`
    /// references held besides the model's count: SETITEM each at protocol 0; else batches under
    /// MARK ... SETITEMS; a single item as a plain SETITEM, and (unless `exact`: CPython 3's C
    /// pickler) a last batch of one too.
    fn batch_setitems_mode(&mut self, kv: &[(Id, Id)], extra: u32, exact: bool) -> D<()> {
        if self.proto == 0 {
            for &(k, v) in kv {
                self.save(k, extra)?;
                self.save(v, extra)?;
                self.write(&[code::SETITEM]);
            }
            return Ok(());
        }
        if kv.len() == 1 {
            self.save(kv[0].0, extra)?;
            self.save(kv[0].1, extra)?;
            self.write(&[code::SETITEM]);
            return Ok(());
        }
        for chunk in kv.chunks(BATCHSIZE) {
            if chunk.len() == 1 && !exact {
                self.save(chunk[0].0, extra)?;
                self.save(chunk[0].1, extra)?;
                self.write(&[code::SETITEM]);
                continue;
            }
            self.write(&[code::MARK]);
            for &(k, v) in chunk {
                self.save(k, extra)?;
                self.save(v, extra)?;
            }
            self.write(&[code::SETITEMS]);
        }
        Ok(())
    }

    /// `uuid.UUID.__getstate__` (3.7+): `{'int': self.int}`, plus `'is_safe': value` unless it
    /// is SafeUUID.unknown (3.7 keeps the member in its __dict__, 3.8+ the value).
    fn uuid_state(&self, dict: &[(Id, Id)]) -> D<Vec<(Id, Id)>> {
        let text = |k: Id, name: &[u8]| matches!(self.heap.get(k), Node::Text(t) if t == name);
        let int = dict
            .iter()
            .find(|&&(k, _)| text(k, b"int"))
            .copied()
            .ok_or_else(|| DumpError::Unmodelled("a UUID without its int".into()))?;
        let mut out = vec![int];
        if let Some(&(k, v)) = dict.iter().find(|&&(k, _)| text(k, b"is_safe")) {
            let value = match self.heap.get(v) {
                Node::Instance { dict: member, .. } => member
                    .iter()
                    .find(|&&(mk, _)| text(mk, b"_value_"))
                    .map(|&(_, mv)| mv),
                _ => Some(v),
            };
            if let Some(val) = value
                && !matches!(self.heap.get(val), Node::None)
            {
                out.push((k, val));
            }
        }
        Ok(out)
    }

    fn save_instance(&mut self, id: Id, class: &Global, dict: &[(Id, Id)], extra: u32) -> D<()> {
        let uuid_state;
        let dict = if !self.py2()
            && self.rt.minor >= 7
            && class.module == "uuid"
            && class.name == "UUID"
        {
            uuid_state = self.uuid_state(dict)?;
            &uuid_state[..]
        } else {
            dict
        };
        if !matches!(
            class.known,
            Known::AppClass | Known::ClassicClass | Known::Object
        ) {
            return Err(DumpError::Unmodelled(format!(
                "instances of {}.{}",
                class.module, class.name
            )));
        }
        let ident = self.ident(id);
        if class.known == Known::ClassicClass {
            // cPickle save_inst: INST at protocol 0, the class then OBJ from protocol 1; the
            // state is `__dict__` (refcount 2: the instance and getattr's reference).
            self.write(&[code::MARK]);
            if self.proto == 0 {
                let (m, n) = self.global_name(&class.module, &class.name);
                self.write(format!("i{m}\n{n}\n").as_bytes());
            } else {
                self.save_global(&class.module, &class.name, None)?;
                self.write(&[code::OBJ]);
            }
            self.py2_put(id, extra);
            if self.proto >= 1 {
                self.write(&[code::EMPTY_DICT]);
            } else {
                self.write(b"(d");
            }
            self.memo_put(Ident::Tagged(Tag::Dict, id));
            self.attr_items(dict)?;
            self.write(&[code::BUILD]);
            return Ok(());
        }
        if self.proto >= 2 {
            self.save_global(&class.module, &class.name, None)?;
            self.write(&[code::EMPTY_TUPLE]);
            self.write(&[code::NEWOBJ]);
        } else {
            self.save_global("copyreg", "_reconstructor", None)?;
            self.write(&[code::MARK]);
            self.save_global(&class.module, &class.name, None)?;
            self.save_global("builtins", "object", None)?;
            self.write(b"N");
            self.write(&[code::TUPLE]);
            if !self.py2() {
                self.memo_put(Ident::Tagged(Tag::Args, id));
            }
            self.write(&[code::REDUCE]);
        }
        // py2 too: the bound __reduce_ex__ holds the instance, so `put` memoizes it.
        let _ = extra;
        self.memo_put(ident);
        // py2's reduce_2 (protocol 2) passes the __dict__ as the state even when it is empty;
        // copy_reg._reduce_ex (below 2) only a non-empty one; `object()` has no __dict__.
        let empty_state = self.py2() && self.proto >= 2 && class.known != Known::Object;
        if !dict.is_empty() || empty_state {
            // The state is the instance's __dict__ itself (refcount 2 on py2: the instance and
            // the reduce tuple).
            if self.proto >= 1 {
                self.write(&[code::EMPTY_DICT]);
            } else {
                self.write(b"(d");
            }
            self.memo_put(Ident::Tagged(Tag::Dict, id));
            self.attr_items(dict)?;
            self.write(&[code::BUILD]);
        }
        Ok(())
    }

    /// An application object the models could not evaluate, written back as the stream built
    /// it: the class's own `__reduce__` gave `(func, args[, state])` (REDUCE), or the default
    /// `__reduce_ex__` gave `copyreg.__newobj__` (NEWOBJ from protocol 2; `copyreg.
    /// _reconstructor(cls, object, None)` below it). Assumes the class pickles the same way on
    /// the writing side (3.x only: py2's memo follows refcounts the stream does not show).
    fn save_reduced(&mut self, id: Id, class: &Global, r: &Reduce) -> D<()> {
        if r.newobj {
            let no_args = matches!(self.heap.get(r.args), Node::Tuple(v) if v.is_empty());
            if self.proto >= 2 {
                self.save(r.func, 0)?;
                self.save(r.args, 0)?;
                self.write(&[code::NEWOBJ]);
            } else if no_args
                && !matches!(r.state.map(|s| self.heap.get(s)), Some(Node::Tuple(t)) if t.len() == 2)
            {
                self.save_global("copyreg", "_reconstructor", None)?;
                self.write(&[code::MARK]);
                self.save_global(&class.module, &class.name, None)?;
                self.save_global("builtins", "object", None)?;
                self.write(b"N");
                self.write(&[code::TUPLE]);
                self.memo_put(Ident::Tagged(Tag::Args, id));
                self.write(&[code::REDUCE]);
            } else {
                return Err(DumpError::Unmodelled(
                    "__new__ arguments or __slots__ below protocol 2 (copyreg._reduce_ex)".into(),
                ));
            }
        } else {
            self.save(r.func, 0)?;
            self.save(r.args, 0)?;
            self.write(&[code::REDUCE]);
        }
        let ident = self.ident(id);
        if let Some(i) = self.memo.get(ident) {
            // Reached again while saving its own arguments.
            self.write(&[code::POP]);
            self.write_get(i);
            return Ok(());
        }
        self.memo_put(ident);
        if let Some(st) = r.state {
            self.save(st, 0)?;
            self.write(&[code::BUILD]);
        }
        Ok(())
    }

    fn save_reduce(
        &mut self,
        id: Id,
        func: (&str, &str),
        args: V<'_>,
        state: Option<V<'_>>,
        extra: u32,
    ) -> D<()> {
        self.save_reduce_with_items(id, func, args, Items::None, extra)?;
        if let Some(s) = state {
            self.save_v(&s, 0)?;
            self.write(&[code::BUILD]);
        }
        Ok(())
    }

    fn save_reduce_with_items(
        &mut self,
        id: Id,
        func: (&str, &str),
        args: V<'_>,
        items: Items<'_>,
        extra: u32,
    ) -> D<()> {
        self.save_global(func.0, func.1, None)?;
        self.save_v(&args, 0)?;
        self.write(&[code::REDUCE]);
        let ident = self.ident(id);
        if let Some(i) = self.memo.get(ident) {
            self.write(&[code::POP]);
            self.write_get(i);
            return Ok(());
        }
        // py2: the bound __reduce_ex__ (or the pickler's argument tuple, for a copy_reg
        // dispatch_table entry) holds the object while it is saved, so `put` always memoizes.
        let _ = extra;
        self.memo_put(ident);
        match items {
            Items::None => Ok(()),
            Items::List(v) => self.batch_appends_mode(v, false),
            Items::Dict(kv) => self.batch_setitems_mode(kv, 0, false),
        }
    }

    /// cPickle's save_reduce after REDUCE: an object its own arguments already memoized (it is
    /// recursive) is popped and fetched, and its items are not written (false); otherwise
    /// memoized (`put`: the bound __reduce_ex__ holds it, so its refcount is at least 2).
    fn py2_memo_reduced(&mut self, ident: Ident<'_>) -> bool {
        if let Some(i) = self.memo.get(ident) {
            self.write(&[code::POP]);
            self.write_get(i);
            return false;
        }
        self.memo_put(ident);
        true
    }

    /// start, stop and step (None where absent) of a py2 slice the stream built as
    /// `slice(*args)` (REDUCE of the builtin, one to three arguments, no state).
    fn py2_slice_args(&self, r: &Reduce) -> Option<[Option<Id>; 3]> {
        let Node::Global(g) = self.heap.get(r.func) else {
            return None;
        };
        let builtin = matches!(g.module.as_str(), "__builtin__" | "builtins");
        if !builtin || g.name != "slice" || r.newobj || r.state.is_some() {
            return None;
        }
        let Node::Tuple(args) = self.heap.get(r.args) else {
            return None;
        };
        match args[..] {
            [stop] => Some([None, Some(stop), None]),
            [start, stop] => Some([Some(start), Some(stop), None]),
            [start, stop, step] => Some([Some(start), Some(stop), Some(step)]),
            _ => None,
        }
    }

    /// `str()` of a py2 `fractions.Fraction` the stream built as `Fraction(s)` from a string
    /// already in the form `str()` gives (`n/d` in lowest terms with d > 1, or `n`), which is then
    /// that string; any other spelling (spaces, decimals, exponents, unreduced) is not modelled.
    fn py2_fraction_str(&self, r: &Reduce) -> Option<String> {
        let Node::Global(g) = self.heap.get(r.func) else {
            return None;
        };
        if g.module != "fractions" || g.name != "Fraction" || r.newobj || r.state.is_some() {
            return None;
        }
        let Node::Tuple(args) = self.heap.get(r.args) else {
            return None;
        };
        let [a] = args[..] else {
            return None;
        };
        let (Node::Text(b) | Node::Bytes(b)) = self.heap.get(a) else {
            return None;
        };
        let text = std::str::from_utf8(b).ok()?;
        let digits = |t: &str| {
            !t.is_empty()
                && t.bytes().all(|c| c.is_ascii_digit())
                && (t == "0" || !t.starts_with('0'))
        };
        let (num, den) = text.split_once('/').unwrap_or((text, "1"));
        let magnitude = num.strip_prefix('-').unwrap_or(num);
        if !digits(magnitude) || magnitude == "0" && num.starts_with('-') || !digits(den) {
            return None;
        }
        let (n, d): (BigInt, BigInt) = (num.parse().ok()?, den.parse().ok()?);
        let (mut x, mut y) = (n.abs(), d.clone());
        while !y.is_zero() {
            let t = &x % &y;
            x = std::mem::replace(&mut y, t);
        }
        let lowest = x == BigInt::from(1);
        let canonical = if text.contains('/') {
            d > BigInt::from(1) && lowest
        } else {
            true
        };
        canonical.then(|| text.to_string())
    }

    /// The items of a py2 `collections.Counter` that the stream built as `Counter(d)` for a dict
    /// `d` (REDUCE, no state, no items set after), when its write-back is predictable: `d` is
    /// non-empty (put2) or referenced by the Counter's arguments alone (an empty dict's memo
    /// follows its refcount, which the arguments, gone after the load, would change).
    fn py2_counter_items(&self, r: &Reduce) -> Option<&'a [(Id, Id)]> {
        let heap: &'a Heap = self.heap;
        let Node::Global(g) = heap.get(r.func) else {
            return None;
        };
        if g.module != "collections" || g.name != "Counter" || r.newobj || r.state.is_some() {
            return None;
        }
        let Node::Tuple(args) = heap.get(r.args) else {
            return None;
        };
        let [d] = args[..] else {
            return None;
        };
        let Node::Dict(kv) = heap.get(d) else {
            return None;
        };
        let sole = self.refs.as_ref().is_some_and(|refs| refs.get(d) == 1);
        (!kv.is_empty() || sole).then_some(&kv[..])
    }

    /// py2: the start of a fresh `n`-tuple of reduce arguments (1 <= n <= 3): MARK below
    /// protocol 2.
    fn py2_args_open(&mut self, n: usize) {
        if self.proto < 2 || n > 3 {
            self.write(&[code::MARK]);
        }
    }

    /// py2: the end of a fresh tuple of reduce arguments (refcount 1: never memoized).
    fn py2_args_close(&mut self, n: usize) {
        if self.proto < 2 || n > 3 {
            self.write(&[code::TUPLE]);
        } else {
            self.write(&[code::TUPLE1 + n as u8 - 1]);
        }
    }

    /// py2: a list the pickler's reduce made (refcount 1): `put2` memoizes it when non-empty;
    /// `body` writes its items.
    fn py2_fresh_list(&mut self, len: usize, body: impl FnOnce(&mut Self) -> D<()>) -> D<()> {
        self.write(if self.proto >= 1 { b"]" } else { b"(l" });
        if len > 0 {
            self.memo_put(Ident::Tagged(Tag::List, self.out.len()));
        }
        body(self)
    }

    /// cPickle's batch_list over `items` (each written by `one`): APPEND each at protocol 0;
    /// else batches of BATCHSIZE under MARK ... APPENDS, a batch of one as a plain APPEND.
    fn py2_batch<T>(&mut self, items: &[T], one: impl Fn(&mut Self, &T) -> D<()>) -> D<()> {
        if self.proto == 0 {
            for it in items {
                one(self, it)?;
                self.write(&[code::APPEND]);
            }
            return Ok(());
        }
        for chunk in items.chunks(BATCHSIZE) {
            if chunk.len() == 1 {
                one(self, &chunk[0])?;
                self.write(&[code::APPEND]);
                continue;
            }
            self.write(&[code::MARK]);
            for it in chunk {
                one(self, it)?;
            }
            self.write(&[code::APPENDS]);
        }
        Ok(())
    }

    fn save_tuple_v(&mut self, items: &[V<'_>], _extra: u32) -> D<()> {
        let n = items.len();
        if n == 0 {
            self.write(if self.proto >= 1 { b")" } else { b"(t" });
            return Ok(());
        }
        if n <= 3 && self.proto >= 2 {
            for it in items {
                self.save_v(it, 0)?;
            }
            self.write(&[code::TUPLE1 + n as u8 - 1]);
        } else {
            self.write(&[code::MARK]);
            for it in items {
                self.save_v(it, 0)?;
            }
            self.write(&[code::TUPLE]);
        }
        // A fresh tuple: memoized by the C pickler of 3.x, never by cPickle (refcount 1).
        if !self.py2() {
            let k = Ident::Tagged(Tag::Tuple, self.out.len());
            self.memo_put(k);
        }
        Ok(())
    }

    fn save_v(&mut self, v: &V<'_>, extra: u32) -> D<()> {
        match v {
            V::Node(id) => self.save(*id, extra),
            V::Int(i) => self.save_int(i, false),
            V::Global(m, n) => self.save_global(m, n, None),
            V::Float(f) => {
                self.save_float(*f);
                Ok(())
            }
            V::Text(t) => {
                self.save_text(t.as_bytes());
                if !self.py2() {
                    let k = Ident::Tagged(Tag::Text, self.out.len());
                    self.memo_put(k);
                }
                Ok(())
            }
            V::Interned(t) => {
                let key = if at_most_one_char(t.as_bytes()) {
                    Ident::SmallText(t.as_bytes())
                } else {
                    Ident::Interned(t)
                };
                if let Some(i) = self.memo.get(key) {
                    self.write_get(i);
                    return Ok(());
                }
                self.save_text(t.as_bytes());
                if !self.py2() {
                    self.memo_put(key);
                }
                Ok(())
            }
            V::Bytes(b) => {
                if self.py2() {
                    self.save_py2_str(b);
                    Ok(())
                } else {
                    let k = if b.len() <= 1 {
                        Ident::SmallBytes(b.first().copied())
                    } else {
                        Ident::Tagged(Tag::Bytes, self.out.len())
                    };
                    if let Some(i) = self.memo.get(k) {
                        self.write_get(i);
                        return Ok(());
                    }
                    self.save_bytes(b, Some(k))
                }
            }
            V::Py2Shared(b) => {
                self.save_py2_str(b);
                if b.len() >= 2 {
                    self.memo_put(Ident::Tagged(Tag::Shared, self.out.len()));
                }
                Ok(())
            }
            V::Tuple(items) => self.save_tuple_v(items, extra),
            V::List(items) => {
                if self.proto >= 1 {
                    self.write(&[code::EMPTY_LIST]);
                } else {
                    self.write(b"(l");
                }
                if !self.py2() || !items.is_empty() {
                    // py2: a fresh list (refcount 1), memoized by put2 when non-empty.
                    let k = Ident::Tagged(Tag::List, self.out.len());
                    self.memo_put(k);
                }
                let ids: Vec<Id> = items
                    .iter()
                    .filter_map(|v| if let V::Node(i) = v { Some(*i) } else { None })
                    .collect();
                self.batch_appends(&ids)
            }
        }
    }
}

enum Items<'b> {
    None,
    List(&'b [Id]),
    Dict(&'b [(Id, Id)]),
}

/// `repr(float)`: the shortest repr, Python's formatting (`1e+16`, `1.5`, `inf`, `nan`).
pub fn float_repr(f: f64) -> String {
    // Rust's `{:e}` gives the shortest round-trip digits: "1.5e0", "1e16".
    float_layout(f, &format!("{f:e}"), 16, true)
}

/// C's `%.17g`, which cPickle uses for protocol-0 floats (`F0.10000000000000001`).
pub fn format_g17(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    float_layout(f, &format!("{f:.16e}"), 17, false)
}

/// Lay out the digits of `sci` (Rust's `{:e}` form of `f`) as `repr`/`%g` do: fixed notation for
/// exponents in -4..`fixed_below`, else `d.ddde+XX`; `dot_zero` adds `.0` to integral values.
fn float_layout(f: f64, sci: &str, fixed_below: i32, dot_zero: bool) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let (mant, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if mant.starts_with('-') { "-" } else { "" };
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    if (-4..fixed_below).contains(&exp) {
        let n = digits.len() as i32;
        let point = exp + 1;
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point >= n {
            let zeros = "0".repeat((point - n) as usize);
            format!("{digits}{zeros}{}", if dot_zero { ".0" } else { "" })
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{body}")
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits.to_string()
        };
        format!(
            "{sign}{m}e{}{:02}",
            if exp < 0 { "-" } else { "+" },
            exp.abs()
        )
    }
}

fn join_surrogate_pairs(t: &[u8]) -> Vec<u8> {
    let cps: Vec<u32> = codec::code_points(t).collect();
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < cps.len() {
        let c = cps[i];
        if (0xd800..0xdc00).contains(&c)
            && i + 1 < cps.len()
            && (0xdc00..0xe000).contains(&cps[i + 1])
        {
            codec::push_cp(
                &mut out,
                0x10000 + ((c - 0xd800) << 10) + (cps[i + 1] - 0xdc00),
            );
            i += 2;
        } else {
            codec::push_cp(&mut out, c);
            i += 1;
        }
    }
    out
}

/// `codec::char_len(t) <= 1`, without counting past the second character.
fn at_most_one_char(t: &[u8]) -> bool {
    t.iter().filter(|&&b| (b & 0xc0) != 0x80).nth(1).is_none()
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Whether a byte of `w` is below `n` (n <= 128; "hasless" of Bit Twiddling Hacks, exact as a
/// test).
fn has_less(w: u64, n: u8) -> bool {
    w.wrapping_sub(LO * n as u64) & !w & HI != 0
}

/// Whether a byte of `w` is `c`.
fn has_byte(w: u64, c: u8) -> bool {
    has_less(w ^ (LO * c as u64), 1)
}

/// The length of the prefix of `b` whose bytes are all plain: eight at a time while `word`
/// says a word has no byte that is not (it must agree with `byte` on each of its bytes), then
/// byte by byte.
fn plain_len(b: &[u8], word: impl Fn(u64) -> bool, byte: impl Fn(u8) -> bool) -> usize {
    let mut i = 0;
    for c in b.chunks_exact(8) {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        if !word(u64::from_le_bytes(a)) {
            break;
        }
        i += 8;
    }
    while i < b.len() && byte(b[i]) {
        i += 1;
    }
    i
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Bytes `repr(str)` writes as themselves (printable ASCII but `\\`; the quote is checked apart).
const fn repr_plain() -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0x20;
    while c <= 0x7e {
        t[c] = c != b'\\' as usize;
        c += 1;
    }
    t
}
static REPR_PLAIN: [bool; 256] = repr_plain();

/// py2 `repr(str)`: single quotes unless the string has `'` and no `"`.
pub fn py2_repr(b: &[u8]) -> String {
    let mut out = Vec::new();
    py2_repr_into(&mut out, b);
    // Only ASCII is written.
    String::from_utf8(out).unwrap_or_default()
}

/// `py2_repr` appended to `out`: runs that need no escape are copied whole.
fn py2_repr_into(out: &mut Vec<u8>, b: &[u8]) {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    out.reserve(b.len() + 2);
    out.push(quote);
    let mut i = 0;
    while i < b.len() {
        let start = i;
        // Byte by byte: these strings are often binary, whose plain runs are short (a test of
        // eight bytes at a time measured slower on the large corpus).
        while i < b.len() && REPR_PLAIN[b[i] as usize] && b[i] != quote {
            i += 1;
        }
        out.extend_from_slice(&b[start..i]);
        let Some(&c) = b.get(i) else {
            break;
        };
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c == quote => out.extend_from_slice(&[b'\\', c]),
            _ => out.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[(c >> 4) as usize],
                HEX[(c & 15) as usize],
            ]),
        }
        i += 1;
    }
    out.push(quote);
}

/// The code point at `t[i..]` and its length in bytes, decoded exactly as `codec::code_points`
/// does (a missing continuation byte reads as 0x80).
pub(super) fn cp_at(t: &[u8], i: usize) -> (u32, usize) {
    let b = t[i];
    let (len, init) = match b {
        0..=0x7f => (1, b as u32),
        0xc0..=0xdf => (2, (b & 0x1f) as u32),
        0xe0..=0xef => (3, (b & 0x0f) as u32),
        _ => (4, (b & 0x07) as u32),
    };
    let mut cp = init;
    for k in 1..len {
        cp = (cp << 6) | (t.get(i + k).copied().unwrap_or(0x80) & 0x3f) as u32;
    }
    (cp, len)
}

/// `\\u` and four hex digits, or `\\U` and eight.
fn push_u_escape(out: &mut Vec<u8>, cp: u32) {
    if cp < 0x10000 {
        out.extend_from_slice(b"\\u");
        for k in (0..4).rev() {
            out.push(HEX[((cp >> (4 * k)) & 15) as usize]);
        }
    } else {
        out.extend_from_slice(b"\\U");
        for k in (0..8).rev() {
            out.push(HEX[((cp >> (4 * k)) & 15) as usize]);
        }
    }
}

/// The UNICODE opcode's argument, appended to `out`: raw-unicode-escape with `\\` and `\n`
/// pre-escaped (3.7+ also `\0`, `\r`, `\x1a`; py2 only `\\` and `\n`).
fn raw_unicode_escape_into(out: &mut Vec<u8>, t: &[u8], py2: bool, ctrl: bool) {
    let ctrl = !py2 && ctrl;
    let plain =
        |b: u8| b < 0x80 && b != b'\\' && b != b'\n' && !(ctrl && matches!(b, 0 | b'\r' | 0x1a));
    out.reserve(t.len());
    let word_plain = |w: u64| {
        !(w & HI != 0
            || has_byte(w, b'\\')
            || has_byte(w, b'\n')
            || (ctrl && (has_byte(w, 0) || has_byte(w, b'\r') || has_byte(w, 0x1a))))
    };
    let mut i = 0;
    while i < t.len() {
        let start = i;
        i += plain_len(&t[i..], word_plain, plain);
        out.extend_from_slice(&t[start..i]);
        if i >= t.len() {
            break;
        }
        let (cp, len) = cp_at(t, i);
        i += len;
        // Latin-1 as the byte itself (an overlong ASCII form too, unless it is escaped).
        if (cp < 0x80 && plain(cp as u8)) || (0x80..0x100).contains(&cp) {
            out.push(cp as u8);
        } else {
            push_u_escape(out, cp);
        }
    }
}

/// `Py_EnterRecursiveCall` units of saving a node while its contents are saved
/// (`Facts::pickler_recursion_limit`): one for `save()` (3.x: none for the atoms it writes
/// first), one more for the batch of a non-empty list or dict.
fn recursion_cost(node: &Node, atoms_free: bool) -> u32 {
    match node {
        Node::None
        | Node::Bool(_)
        | Node::Int(_)
        | Node::Long(_)
        | Node::Float(_)
        | Node::Text(_)
        | Node::Bytes(_)
            if atoms_free =>
        {
            0
        }
        Node::List(v) if !v.is_empty() => 2,
        Node::Dict(kv) if !kv.is_empty() => 2,
        _ => 1,
    }
}

/// What the real pickler's recursion limit does to this dump, found by an iterative walk in
/// save order (each container once, as the memo writes a second reference as a GET). Past the
/// limit through measured kinds of objects only (`plain_for_recursion`), it raises whatever the
/// caller's stack: `RecursionError` (2.7: `RuntimeError`) `maximum recursion depth exceeded
/// while pickling an object`. Within `pickler_caller_band` of the limit the caller's stack
/// decides, and past it through other objects the cost is not known: not modelled. `Ok(true)`:
/// the value is made of measured kinds only (lists, tuples, dicts, atoms).
fn recursion_precheck(heap: &Heap, root: Id, rt: Runtime, proto: u8) -> D<bool> {
    let facts = rt.facts();
    let (limit, band) = match facts.pickler_recursion_limit {
        Some(l) => (l, l.saturating_sub(facts.pickler_caller_band)),
        // Not measured: only the model's own depth bound applies.
        None => return Ok(false),
    };
    let mut seen = vec![false; heap.len()];
    let mut plain = true;
    let mut near = false;
    // (node, its children, the next child, its cost)
    let mut stack: Vec<(Vec<Id>, usize, u32)> = Vec::new();
    let mut units = 0u32;
    let mut next = Some(root);
    loop {
        if let Some(id) = next.take() {
            let node = heap.get(id);
            let kids = heap.children(id);
            if !kids.is_empty() {
                if std::mem::replace(&mut seen[id], true) {
                    // memoized: a GET
                } else {
                    let cost = recursion_cost(node, facts.pickler_atoms_free);
                    plain &= plain_for_recursion(node, proto);
                    units += cost;
                    if units > limit {
                        return Err(if plain {
                            DumpError::Py(PyError::new(
                                facts.recursion_error,
                                "maximum recursion depth exceeded while pickling an object",
                            ))
                        } else {
                            DumpError::Unmodelled(
                                "nesting past the pickler's recursion limit through objects whose recursion cost is not modelled".into(),
                            )
                        });
                    }
                    near |= units > band;
                    stack.push((kids, 0, cost));
                }
            } else {
                let cost = recursion_cost(node, facts.pickler_atoms_free);
                plain &= plain_for_recursion(node, proto);
                if units + cost > limit && plain {
                    return Err(DumpError::Py(PyError::new(
                        facts.recursion_error,
                        "maximum recursion depth exceeded while pickling an object",
                    )));
                }
                near |= units + cost > band;
            }
        }
        let Some(top) = stack.last_mut() else { break };
        if top.1 < top.0.len() {
            next = Some(top.0[top.1]);
            top.1 += 1;
        } else {
            units -= top.2;
            stack.pop();
        }
    }
    if near {
        return Err(DumpError::Unmodelled(
            "nesting near the pickler's recursion limit: the caller's stack depth decides".into(),
        ));
    }
    Ok(plain)
}

/// Objects whose recursion cost and `RecursionError` text were measured on the real picklers
/// (`tests/recursion.rs`): lists, tuples and dicts of them, with None, bool, int, float, str and
/// bytes leaves, at protocol 1 and up; at protocol 0 only lists, tuples, None and bools (a dict
/// or an int there can hit the limit inside `repr()` or a method call, whose message differs:
/// `while getting the repr of an object`, `while calling a Python object`).
fn plain_for_recursion(node: &Node, proto: u8) -> bool {
    match node {
        Node::List(_) | Node::Tuple(_) | Node::None | Node::Bool(_) => true,
        Node::Dict(_) | Node::Int(_) | Node::Float(_) | Node::Text(_) | Node::Bytes(_) => {
            proto >= 1
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_reprs_follow_python() {
        assert_eq!(float_repr(1.5), "1.5");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(1e15), "1000000000000000.0");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(0.00001), "1e-05");
        assert_eq!(float_repr(-0.0), "-0.0");
        assert_eq!(float_repr(0.1), "0.1");
        assert_eq!(float_repr(1e300), "1e+300");
        assert_eq!(float_repr(0.0), "0.0");
        assert_eq!(float_repr(100.0), "100.0");
        assert_eq!(format_g17(100.0), "100");
        assert_eq!(format_g17(-1.5), "-1.5");
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(1.0), "1");
        assert_eq!(format_g17(1e300), "1.0000000000000001e+300");
    }

    /// The word tests against the byte tests they stand for, on words built around each edge.
    #[test]
    fn word_tests_agree_with_byte_tests() {
        let edges = [
            0u8, 1, 0x0a, 0x0d, 0x1a, 0x1f, 0x20, 0x21, 0x27, 0x5c, 0x7e, 0x7f, 0x80, 0xfe, 0xff,
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for k in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut a = (x ^ k).to_le_bytes();
            for (j, b) in a.iter_mut().enumerate() {
                if (x >> (j * 3)) & 1 == 1 {
                    *b = edges[((x >> (j + 24)) % edges.len() as u64) as usize];
                }
            }
            let w = u64::from_le_bytes(a);
            for &n in &[1u8, 0x20, 0x80] {
                assert_eq!(has_less(w, n), a.iter().any(|&b| b < n), "{a:?} < {n}");
            }
            for &c in &edges {
                assert_eq!(has_byte(w, c), a.contains(&c), "{a:?} {c}");
            }
        }
    }

    /// The run-by-run escapers against the byte-at-a-time forms they replace, on strings with
    /// the special bytes at every offset of a word.
    #[test]
    fn escapers_agree_with_byte_at_a_time() {
        fn repr_ref(b: &[u8]) -> String {
            let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
                b'"'
            } else {
                b'\''
            };
            let mut s = String::from(quote as char);
            for &c in b {
                match c {
                    b'\\' => s.push_str("\\\\"),
                    b'\n' => s.push_str("\\n"),
                    b'\r' => s.push_str("\\r"),
                    b'\t' => s.push_str("\\t"),
                    c if c == quote => {
                        s.push('\\');
                        s.push(c as char);
                    }
                    0x20..=0x7e => s.push(c as char),
                    _ => s.push_str(&format!("\\x{c:02x}")),
                }
            }
            s.push(quote as char);
            s
        }
        fn rue_ref(t: &[u8], ctrl: bool) -> Vec<u8> {
            let mut out = Vec::new();
            for cp in codec::code_points(t) {
                let esc =
                    cp == 0x5c || cp == 0x0a || (ctrl && (cp == 0 || cp == 0x0d || cp == 0x1a));
                if esc || cp >= 0x100 {
                    push_u_escape(&mut out, cp);
                } else {
                    out.push(cp as u8);
                }
            }
            out
        }
        let specials: &[&[u8]] = &[
            b"\\",
            b"\n",
            b"\r",
            b"\0",
            b"\x1a",
            b"'",
            b"\"",
            b"\x7f",
            b"\xff",
            "\u{e9}".as_bytes(),
            "\u{20ac}".as_bytes(),
            "\u{1f600}".as_bytes(),
            &[0xed, 0xa0, 0x80],
            &[0xc3],
        ];
        for len in 0..40 {
            for (k, sp) in specials.iter().enumerate() {
                let mut t = vec![b'a' + (k as u8); len];
                t.extend_from_slice(sp);
                t.extend_from_slice(b"0123456789abcdef");
                t.extend_from_slice(specials[(k + len) % specials.len()]);
                assert_eq!(py2_repr(&t), repr_ref(&t), "{t:?}");
                for ctrl in [false, true] {
                    let mut out = Vec::new();
                    raw_unicode_escape_into(&mut out, &t, false, ctrl);
                    assert_eq!(out, rue_ref(&t, ctrl), "{t:?} {ctrl}");
                }
            }
        }
    }

    /// Expected values printed by CPython 2.7.18 (`repr(s)`).
    #[test]
    fn py2_repr_follows_python_2_7() {
        let cases: [(&[u8], &str); 6] = [
            (b"", "''"),
            (b"abc", "'abc'"),
            (b"it's", r#""it's""#),
            (br#"say "hi""#, r#"'say "hi"'"#),
            (br#"both '""#, r#"'both \'"'"#),
            (
                b"a\\b\n\r\t\x00\x7f\x80\xff~ ",
                r"'a\\b\n\r\t\x00\x7f\x80\xff~ '",
            ),
        ];
        for (s, want) in cases {
            assert_eq!(py2_repr(s), want, "{s:?}");
        }
    }

    /// The UNICODE argument of `pickle.dumps(u'a\\b\n\r\x00\x1a\xe9\u20ac\U0001f600', 0)` as
    /// CPython 2.7.18 and 3.12 wrote it.
    #[test]
    fn unicode_escapes_follow_python() {
        let t = "a\\b\n\r\0\x1a\u{e9}\u{20ac}\u{1f600}".as_bytes();
        let mut py2 = Vec::new();
        raw_unicode_escape_into(&mut py2, t, true, true);
        assert_eq!(py2, b"a\\u005cb\\u000a\r\x00\x1a\xe9\\u20ac\\U0001f600");
        let mut py3 = Vec::new();
        raw_unicode_escape_into(&mut py3, t, false, true);
        assert_eq!(
            py3,
            b"a\\u005cb\\u000a\\u000d\\u0000\\u001a\xe9\\u20ac\\U0001f600"
        );
    }

    /// py2 write-backs whose memo the refcount rule alone got wrong (a dict's non-empty list or
    /// dict value, an object saved by reduce as a dict's value: cPickle's put2 and the bound
    /// __reduce_ex__) and the collections' reduces. Oracle: CPython 2.7.18's cPickle, for which
    /// `cPickle.dumps(cPickle.loads(s), p) == s` held for each of these (`s = cPickle.dumps(v,
    /// p)`, for the exceptions `s` re-dumped once: their literals' refcounts differ) of {'a': [1]}, {'a': {'b': 1}}, {'a': date(2020, 1, 2)}, {'k': OrderedDict([('ab',
    /// [1])])}, {'k': deque(['xy'], 5)}, {'k': defaultdict(list, {'a': 1})}, {'k': xrange(1, 10,
    /// 2)}, {'k': Counter({'ab': 2})}, [set(['ab'])] * 2, {'result': ValueError('boom')},
    /// {'r': KeyError('k', 2)}, [object()] * 2).
    #[test]
    fn py2_write_backs_follow_cpickle() {
        use crate::runtime::load::{self, LoadConfig, Outcome};
        let cases: &[(u8, &str)] = &[
            (0, "286470310a532761270a286c70320a49310a61732e"),
            (1, "7d71015501615d71024b0161732e"),
            (2, "80027d71015501615d71024b0161732e"),
            (0, "286470310a532761270a286470320a532762270a49310a73732e"),
            (1, "7d71015501617d71025501624b0173732e"),
            (2, "80027d71015501617d71025501624b0173732e"),
            (
                0,
                "286470310a532761270a636461746574696d650a646174650a70320a2853275c7830375c7865345c7830315c783032270a745270330a732e",
            ),
            (
                1,
                "7d7101550161636461746574696d650a646174650a710228550407e4010274527103732e",
            ),
            (
                2,
                "80027d7101550161636461746574696d650a646174650a7102550407e4010285527103732e",
            ),
            (
                0,
                "286470310a53276b270a63636f6c6c656374696f6e730a4f726465726564446963740a70320a28286c70330a286c70340a53276162270a70350a61286c70360a49310a616161745270370a732e",
            ),
            (
                1,
                "7d710155016b63636f6c6c656374696f6e730a4f726465726564446963740a7102285d71035d7104285502616271055d71064b0161656174527107732e",
            ),
            (
                2,
                "80027d710155016b63636f6c6c656374696f6e730a4f726465726564446963740a71025d71035d7104285502616271055d71064b0161656185527107732e",
            ),
            (
                0,
                "286470310a53276b270a63636f6c6c656374696f6e730a64657175650a70320a28286c70330a53277879270a70340a6149350a745270350a732e",
            ),
            (
                1,
                "7d710155016b63636f6c6c656374696f6e730a64657175650a7102285d7103550278797104614b0574527105732e",
            ),
            (
                2,
                "80027d710155016b63636f6c6c656374696f6e730a64657175650a71025d7103550278797104614b0586527105732e",
            ),
            (
                0,
                "286470310a53276b270a63636f6c6c656374696f6e730a64656661756c74646963740a70320a28635f5f6275696c74696e5f5f0a6c6973740a70330a745270340a532761270a49310a73732e",
            ),
            (
                1,
                "7d710155016b63636f6c6c656374696f6e730a64656661756c74646963740a710228635f5f6275696c74696e5f5f0a6c6973740a7103745271045501614b0173732e",
            ),
            (
                2,
                "80027d710155016b63636f6c6c656374696f6e730a64656661756c74646963740a7102635f5f6275696c74696e5f5f0a6c6973740a7103855271045501614b0173732e",
            ),
            (
                0,
                "286470310a53276b270a635f5f6275696c74696e5f5f0a7872616e67650a70320a2849310a4931310a49320a745270330a732e",
            ),
            (
                1,
                "7d710155016b635f5f6275696c74696e5f5f0a7872616e67650a7102284b014b0b4b0274527103732e",
            ),
            (
                2,
                "80027d710155016b635f5f6275696c74696e5f5f0a7872616e67650a71024b014b0b4b0287527103732e",
            ),
            (
                0,
                "286470310a53276b270a63636f6c6c656374696f6e730a436f756e7465720a70320a28286470330a53276162270a70340a49320a73745270350a732e",
            ),
            (
                1,
                "7d710155016b63636f6c6c656374696f6e730a436f756e7465720a7102287d71035502616271044b027374527105732e",
            ),
            (
                2,
                "80027d710155016b63636f6c6c656374696f6e730a436f756e7465720a71027d71035502616271044b027385527105732e",
            ),
            (
                0,
                "286c70310a635f5f6275696c74696e5f5f0a7365740a70320a28286c70330a53276162270a70340a61745270350a6167350a612e",
            ),
            (
                1,
                "5d710128635f5f6275696c74696e5f5f0a7365740a7102285d710355026162710461745271056805652e",
            ),
            (
                2,
                "80025d710128635f5f6275696c74696e5f5f0a7365740a71025d710355026162710461855271056805652e",
            ),
            (
                0,
                "286470310a5327726573756c74270a70320a63657863657074696f6e730a56616c75654572726f720a70330a285327626f6f6d270a70340a7470350a5270360a732e",
            ),
            (
                0,
                "286470310a5327726573756c74270a70320a63657863657074696f6e730a56616c75654572726f720a70330a285327626f6f6d270a70340a7470350a5270360a732e",
            ),
            (
                1,
                "7d71015506726573756c7463657863657074696f6e730a56616c75654572726f720a7102285504626f6f6d7103747104527105732e",
            ),
            (
                2,
                "80027d71015506726573756c7463657863657074696f6e730a56616c75654572726f720a71025504626f6f6d7103857104527105732e",
            ),
            (
                0,
                "286470310a532772270a63657863657074696f6e730a4b65794572726f720a70320a2853276b270a49320a7470330a5270340a732e",
            ),
            (
                1,
                "7d710155017263657863657074696f6e730a4b65794572726f720a71022855016b4b02747103527104732e",
            ),
            (
                2,
                "80027d710155017263657863657074696f6e730a4b65794572726f720a710255016b4b02867103527104732e",
            ),
            (
                0,
                "286c70310a63636f70795f7265670a5f7265636f6e7374727563746f720a70320a28635f5f6275696c74696e5f5f0a6f626a6563740a70330a67330a4e745270340a6167340a612e",
            ),
            (
                1,
                "5d71012863636f70795f7265670a5f7265636f6e7374727563746f720a710228635f5f6275696c74696e5f5f0a6f626a6563740a710368034e745271046804652e",
            ),
            (
                2,
                "80025d710128635f5f6275696c74696e5f5f0a6f626a6563740a7102298171036803652e",
            ),
        ];
        // Instances of corpora/gen/appmod.py's New (a new-style class: reduce_2 at protocol 2,
        // copy_reg._reduce_ex below) as a dict value and with an empty __dict__.
        let apps: &[(u8, &str)] = &[
            (
                0,
                "286470310a53276b270a63636f70795f7265670a5f7265636f6e7374727563746f720a70320a28636170706d6f640a4e65770a70330a635f5f6275696c74696e5f5f0a6f626a6563740a70340a4e745270350a286470360a532761270a49310a73532762270a53276162270a70370a7362732e",
            ),
            (
                1,
                "7d710155016b63636f70795f7265670a5f7265636f6e7374727563746f720a710228636170706d6f640a4e65770a7103635f5f6275696c74696e5f5f0a6f626a6563740a71044e745271057d7106285501614b01550162550261627562732e",
            ),
            (
                2,
                "80027d710155016b636170706d6f640a4e65770a7102298171037d7104285501614b01550162550261627562732e",
            ),
            (
                0,
                "286c70310a63636f70795f7265670a5f7265636f6e7374727563746f720a70320a28636170706d6f640a4e65770a70330a635f5f6275696c74696e5f5f0a6f626a6563740a70340a4e745270350a612e",
            ),
            (
                1,
                "5d710163636f70795f7265670a5f7265636f6e7374727563746f720a710228636170706d6f640a4e65770a7103635f5f6275696c74696e5f5f0a6f626a6563740a71044e74527105612e",
            ),
            (
                2,
                "80025d7101636170706d6f640a4e65770a7102298171037d710462612e",
            ),
        ];
        let rt = Runtime::parse("2.7").expect("2.7");
        let app_cfg = LoadConfig {
            apps: load::AppClasses::only(["appmod".to_string()]),
            ..LoadConfig::default()
        };
        let plain = LoadConfig::default();
        let all = cases.iter().map(|c| (c, &plain));
        for (&(p, hex), cfg) in all.chain(apps.iter().map(|c| (c, &app_cfg))) {
            let data: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            let Outcome::Loaded { heap, root } = load::load(&data, rt, cfg).outcome else {
                panic!("{hex} does not load");
            };
            assert_eq!(dump(&heap, root, rt, p), Ok(data), "p{p} {hex}");
        }
    }
}
