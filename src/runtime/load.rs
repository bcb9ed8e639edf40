//! `load(bytes, runtime, options)`: the unpickler of a given runtime, modelled as an explicit stack
//! machine over the parsed opcodes. It never executes anything: globals are resolved against the
//! runtime's tables, and only the reconstructors the models know are "called".
//!
//! Semantics follow CPython's C unpickler (`Modules/_pickle.c`) for 3.x and `Modules/cPickle.c` for
//! 2.7; each rule names the behaviour it mirrors. The corpus tests hold them against the real
//! interpreters.

use super::codec::{self, Codec, Failure, Handler};
use super::generated;
use super::value::{Global, Heap, Id, Known, Node, Origin, Reduce};
use super::{Facts, LoadOptions, MemoMissing, PyError, Runtime};
use crate::fasthash::{self, Map};
use crate::pickle::ops::{self, code};
use crate::pickle::parse::{self, Arg, Op, ParseErrorKind, Parsed};
use num_bigint::BigInt;
use num_traits::{ToPrimitive, Zero};
use std::collections::BTreeSet;

/// What the application's own classes (globals outside the standard library) are like in the
/// runtimes that load. These are assumptions the user states, never guesses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppClasses {
    /// `None`: every non-stdlib module and name is importable (the app's code is deployed on both
    /// sides). `Some(set)`: only these, each `module` (every name in it) or `module.Name`.
    pub importable: Option<BTreeSet<String>>,
    /// `module.Name` of classes that are classic (old-style) on Python 2: py2 cannot build them
    /// through `copy_reg._reconstructor` or NEWOBJ, which is how py3 pickles every instance.
    pub py2_classic: BTreeSet<String>,
}

impl AppClasses {
    /// Only these modules or classes are importable.
    pub fn only<I: IntoIterator<Item = String>>(names: I) -> AppClasses {
        AppClasses {
            importable: Some(names.into_iter().collect()),
            py2_classic: BTreeSet::new(),
        }
    }

    fn module_exists(&self, module: &str) -> bool {
        match &self.importable {
            None => true,
            Some(set) => set
                .iter()
                .any(|s| s == module || s.strip_prefix(module).is_some_and(|r| r.starts_with('.'))),
        }
    }

    fn name_exists(&self, module: &str, name: &str) -> bool {
        match &self.importable {
            None => true,
            Some(set) => set.contains(module) || set.contains(&format!("{module}.{name}")),
        }
    }

    fn is_classic(&self, g: &Global) -> bool {
        self.py2_classic
            .contains(&format!("{}.{}", g.module, g.name))
    }
}

/// Budgets that bound the work and memory a hostile pickle can cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub max_ops: usize,
    pub max_nodes: usize,
    pub max_stack: usize,
    pub max_marks: usize,
    pub max_memo: usize,
    /// Bytes of string/bytes payload copied into the value graph.
    pub max_bytes: usize,
    /// Digits of a text INT/LONG the models will convert.
    pub max_digits: usize,
    /// The budget of one value's whole verdict (both loads, every dump, the checks).
    pub verdict: crate::meter::Limits,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_ops: 10_000_000,
            max_nodes: 2_000_000,
            max_stack: 1_000_000,
            max_marks: 1_000_000,
            max_memo: 1_000_000,
            max_bytes: 512 << 20,
            max_digits: 100_000,
            verdict: crate::meter::Limits::default(),
        }
    }
}

/// What one node costs the verdict's memory budget (the node and its origin).
const NODE_BYTES: u64 =
    (std::mem::size_of::<Node>() + std::mem::size_of::<crate::runtime::value::Origin>()) as u64;

/// Memo indices from which the dense memo array of the 3.6-3.13 C unpickler (8 bytes an entry,
/// resized to twice the index) needs more than 4 GiB: predicted as MemoryError.
const C_MEMO_ALLOC_LIMIT: u64 = 1 << 28;

/// The integer memo: a dense array for the indices picklers write (0, 1, 2, ...), a map for
/// sparse or huge ones (`LONG_BINPUT 4000000000`), so that a hostile index costs no memory.
#[derive(Default)]
struct Memo {
    /// `NO_ID` where empty.
    dense: Vec<Id>,
    /// Indices beyond the dense array when they were put.
    sparse: Map<u64, Id>,
    /// Number of distinct indices held (`len(memo)`).
    len: usize,
}

const NO_ID: Id = Id::MAX;

impl Memo {
    /// Indices below this always go to the dense array.
    const DENSE_MIN: u64 = 1 << 16;

    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, idx: u64) -> Option<Id> {
        if let Some(&id) = usize::try_from(idx).ok().and_then(|i| self.dense.get(i))
            && id != NO_ID
        {
            return Some(id);
        }
        if self.sparse.is_empty() {
            return None;
        }
        self.sparse.get(&idx).copied()
    }

    fn insert(&mut self, idx: u64, id: Id) {
        // The dense array grows to at most twice the larger of DENSE_MIN and 2 * len + 16.
        let limit = Self::DENSE_MIN.max(2 * self.len as u64 + 16);
        let i = match usize::try_from(idx) {
            Ok(i) if i < self.dense.len() || idx < limit => i,
            _ => {
                if self.sparse.insert(idx, id).is_none() {
                    self.len += 1;
                }
                return;
            }
        };
        if i >= self.dense.len() {
            self.dense.resize((i + 1).next_power_of_two(), NO_ID);
        }
        if self.dense[i] == NO_ID && (self.sparse.is_empty() || self.sparse.remove(&idx).is_none())
        {
            self.len += 1;
        }
        self.dense[i] = id;
    }
}

/// The keys of the 128-bit dict-key digests: two foldhash states with independent random seeds,
/// drawn once per process (from std's randomly keyed SipHash), so crafted collisions are not
/// possible and a digest match can stand for equality.
struct DigestKeys {
    shared: [foldhash::SharedSeed; 2],
    per: [u64; 2],
}

fn digest_keys() -> &'static DigestKeys {
    static KEYS: std::sync::OnceLock<DigestKeys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        use std::hash::BuildHasher;
        let r = std::collections::hash_map::RandomState::new();
        DigestKeys {
            shared: [
                foldhash::SharedSeed::from_u64(r.hash_one(1u8)),
                foldhash::SharedSeed::from_u64(r.hash_one(2u8)),
            ],
            per: [r.hash_one(3u8), r.hash_one(4u8)],
        }
    })
}

impl DigestKeys {
    fn hasher(&'static self) -> DigestHasher {
        DigestHasher(
            foldhash::quality::FoldHasher::with_seed(self.per[0], &self.shared[0]),
            foldhash::quality::FoldHasher::with_seed(self.per[1], &self.shared[1]),
        )
    }
}

struct DigestHasher(
    foldhash::quality::FoldHasher<'static>,
    foldhash::quality::FoldHasher<'static>,
);

impl DigestHasher {
    fn write_u8(&mut self, b: u8) {
        use std::hash::Hasher;
        self.0.write_u8(b);
        self.1.write_u8(b);
    }

    /// A part and its length (so that parts never run into each other).
    fn write(&mut self, p: &[u8]) {
        use std::hash::Hasher;
        self.0.write(p);
        self.1.write(p);
        self.0.write_usize(p.len());
        self.1.write_usize(p.len());
    }

    fn finish(&self, tag: u8) -> Key {
        use std::hash::Hasher;
        Key::Digest(tag, self.0.finish(), self.1.finish())
    }
}

/// Everything a load depends on besides the bytes.
#[derive(Debug, Clone, Default)]
pub struct LoadConfig {
    pub options: LoadOptions,
    pub apps: AppClasses,
    pub budget: Budget,
}

/// Why the models cannot say what happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmodelled {
    /// A budget ran out: the value is too big or too hostile to follow (code `budget`).
    Budget(&'static str),
    /// A codec, error handler or reconstructor the models do not know.
    Feature(String),
}

/// The outcome of one load.
#[derive(Debug, Clone)]
pub enum Outcome {
    Loaded { heap: Heap, root: Id },
    Raised(PyError),
    Unknown(Unmodelled),
}

/// A load's outcome and where in the stream it was decided.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub outcome: Outcome,
    /// Offset of the opcode that raised (or went unmodelled).
    pub at: Option<usize>,
}

enum Fail {
    Py(PyError),
    Unknown(Unmodelled),
}

impl From<PyError> for Fail {
    fn from(e: PyError) -> Fail {
        Fail::Py(e)
    }
}

type R<T> = Result<T, Fail>;

/// Load a pickle as `runtime` would, parsing it first.
pub fn load(data: &[u8], runtime: Runtime, cfg: &LoadConfig) -> LoadResult {
    let parsed = parse::parse(data, cfg.budget.max_ops);
    load_parsed(data, &parsed, runtime, cfg)
}

/// Load an already parsed pickle (parse once, judge for many runtimes).
pub fn load_parsed(data: &[u8], parsed: &Parsed, runtime: Runtime, cfg: &LoadConfig) -> LoadResult {
    let mut vm = Vm::new(data, runtime, cfg);
    let mut frame = Frame::new(vm.facts.frames_bound_reads && !runtime.pure);
    for (i, op) in parsed.ops.iter().enumerate() {
        vm.pos = op.pos;
        if frame.on {
            // Where this opcode's bytes end: the next opcode, else where the parser stopped.
            let end = parsed.ops.get(i + 1).map_or(
                match &parsed.end {
                    Ok(p) => *p,
                    Err(e) => e.pos,
                },
                |n| n.pos,
            );
            if let Err(f) = frame.op(&vm, op, end) {
                return vm.fail(f);
            }
        }
        match vm.step(op) {
            Ok(Some(root)) => {
                return LoadResult {
                    outcome: Outcome::Loaded {
                        heap: vm.heap,
                        root,
                    },
                    at: None,
                };
            }
            Ok(None) => {}
            Err(f) => return vm.fail(f),
        }
    }
    // The stream ended without STOP: the parser's error, as this runtime words it.
    let err = match parsed.end {
        Ok(_) => unreachable_end(),
        Err(e) => e,
    };
    vm.pos = err.pos;
    if frame.on
        && let (Some(c), ParseErrorKind::Truncated | ParseErrorKind::TooLong(_)) =
            (err.code, err.kind)
        && frame.cut_off(data, err.pos, c)
        && vm.known_opcode(c)
    {
        let f = vm.unpickling_error("pickle exhausted before end of frame");
        return vm.fail(f);
    }
    if let (Some(c), ParseErrorKind::Truncated) = (err.code, err.kind)
        && runtime.is_py2()
        && !runtime.pure
        && let Some(f) = vm.py2_partial_line(c)
    {
        return vm.fail(f);
    }
    if let (Some(c), ParseErrorKind::Truncated | ParseErrorKind::TooLong(_)) = (err.code, err.kind)
        && runtime.is_py2()
        && runtime.pure
        && let Some(f) = vm.pure_partial_line(c).or_else(|| vm.pure_partial_read(c))
    {
        return vm.fail(f);
    }
    let f = vm.parse_failure(err.code, err.kind);
    vm.fail(f)
}

/// The current frame of a C unpickler that keeps to it (`Facts::frames_bound_reads`, 3.15+):
/// every read an opcode makes (the opcode byte, each fixed-width argument, length prefix, counted
/// data and line) must end inside the frame it starts in; a read that starts at the frame's end
/// ends the frame and reads the stream past it.
struct Frame {
    on: bool,
    end: Option<usize>,
}

impl Frame {
    fn new(on: bool) -> Frame {
        Frame { on, end: None }
    }

    /// One read of `start..stop`.
    fn read(&mut self, start: usize, stop: usize) -> bool {
        match self.end {
            Some(e) if start >= e => {
                self.end = None;
                true
            }
            Some(e) => stop <= e,
            None => true,
        }
    }

    /// The reads of a parsed opcode at `op.pos` whose bytes end at `end`; FRAME opens a frame.
    fn op(&mut self, vm: &Vm, op: &Op, end: usize) -> R<()> {
        let exhausted = || vm.unpickling_error("pickle exhausted before end of frame");
        let p = op.pos;
        if !self.read(p, p + 1) {
            return Err(exhausted());
        }
        let Some(info) = ops::info(op.code) else {
            return Ok(());
        };
        let ok = match (info.arg, &op.arg) {
            (ops::ArgKind::None, _) => true,
            (ops::ArgKind::Line2, Arg::Line2(a, _)) => {
                self.read(p + 1, a.end + 1) && self.read(a.end + 1, end)
            }
            (ops::ArgKind::Counted1, _) => self.read(p + 1, p + 2) && self.read(p + 2, end),
            (ops::ArgKind::Counted4, _) => self.read(p + 1, p + 5) && self.read(p + 5, end),
            (ops::ArgKind::Counted8, _) => self.read(p + 1, p + 9) && self.read(p + 9, end),
            _ => self.read(p + 1, end),
        };
        if !ok {
            return Err(exhausted());
        }
        if let (code::FRAME, Arg::U64(n)) = (op.code, &op.arg) {
            if self.end.is_some_and(|e| e > end) {
                return Err(
                    vm.unpickling_error("beginning of a new frame before end of current frame")
                );
            }
            self.end = usize::try_from(*n).ok().and_then(|n| end.checked_add(n));
        }
        Ok(())
    }

    /// The opcode at `pos` (`code`) that the stream cuts off: whether its short read starts
    /// inside the frame (every frame ends by the data's end, checked when it opened).
    fn cut_off(&mut self, data: &[u8], pos: usize, code: u8) -> bool {
        let Some(e) = self.end else {
            return false;
        };
        if pos >= e {
            return false;
        }
        let Some(info) = ops::info(code) else {
            return false;
        };
        let after_prefix = |w: usize| {
            if pos + 1 + w <= data.len() {
                pos + 1 + w
            } else {
                pos + 1
            }
        };
        let start = match info.arg {
            ops::ArgKind::Line2 => data
                .get(pos + 1..)
                .and_then(|r| r.iter().position(|&b| b == b'\n'))
                .map_or(pos + 1, |n| pos + 1 + n + 1),
            ops::ArgKind::Counted1 => after_prefix(1),
            ops::ArgKind::Counted4 => after_prefix(4),
            ops::ArgKind::Counted8 => after_prefix(8),
            _ => pos + 1,
        };
        start < e
    }
}

fn unreachable_end() -> parse::ParseError {
    // `parse` only returns Ok after pushing STOP, which `step` turns into a result.
    parse::ParseError {
        pos: 0,
        code: None,
        kind: ParseErrorKind::Eof,
    }
}

/// A hashable identity for dict keys and set items, with Python's equality (1 == 1.0 == True;
/// on py2 an ASCII `str` equals the same `unicode`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    None,
    /// A type class tag and a 128-bit keyed digest of the value.
    Digest(u8, u64, u64),
    Identity(Id),
}

struct Vm<'a> {
    data: &'a [u8],
    rt: Runtime,
    facts: Facts,
    cfg: &'a LoadConfig,
    heap: Heap,
    stack: Vec<Id>,
    marks: Vec<usize>,
    memo: Memo,
    /// cPickle keys text PUT/GET by the line's text, apart from BINPUT/BINGET's ints.
    text_memo: Map<Vec<u8>, Id>,
    proto: u8,
    pos: usize,
    bytes_used: usize,
    /// Lazily built key indexes of dict-like and set nodes.
    index: Map<Id, Map<Key, usize>>,
    key_cache: Map<Id, Key>,
    /// `datetime.timezone.utc`: `timezone(timedelta(0))` returns this one object (3.x).
    utc: Option<Id>,
    /// pickle.py (2.7) pushes its MARK as an object (`self.mark = object()`) onto the stack.
    mark_obj: Option<Id>,
    /// Objects a runtime hands out once per key: `ZoneInfo._unpickle(key, 1)`'s cached zones
    /// (keyed `zoneinfo:KEY`), the `uuid.SafeUUID` members (`SafeUUID.NAME`).
    singletons: Map<Vec<u8>, Id>,
    hash_keys: &'static DigestKeys,
}

impl<'a> Vm<'a> {
    fn new(data: &'a [u8], rt: Runtime, cfg: &'a LoadConfig) -> Vm<'a> {
        Vm {
            data,
            rt,
            facts: rt.facts(),
            cfg,
            heap: Heap::default(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: Memo::default(),
            text_memo: fasthash::map(),
            proto: 0,
            pos: 0,
            bytes_used: 0,
            index: fasthash::map(),
            key_cache: fasthash::map(),
            utc: None,
            mark_obj: None,
            singletons: fasthash::map(),
            hash_keys: digest_keys(),
        }
    }

    fn fail(self, f: Fail) -> LoadResult {
        LoadResult {
            outcome: match f {
                Fail::Py(e) => Outcome::Raised(e),
                Fail::Unknown(u) => Outcome::Unknown(u),
            },
            at: Some(self.pos),
        }
    }

    // ----- error wording -------------------------------------------------------------------

    fn py2(&self) -> bool {
        self.rt.is_py2()
    }

    fn unpickling_error(&self, msg: impl Into<String>) -> Fail {
        let ty = if self.py2() {
            if self.rt.pure {
                "pickle.UnpicklingError"
            } else {
                "cPickle.UnpicklingError"
            }
        } else {
            "_pickle.UnpicklingError"
        };
        Fail::Py(PyError::new(ty, msg))
    }

    fn underflow(&self) -> Fail {
        if self.rt.pure {
            return Fail::Py(PyError::new("IndexError", "list index out of range"));
        }
        // _pickle.c Pdata_stack_underflow: the fence of an open MARK is "unexpected MARK found".
        if !self.py2() && !self.marks.is_empty() {
            self.unpickling_error("unexpected MARK found")
        } else {
            self.unpickling_error("unpickling stack underflow")
        }
    }

    fn truncated(&self) -> Fail {
        if self.rt.pure {
            Fail::Py(PyError::new("EOFError", ""))
        } else {
            self.unpickling_error("pickle data was truncated")
        }
    }

    fn parse_failure(&self, opcode: Option<u8>, kind: ParseErrorKind) -> Fail {
        match kind {
            ParseErrorKind::Eof => {
                if self.py2() {
                    Fail::Py(PyError::new("EOFError", ""))
                } else {
                    Fail::Py(PyError::new("EOFError", "Ran out of input"))
                }
            }
            ParseErrorKind::UnknownOpcode(b) => self.invalid_load_key(b),
            ParseErrorKind::OpBudget => Fail::Unknown(Unmodelled::Budget("operations")),
            ParseErrorKind::NegativeLength(_) if self.rt.pure => {
                // pickle.py: `self.read(n)` with n < 0 reads the rest of the stream, STOP
                // included; the next opcode read finds nothing.
                Fail::Py(PyError::new("EOFError", ""))
            }
            ParseErrorKind::NegativeLength(_) => {
                let name = opcode.and_then(ops::info).map_or("?", |i| i.name);
                if self.py2()
                    || opcode == Some(code::LONG4)
                    || self.facts.binstring_negative_reported
                {
                    let what = if opcode == Some(code::LONG4) {
                        "LONG pickle has negative byte count".to_string()
                    } else {
                        format!("{name} pickle has negative byte count")
                    };
                    self.unpickling_error(what)
                } else {
                    // 3.x C reads a negative BINSTRING size as "truncated".
                    self.truncated()
                }
            }
            ParseErrorKind::Truncated | ParseErrorKind::TooLong(_) => {
                if let (Some(op), false) = (opcode, self.known_opcode(opcode.unwrap_or(0))) {
                    // This runtime stops at the opcode itself.
                    return self.invalid_load_key(op);
                }
                // cPickle: a short binary read is EOFError; a cut-off line, "truncated".
                let line_op = opcode
                    .and_then(ops::info)
                    .is_some_and(|i| matches!(i.arg, ops::ArgKind::Line | ops::ArgKind::Line2));
                if self.py2()
                    && !self.rt.pure
                    && !line_op
                    && !matches!(kind, ParseErrorKind::TooLong(n) if n >= 1 << 31)
                {
                    return Fail::Py(PyError::new("EOFError", ""));
                }
                if let (Some(code::BINUNICODE), ParseErrorKind::TooLong(n)) = (opcode, kind)
                    && self.py2()
                    && !self.rt.pure
                    && n >= 1 << 31
                {
                    return self.unpickling_error("BINUNICODE pickle has negative byte count");
                }
                self.truncated()
            }
        }
    }

    /// cPickle's readline at the end of a cStringIO returns the rest without a newline, and the
    /// loaders then drop its last byte as if it were the newline (`garyp` is a GET of `ary`).
    /// Returns the failure of an opcode whose last line is cut off, where cPickle gets that far.
    fn py2_partial_line(&mut self, c: u8) -> Option<Fail> {
        let info = ops::info(c)?;
        let start = self.pos + 1;
        let rest = self.data.get(start..)?;
        let cut =
            |b: &[u8]| -> Option<std::ops::Range<usize>> { (b.len() >= 2).then(|| 0..b.len() - 1) };
        let eof = Fail::Py(PyError::new("EOFError", ""));
        match info.arg {
            ops::ArgKind::Line => {
                let Some(r) = cut(rest) else {
                    return Some(self.unpickling_error("pickle data was truncated"));
                };
                let r = start + r.start..start + r.end;
                if c == code::FLOAT {
                    return Some(Fail::Py(PyError::new(
                        "ValueError",
                        "could not convert string to float",
                    )));
                }
                if c == code::STRING {
                    // Observed (pickletester truncations): cPickle ends a cut STRING with EOFError.
                    return Some(eof);
                }
                let op = Op {
                    pos: self.pos,
                    code: c,
                    arg: Arg::Line(r),
                };
                Some(match self.step(&op) {
                    Err(f) => f,
                    Ok(_) => eof,
                })
            }
            ops::ArgKind::Line2 => {
                let (first, second) = match rest.iter().position(|&b| b == b'\n') {
                    Some(n) => (start..start + n, &rest[n + 1..]),
                    None => return Some(self.unpickling_error("pickle data was truncated")),
                };
                let second_start = first.end + 1;
                let Some(r2) = cut(second) else {
                    return Some(self.unpickling_error("pickle data was truncated"));
                };
                let op = Op {
                    pos: self.pos,
                    code: c,
                    arg: Arg::Line2(first, second_start + r2.start..second_start + r2.end),
                };
                Some(match self.step(&op) {
                    Err(f) => f,
                    Ok(_) => eof,
                })
            }
            _ => None,
        }
    }

    /// pickle.py (2.7) reads lines with `readline()`, which at the end of the stream returns
    /// the rest without a newline; `load_int` converts the whole of it, every other loader
    /// drops its last character as if it were the newline. The opcode then runs on that text;
    /// if it succeeds, the next opcode read finds nothing (EOFError).
    fn pure_partial_line(&mut self, c: u8) -> Option<Fail> {
        let info = ops::info(c)?;
        let start = self.pos + 1;
        let rest = self.data.get(start..)?;
        let eof = Fail::Py(PyError::new("EOFError", ""));
        let strip = |n: usize| {
            if c == code::INT {
                n
            } else {
                n.saturating_sub(1)
            }
        };
        let op = match info.arg {
            ops::ArgKind::Line => Op {
                pos: self.pos,
                code: c,
                arg: Arg::Line(start..start + strip(rest.len())),
            },
            ops::ArgKind::Line2 => {
                let Some(n) = rest.iter().position(|&b| b == b'\n') else {
                    // The first readline() takes the rest; the second finds nothing.
                    let end = self.data.len();
                    let op = Op {
                        pos: self.pos,
                        code: c,
                        arg: Arg::Line2(start..start + rest.len().saturating_sub(1), end..end),
                    };
                    return Some(match self.step(&op) {
                        Err(f) => f,
                        Ok(_) => eof,
                    });
                };
                let second = start + n + 1;
                let len2 = self.data.len() - second;
                Op {
                    pos: self.pos,
                    code: c,
                    arg: Arg::Line2(start..start + n, second..second + len2.saturating_sub(1)),
                }
            }
            _ => return None,
        };
        Some(match self.step(&op) {
            Err(f) => f,
            Ok(_) => eof,
        })
    }

    /// pickle.py (2.7) at the end of the stream: `self.read(n)` returns what is left, `ord()` of
    /// an empty read is a TypeError, `marshal.loads('i' + s)` reads a missing byte as EOF (-1,
    /// so the int goes negative), `struct.unpack('>d', s)` wants 8 bytes. What the opcode pushes
    /// is followed by an empty read of the next opcode: EOFError.
    fn pure_partial_read(&mut self, c: u8) -> Option<Fail> {
        let rest = self.data.get(self.pos + 1..)?.to_vec();
        let eof = Fail::Py(PyError::new("EOFError", ""));
        let ord_empty = || {
            Fail::Py(PyError::new(
                "TypeError",
                "ord() expected a character, but string of length 0 found",
            ))
        };
        // marshal.c r_long on a string: each missing byte is EOF (-1), OR-ed in, sign-extended.
        let mloads_i = |b: &[u8]| -> i64 {
            let mut x: i64 = 0;
            for k in 0..4 {
                let v = b.get(k).map_or(-1, |&v| v as i64);
                x |= v << (8 * k);
            }
            x | -(x & 0x8000_0000)
        };
        let unregistered = |code: i64| {
            Fail::Py(PyError::new(
                "ValueError",
                format!("unregistered extension code {code}"),
            ))
        };
        Some(match c {
            code::PROTO
            | code::BININT1
            | code::BINGET
            | code::BINPUT
            | code::SHORT_BINSTRING
            | code::LONG1
            | code::EXT1
                if rest.is_empty() =>
            {
                ord_empty()
            }
            code::SHORT_BINSTRING
            | code::LONG1
            | code::BININT
            | code::BININT2
            | code::LONG4
            | code::BINSTRING => eof,
            code::BINUNICODE if std::str::from_utf8(rest.get(4..).unwrap_or(&[])).is_ok() => eof,
            code::BINFLOAT => Fail::Py(PyError::new(
                "struct.error",
                "unpack requires a string argument of length 8",
            )),
            code::LONG_BINGET => {
                let key = mloads_i(&rest).to_string().into_bytes();
                match self.pure_memo_get(&key) {
                    Ok(()) => eof,
                    Err(f) => f,
                }
            }
            code::LONG_BINPUT => {
                let key = mloads_i(&rest).to_string().into_bytes();
                match self.pure_memo_put(key) {
                    Ok(()) => eof,
                    Err(f) => f,
                }
            }
            code::EXT2 => {
                let mut b = rest.get(..rest.len().min(2)).unwrap_or(&[]).to_vec();
                b.extend_from_slice(&[0, 0]);
                unregistered(mloads_i(&b))
            }
            code::EXT4 => unregistered(mloads_i(&rest)),
            _ => return None,
        })
    }

    fn known_opcode(&self, b: u8) -> bool {
        ops::info(b).is_some_and(|i| i.proto <= self.facts.opcode_protocol)
    }

    fn invalid_load_key(&self, b: u8) -> Fail {
        if b == 0 && self.py2() && !self.rt.pure {
            // cPickle's opcode switch ends the stream at a NUL byte.
            return Fail::Py(PyError::new("EOFError", ""));
        }
        if self.rt.pure {
            // pickle.py: the dispatch table lookup fails.
            return Fail::Py(PyError::new(
                "KeyError",
                if self.py2() {
                    py2_str_repr(&[b])
                } else {
                    b.to_string()
                },
            ));
        }
        let printable = (0x20..=0x7e).contains(&b) && b != b'\'' && b != b'\\';
        let shown = if !self.py2() && !printable {
            format!("\\x{b:02x}")
        } else if self.py2() {
            // cPickle writes the raw byte into a py2 str message; shown as that code point.
            char::from(b).to_string()
        } else {
            (b as char).to_string()
        };
        self.unpickling_error(format!("invalid load key, '{shown}'."))
    }

    // ----- stack --------------------------------------------------------------------------

    fn fence(&self) -> usize {
        if self.py2() {
            0
        } else {
            self.marks.last().copied().unwrap_or(0)
        }
    }

    fn push(&mut self, id: Id) -> R<()> {
        if self.stack.len() >= self.cfg.budget.max_stack {
            return Err(Fail::Unknown(Unmodelled::Budget("stack")));
        }
        self.stack.push(id);
        Ok(())
    }

    fn new_node(&mut self, node: Node, opcode: u8) -> R<Id> {
        if !crate::meter::bytes(NODE_BYTES) {
            return Err(Fail::Unknown(Unmodelled::Budget("verdict")));
        }
        if self.heap.len() >= self.cfg.budget.max_nodes {
            return Err(Fail::Unknown(Unmodelled::Budget("nodes")));
        }
        Ok(self.heap.push(
            node,
            Origin {
                opcode,
                pos: self.pos,
            },
        ))
    }

    fn push_new(&mut self, node: Node, opcode: u8) -> R<()> {
        let id = self.new_node(node, opcode)?;
        self.push(id)
    }

    fn pop(&mut self) -> R<Id> {
        if self.stack.len() <= self.fence() {
            return Err(self.underflow());
        }
        self.stack.pop().ok_or_else(|| self.underflow())
    }

    /// cPickle's PDATA_POP (STOP, REDUCE, NEWOBJ) says "bad pickle data" on an empty stack.
    fn pop_or_bad(&mut self) -> R<Id> {
        if self.py2() && !self.rt.pure && self.stack.is_empty() {
            return Err(self.unpickling_error("bad pickle data"));
        }
        self.pop()
    }

    fn top(&self) -> R<Id> {
        if self.stack.len() <= self.fence() {
            return Err(self.underflow());
        }
        self.stack.last().copied().ok_or_else(|| self.underflow())
    }

    /// `marker()`: pop the last MARK and return its stack position.
    fn marker(&mut self) -> R<usize> {
        match self.marks.pop() {
            Some(m) => Ok(m),
            None => Err(if self.rt.pure {
                Fail::Py(PyError::new("IndexError", "pop from empty list"))
            } else {
                self.unpickling_error("could not find MARK")
            }),
        }
    }

    fn charge_bytes(&mut self, n: usize) -> R<()> {
        if !crate::meter::bytes(n as u64) {
            return Err(Fail::Unknown(Unmodelled::Budget("verdict")));
        }
        self.bytes_used = self.bytes_used.saturating_add(n);
        if self.bytes_used > self.cfg.budget.max_bytes {
            return Err(Fail::Unknown(Unmodelled::Budget("bytes")));
        }
        Ok(())
    }

    // ----- the opcodes --------------------------------------------------------------------

    fn slice(&self, r: &std::ops::Range<usize>) -> &'a [u8] {
        &self.data[r.clone()]
    }

    fn step(&mut self, op: &Op) -> R<Option<Id>> {
        if !crate::meter::ops(1) {
            return Err(Fail::Unknown(Unmodelled::Budget("verdict")));
        }
        let c = op.code;
        if !self.known_opcode(c) {
            return Err(self.invalid_load_key(c));
        }
        if self.rt.pure
            && let Some(r) = self.step_pure(op)
        {
            return r;
        }
        match (c, &op.arg) {
            (code::PROTO, Arg::Int(p)) => {
                let p = *p as u8;
                if p > self.facts.highest_protocol {
                    return Err(Fail::Py(PyError::new(
                        "ValueError",
                        format!("unsupported pickle protocol: {p}"),
                    )));
                }
                self.proto = p;
            }
            (code::FRAME, Arg::U64(n)) => {
                let remaining = (self.data.len() - (self.pos + 9)) as u64;
                if *n > i64::MAX as u64 {
                    return Err(Fail::Py(PyError::new(
                        "OverflowError",
                        "FRAME length exceeds system's maximum of 9223372036854775807 bytes",
                    )));
                }
                if *n > remaining {
                    return Err(self.truncated());
                }
            }
            (code::STOP, _) => {
                let v = self.pop_or_bad()?;
                return Ok(Some(v));
            }
            (code::MARK, _) => {
                if self.marks.len() >= self.cfg.budget.max_marks {
                    return Err(Fail::Unknown(Unmodelled::Budget("marks")));
                }
                self.marks.push(self.stack.len());
            }
            (code::POP, _) => {
                // _pickle.c load_pop / cPickle.c load_pop: at an open MARK, POP discards the mark.
                if self.marks.last() == Some(&self.stack.len()) {
                    self.marks.pop();
                } else if self.stack.len() > self.fence() {
                    self.stack.pop();
                } else if !self.py2() && !self.marks.is_empty() {
                    self.marks.pop();
                } else {
                    return Err(self.underflow());
                }
            }
            (code::POP_MARK, _) => {
                let m = self.marker()?;
                self.stack.truncate(m);
            }
            (code::DUP, _) => {
                let t = self.top()?;
                self.push(t)?;
            }
            (code::NONE, _) => self.push_new(Node::None, c)?,
            (code::NEWTRUE, _) => self.push_new(Node::Bool(true), c)?,
            (code::NEWFALSE, _) => self.push_new(Node::Bool(false), c)?,
            (code::BININT | code::BININT1 | code::BININT2, Arg::Int(v)) => {
                self.push_new(Node::Int(BigInt::from(*v)), c)?
            }
            (code::INT, Arg::Line(r)) if self.rt.pure => {
                // readline() keeps the newline (absent when the stream ends in the line).
                let mut data = self.slice(r).to_vec();
                if self.data.get(r.end) == Some(&b'\n') {
                    data.push(b'\n');
                }
                let n = self.pure_load_int(&data)?;
                self.push_new(n, c)?
            }
            (code::INT, Arg::Line(r)) => {
                let n = self.load_int_line(self.slice(r))?;
                self.push_new(n, c)?
            }
            (code::LONG, Arg::Line(r)) => {
                let n = self.load_long_line(self.slice(r))?;
                self.push_new(n, c)?
            }
            (code::LONG1 | code::LONG4, Arg::Bytes(r)) => {
                let b = self.slice(r);
                if b.len() > self.cfg.budget.max_digits {
                    return Err(Fail::Unknown(Unmodelled::Budget("digits")));
                }
                let v = BigInt::from_signed_bytes_le(b);
                let node = if self.py2() {
                    Node::Long(v)
                } else {
                    Node::Int(v)
                };
                self.push_new(node, c)?
            }
            (code::FLOAT, Arg::Line(r)) => {
                let f = self.load_float_line(self.slice(r))?;
                self.push_new(Node::Float(f), c)?
            }
            (code::BINFLOAT, Arg::Float(f)) => self.push_new(Node::Float(*f), c)?,
            (code::STRING, Arg::Line(r)) => {
                let raw = self.load_string_line(self.slice(r))?;
                let node = self.py2_str(raw)?;
                self.push_new(node, c)?
            }
            (code::BINSTRING | code::SHORT_BINSTRING, Arg::Bytes(r)) => {
                let raw = self.slice(r).to_vec();
                self.charge_bytes(raw.len())?;
                let node = self.py2_str(raw)?;
                self.push_new(node, c)?
            }
            (code::BINBYTES | code::SHORT_BINBYTES | code::BINBYTES8, Arg::Bytes(r)) => {
                self.charge_bytes(r.len())?;
                let b = self.slice(r).to_vec();
                self.push_new(Node::Bytes(b), c)?
            }
            (code::BYTEARRAY8, Arg::Bytes(r)) => {
                self.charge_bytes(r.len())?;
                let b = self.slice(r).to_vec();
                self.push_new(Node::ByteArray(b), c)?
            }
            (code::UNICODE, Arg::Line(r)) => {
                let raw = self.slice(r);
                self.charge_bytes(raw.len() * 2)?;
                let t = codec::decode_raw_unicode_escape(raw, self.py2())
                    .map_err(|e| Fail::Py(PyError::new("UnicodeDecodeError", e.message())))?;
                self.push_new(Node::Text(t), c)?
            }
            (code::BINUNICODE | code::SHORT_BINUNICODE | code::BINUNICODE8, Arg::Bytes(r)) => {
                let raw = self.slice(r);
                self.charge_bytes(raw.len())?;
                let name = if self.py2() { "utf8" } else { "utf-8" };
                let t = match codec::decode_utf8(raw, Handler::SurrogatePass, name) {
                    Ok(t) => t,
                    Err(Failure::Decode(e)) => {
                        return Err(Fail::Py(PyError::new("UnicodeDecodeError", e.message())));
                    }
                    Err(Failure::UnknownHandler(h)) => {
                        return Err(Fail::Unknown(Unmodelled::Feature(h)));
                    }
                };
                self.push_new(Node::Text(t), c)?
            }
            (code::EMPTY_LIST, _) => self.push_new(Node::List(Vec::new()), c)?,
            (code::EMPTY_TUPLE, _) => self.push_new(Node::Tuple(Vec::new()), c)?,
            (code::EMPTY_DICT, _) => self.push_new(Node::Dict(Vec::new()), c)?,
            (code::EMPTY_SET, _) => self.push_new(Node::Set(Vec::new()), c)?,
            (code::LIST, _) => {
                let m = self.marker()?;
                let items = self.stack.split_off(m.min(self.stack.len()));
                self.push_new(Node::List(items), c)?
            }
            (code::TUPLE, _) => {
                let m = self.marker()?;
                let items = self.stack.split_off(m.min(self.stack.len()));
                self.push_new(Node::Tuple(items), c)?
            }
            (code::TUPLE1 | code::TUPLE2 | code::TUPLE3, _) => {
                let n = (c - code::TUPLE1 + 1) as usize;
                if self.stack.len() < self.fence() + n {
                    return Err(self.underflow());
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.push_new(Node::Tuple(items), c)?
            }
            (code::FROZENSET, _) => {
                let m = self.marker()?;
                let items = self.stack.split_off(m.min(self.stack.len()));
                let set = self.new_node(Node::FrozenSet(Vec::new()), c)?;
                for it in items {
                    self.set_add(set, it)?;
                }
                self.push(set)?
            }
            (code::DICT, _) => {
                let m = self.marker()?;
                let items = self.stack.split_off(m.min(self.stack.len()));
                if !items.len().is_multiple_of(2) && !self.py2() {
                    return Err(self.unpickling_error("odd number of items for DICT"));
                }
                let d = self.new_node(Node::Dict(Vec::new()), c)?;
                self.reserve_items(d, items.len() / 2);
                for kv in items.chunks_exact(2) {
                    self.dict_set(d, kv[0], kv[1])?;
                }
                self.push(d)?
            }
            (code::APPEND, _) => {
                let len = self.stack.len();
                if len < 2 || len - 1 <= self.fence() {
                    return Err(self.underflow());
                }
                let v = self.stack.pop().ok_or_else(|| self.underflow())?;
                let target = self.top()?;
                self.extend(target, vec![v])?;
            }
            (code::APPENDS, _) => {
                let m = self.marker()?;
                if m == 0 || m > self.stack.len() || (!self.py2() && m <= self.fence()) {
                    return Err(self.underflow());
                }
                let items = self.stack.split_off(m);
                let target = self.stack[m - 1];
                self.extend(target, items)?;
            }
            (code::SETITEM, _) => {
                let len = self.stack.len();
                if len < 3 || len - 2 <= self.fence() {
                    return Err(self.underflow());
                }
                let v = self.stack.pop().ok_or_else(|| self.underflow())?;
                let k = self.stack.pop().ok_or_else(|| self.underflow())?;
                let d = self.top()?;
                self.setitem(d, k, v)?;
            }
            (code::SETITEMS, _) => {
                let m = self.marker()?;
                if m == 0 || m > self.stack.len() || (!self.py2() && m <= self.fence()) {
                    return Err(self.underflow());
                }
                let items = self.stack.split_off(m);
                if !items.len().is_multiple_of(2) && !self.rt.pure {
                    return Err(self.unpickling_error("odd number of items for SETITEMS"));
                }
                let d = self.stack[m - 1];
                self.reserve_items(d, items.len() / 2);
                for kv in items.chunks_exact(2) {
                    self.setitem(d, kv[0], kv[1])?;
                }
            }
            (code::ADDITEMS, _) => {
                let m = self.marker()?;
                if m == 0 || m > self.stack.len() || (!self.py2() && m <= self.fence()) {
                    return Err(self.underflow());
                }
                let items = self.stack.split_off(m);
                let s = self.stack[m - 1];
                match self.heap.get(s) {
                    Node::Set(_) => {
                        for it in items {
                            self.set_add(s, it)?;
                        }
                    }
                    Node::Opaque { .. } => self.drop_reduce(s),
                    Node::Instance { .. } => self.not_plain(s),
                    _ => {
                        let t = self.type_name(s);
                        return Err(Fail::Py(PyError::new(
                            "AttributeError",
                            format!("'{t}' object has no attribute 'add'"),
                        )));
                    }
                }
            }
            // pickle.py (2.7) keys its memo by strings: the PUT/GET line as it is, and repr(i)
            // for the binary forms (so `p-1`, `px` and a LONG_BINPUT of 2**31 are all fine).
            (code::GET, Arg::Line(r)) if self.rt.pure => self.pure_memo_get(self.slice(r))?,
            (code::BINGET | code::LONG_BINGET, Arg::Int(i)) if self.rt.pure => {
                self.pure_memo_get((*i as u32 as i32).to_string().as_bytes())?
            }
            (code::PUT, Arg::Line(r)) if self.rt.pure => {
                let key = self.slice(r).to_vec();
                self.pure_memo_put(key)?
            }
            (code::BINPUT | code::LONG_BINPUT, Arg::Int(i)) if self.rt.pure => {
                self.pure_memo_put((*i as u32 as i32).to_string().into_bytes())?
            }
            (code::GET, Arg::Line(r)) if self.py2() && !self.rt.pure => {
                let key = self.slice(r);
                match self.text_memo.get(key) {
                    Some(&id) => self.push(id)?,
                    None => {
                        let shown: String = key.iter().map(|&b| char::from(b)).collect();
                        return Err(Fail::Py(PyError::new("cPickle.BadPickleGet", shown)));
                    }
                }
            }
            (code::PUT, Arg::Line(r)) if self.py2() && !self.rt.pure => {
                let t = self.top()?;
                self.text_memo.insert(self.slice(r).to_vec(), t);
            }
            (code::GET, Arg::Line(r)) => {
                let idx = self.memo_index_line(self.slice(r))?;
                self.memo_get(idx)?
            }
            (code::BINGET | code::LONG_BINGET, Arg::Int(i)) => self.memo_get(*i)?,
            (code::PUT, Arg::Line(r)) => {
                let idx = self.memo_index_line(self.slice(r))?;
                if idx < 0 {
                    return Err(Fail::Py(PyError::new(
                        "ValueError",
                        "negative PUT argument",
                    )));
                }
                self.memo_put(idx as u64)?
            }
            (code::BINPUT | code::LONG_BINPUT, Arg::Int(i)) => self.memo_put(*i as u64)?,
            (code::MEMOIZE, _) => {
                let idx = self.memo.len() as u64;
                self.memo_put(idx)?
            }
            (code::GLOBAL, Arg::Line2(m, n)) => {
                let (m, n) = (self.slice(m), self.slice(n));
                let g = self.global_from_lines(m, n)?;
                self.push_new(Node::Global(g), c)?
            }
            (code::STACK_GLOBAL, _) => {
                // _pickle.c: an underflow here is reported as "requires str" too.
                let (name, module) = if self.facts.stack_global_reports_underflow {
                    (Some(self.pop()?), Some(self.pop()?))
                } else {
                    (self.pop().ok(), self.pop().ok())
                };
                let (Some(Node::Text(m)), Some(Node::Text(n))) = (
                    module.map(|m| self.heap.get(m)),
                    name.map(|n| self.heap.get(n)),
                ) else {
                    return Err(self.unpickling_error("STACK_GLOBAL requires str"));
                };
                if m.is_empty() {
                    return Err(Fail::Py(PyError::new("ValueError", "Empty module name")));
                }
                let (m, n) = (text_lossy(m), text_lossy(n));
                let g = self.find_class(&m, &n)?;
                self.push_new(Node::Global(g), c)?
            }
            (code::INST, Arg::Line2(m, n)) => {
                // load_inst looks for the MARK before it reads the class name.
                let mk = self.marker()?;
                let (m, n) = (self.slice(m), self.slice(n));
                let g = self.global_from_lines(m, n)?;
                let args = self.stack.split_off(mk.min(self.stack.len()));
                let v = self.instantiate(g, args)?;
                self.push(v)?
            }
            (code::OBJ, _) => {
                let mk = self.marker()?;
                if mk >= self.stack.len() {
                    return Err(self.underflow());
                }
                let mut args = self.stack.split_off(mk);
                let cls = args.remove(0);
                let Node::Global(g) = self.heap.get(cls).clone() else {
                    return Err(Fail::Unknown(Unmodelled::Feature(
                        "OBJ with a class object that is not a global".into(),
                    )));
                };
                let v = self.instantiate(g, args)?;
                self.push(v)?
            }
            (code::REDUCE, _) => {
                let args = self.pop_or_bad()?;
                let f = self.pop_or_bad()?;
                let v = self.call(f, args)?;
                self.push(v)?
            }
            (code::NEWOBJ, _) => {
                let args = self.pop_or_bad()?;
                let cls = self.pop_or_bad()?;
                let before = self.heap.len();
                let v = self.newobj(cls, args, None)?;
                if let Node::Global(g) = self.heap.get(cls).clone() {
                    self.record_reduce(v, before, &g, cls, args, true);
                }
                self.push(v)?
            }
            (code::NEWOBJ_EX, _) => {
                let kwargs = self.pop()?;
                let args = self.pop()?;
                let cls = self.pop()?;
                let v = self.newobj(cls, args, Some(kwargs))?;
                self.push(v)?
            }
            (code::BUILD, _) => {
                if self.stack.len() < self.fence() + 2 {
                    return Err(self.underflow());
                }
                let state = self.pop()?;
                let inst = self.top()?;
                self.build(inst, state)?;
            }
            (code::PERSID | code::BINPERSID, arg) => {
                if c == code::BINPERSID {
                    self.pop()?;
                }
                if let (true, Arg::Line(r)) = (self.facts.persid_ascii_check, arg)
                    && !self.slice(r).is_ascii()
                {
                    return Err(
                        self.unpickling_error("persistent IDs in protocol 0 must be ASCII strings")
                    );
                }
                return Err(self.no_persistent_load());
            }
            (code::EXT1 | code::EXT2 | code::EXT4, Arg::Int(i)) => {
                if *i <= 0 && !self.rt.pure {
                    return Err(self.unpickling_error("EXT specifies code <= 0"));
                }
                return Err(Fail::Py(PyError::new(
                    "ValueError",
                    format!("unregistered extension code {i}"),
                )));
            }
            (code::NEXT_BUFFER, _) => {
                return Err(self.unpickling_error(
                    "pickle stream refers to out-of-band data but no *buffers* argument was given",
                ));
            }
            (code::READONLY_BUFFER, _) => {
                let t = self.top()?;
                match self.heap.get(t) {
                    Node::Bytes(_) | Node::MemoryView(_) => {}
                    Node::ByteArray(_) => {
                        let mv = self.new_node(Node::MemoryView(t), c)?;
                        self.stack.pop();
                        self.push(mv)?;
                    }
                    _ => {
                        let tn = self.type_name(t);
                        return Err(Fail::Py(PyError::new(
                            "TypeError",
                            format!("memoryview: a bytes-like object is required, not '{tn}'"),
                        )));
                    }
                }
            }
            _ => {
                return Err(Fail::Unknown(Unmodelled::Feature(format!(
                    "opcode {:#04x} with an unexpected argument",
                    c
                ))));
            }
        }
        Ok(None)
    }

    fn no_persistent_load(&self) -> Fail {
        if self.py2() {
            if self.rt.pure {
                return Fail::Py(PyError::new(
                    "AttributeError",
                    "Unpickler instance has no attribute 'persistent_load'",
                ));
            }
            return self.unpickling_error("A load persistent id instruction was encountered,\nbut no persistent_load function was specified.");
        }
        let sep = if self.facts.persid_msg_space {
            " "
        } else {
            "\n"
        };
        self.unpickling_error(format!(
            "A load persistent id instruction was encountered,{sep}but no persistent_load function was specified."
        ))
    }

    // ----- memo ---------------------------------------------------------------------------

    fn memo_index_line(&self, line: &[u8]) -> R<i64> {
        let s = String::from_utf8_lossy(line);
        match parse_c_long(&s) {
            Some(v) => Ok(v),
            None => Err(Fail::Py(PyError::new(
                "ValueError",
                format!(
                    "invalid literal for {}() with base 10: {}",
                    if self.py2() { "long" } else { "int" },
                    py_str_repr_text(&format!("{s}\n"))
                ),
            ))),
        }
    }

    fn memo_get(&mut self, idx: i64) -> R<()> {
        match (idx >= 0).then(|| self.memo.get(idx as u64)).flatten() {
            Some(id) => self.push(id),
            _ => Err(match self.facts.memo_missing {
                MemoMissing::NotFound => {
                    self.unpickling_error(format!("Memo value not found at index {idx}"))
                }
                MemoMissing::KeyError => Fail::Py(PyError::new("KeyError", idx.to_string())),
                MemoMissing::BadPickleGet => {
                    Fail::Py(PyError::new("cPickle.BadPickleGet", idx.to_string()))
                }
            }),
        }
    }

    // ----- pickle.py (2.7): the stack as a Python list, the MARK an object on it -----------

    fn index_error(msg: &str) -> Fail {
        Fail::Py(PyError::new("IndexError", msg))
    }

    /// `self.stack[k]` (negative k from the end).
    fn pure_at(&self, k: isize) -> R<Id> {
        let n = self.stack.len() as isize;
        let i = if k < 0 { n + k } else { k };
        if i < 0 || i >= n {
            return Err(Self::index_error("list index out of range"));
        }
        Ok(self.stack[i as usize])
    }

    fn pure_pop(&mut self) -> R<Id> {
        self.stack
            .pop()
            .ok_or_else(|| Self::index_error("pop from empty list"))
    }

    /// `marker()`: the last MARK object's position; without one the loop runs off the front
    /// of the list (IndexError).
    fn pure_marker(&self) -> R<usize> {
        let mark = self.mark_obj;
        self.stack
            .iter()
            .rposition(|&id| Some(id) == mark)
            .ok_or_else(|| Self::index_error("list index out of range"))
    }

    fn pure_mark(&mut self) -> R<Id> {
        if let Some(m) = self.mark_obj {
            return Ok(m);
        }
        let g = Global {
            module: "__builtin__".into(),
            name: "object".into(),
            known: Known::Object,
        };
        let m = self.new_node(
            Node::Instance {
                class: g,
                dict: Vec::new(),
            },
            code::MARK,
        )?;
        self.mark_obj = Some(m);
        Ok(m)
    }

    /// Python truthiness, where the models know it (unknown objects count as true).
    fn falsy(&self, id: Id) -> bool {
        match self.heap.get(id) {
            Node::None => true,
            Node::Bool(b) => !b,
            Node::Int(v) | Node::Long(v) => v.is_zero(),
            Node::Float(f) => *f == 0.0,
            Node::Bytes(v) | Node::Text(v) | Node::ByteArray(v) => v.is_empty(),
            Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => v.is_empty(),
            Node::Dict(kv) | Node::OrderedDict(kv) => kv.is_empty(),
            _ => false,
        }
    }

    /// Whether `f(*x)` can unpack x (what pickles put there: tuples, lists, sets, dicts,
    /// strings).
    fn iterable(&self, x: Id) -> bool {
        matches!(
            self.heap.get(x),
            Node::Tuple(_)
                | Node::List(_)
                | Node::Set(_)
                | Node::FrozenSet(_)
                | Node::Dict(_)
                | Node::Bytes(_)
                | Node::Text(_)
                | Node::ByteArray(_)
                | Node::Deque { .. }
                | Node::OrderedDict(_)
        )
    }

    /// py2's `f(*args)` with args not iterable (ceval ext_do_call: PyEval_GetFuncName and
    /// PyEval_GetFuncDesc: "name()" for a function, "Name constructor" for a classic class,
    /// otherwise the type's name and " object", so "type object" for a new-style class).
    fn star_args_error(&self, f: Id, args: Id, newobj: bool) -> Fail {
        let t = self.type_name(args);
        let who = if newobj {
            "__new__()".to_string()
        } else {
            match self.heap.get(f) {
                Node::Global(g) if g.known == Known::ClassicClass => {
                    format!("{} constructor", g.name)
                }
                Node::Global(g) if is_type(g) => "type object".to_string(),
                Node::Global(g) => format!("{}()", g.name),
                _ => format!("{} object", self.type_name(f)),
            }
        };
        Fail::Py(PyError::new(
            "TypeError",
            format!("{who} argument after * must be an iterable, not {t}"),
        ))
    }

    /// The arguments as a tuple node (pickle.py passes `*args`, so a list works too).
    fn as_args_tuple(&mut self, args: Id) -> R<Id> {
        match self.heap.get(args).clone() {
            Node::Tuple(_) => Ok(args),
            Node::List(v) => self.new_node(Node::Tuple(v), code::REDUCE),
            _ => Err(Fail::Unknown(Unmodelled::Feature(
                "unpacking a non-sequence as arguments".into(),
            ))),
        }
    }

    /// The opcodes whose pickle.py code touches the stack in ways the C loaders do not (the
    /// MARK object, Python list indexing and its IndexErrors); `None`: the shared code applies.
    fn step_pure(&mut self, op: &Op) -> Option<R<Option<Id>>> {
        const HANDLED: &[u8] = &[
            code::MARK,
            code::STOP,
            code::POP,
            code::POP_MARK,
            code::DUP,
            code::TUPLE,
            code::LIST,
            code::TUPLE1,
            code::TUPLE2,
            code::TUPLE3,
            code::DICT,
            code::INST,
            code::OBJ,
            code::REDUCE,
            code::NEWOBJ,
            code::BUILD,
            code::APPEND,
            code::APPENDS,
            code::SETITEM,
            code::SETITEMS,
        ];
        let c = op.code;
        if !HANDLED.contains(&c) {
            return None;
        }
        Some(self.step_pure_stack(op))
    }

    fn step_pure_stack(&mut self, op: &Op) -> R<Option<Id>> {
        let c = op.code;
        {
            match (c, &op.arg) {
                (code::MARK, _) => {
                    if self.stack.len() >= self.cfg.budget.max_marks {
                        return Err(Fail::Unknown(Unmodelled::Budget("marks")));
                    }
                    let m = self.pure_mark()?;
                    self.push(m)?;
                }
                (code::STOP, _) => return Ok(Some(self.pure_pop()?)),
                (code::POP, _) if self.stack.pop().is_none() => {
                    return Err(Self::index_error("list assignment index out of range"));
                }
                (code::POP_MARK, _) => {
                    let k = self.pure_marker()?;
                    self.stack.truncate(k);
                }
                (code::DUP, _) => {
                    let t = self.pure_at(-1)?;
                    self.push(t)?;
                }
                (code::TUPLE | code::LIST, _) => {
                    let k = self.pure_marker()?;
                    let items = self.stack.split_off(k + 1);
                    self.stack.truncate(k);
                    let node = if c == code::TUPLE {
                        Node::Tuple(items)
                    } else {
                        Node::List(items)
                    };
                    self.push_new(node, c)?;
                }
                (code::TUPLE1 | code::TUPLE2 | code::TUPLE3, _) => {
                    let n = (c - code::TUPLE1 + 1) as isize;
                    let mut items = Vec::new();
                    for k in (1..=n).rev() {
                        items.push(self.pure_at(-k)?);
                    }
                    let len = self.stack.len() - n as usize;
                    self.stack.truncate(len);
                    self.push_new(Node::Tuple(items), c)?;
                }
                (code::DICT, _) => {
                    let k = self.pure_marker()?;
                    let items = self.stack[k + 1..].to_vec();
                    let d = self.new_node(Node::Dict(Vec::new()), c)?;
                    for pair in items.chunks(2) {
                        let [key, v] = pair else {
                            return Err(Self::index_error("list index out of range"));
                        };
                        self.dict_set(d, *key, *v)?;
                    }
                    self.stack.truncate(k);
                    self.push(d)?;
                }
                (code::INST, Arg::Line2(m, n)) => {
                    let (m, n) = (self.slice(m), self.slice(n));
                    let g = self.global_from_lines(m, n)?;
                    let k = self.pure_marker()?;
                    let args = self.stack.split_off(k + 1);
                    self.stack.truncate(k);
                    let v = self.instantiate(g, args)?;
                    self.push(v)?;
                }
                (code::OBJ, _) => {
                    let k = self.pure_marker()?;
                    if k + 1 >= self.stack.len() {
                        return Err(Self::index_error("pop index out of range"));
                    }
                    let cls = self.stack.remove(k + 1);
                    let args = self.stack.split_off(k + 1);
                    self.stack.truncate(k);
                    let Node::Global(g) = self.heap.get(cls).clone() else {
                        return Err(Fail::Unknown(Unmodelled::Feature(
                            "OBJ with a class object that is not a global".into(),
                        )));
                    };
                    let v = self.instantiate(g, args)?;
                    self.push(v)?;
                }
                (code::REDUCE, _) => {
                    let args = self.pure_pop()?;
                    let f = self.pure_at(-1)?;
                    if !self.iterable(args) {
                        return Err(self.star_args_error(f, args, false));
                    }
                    let t = self.as_args_tuple(args)?;
                    let v = self.call(f, t)?;
                    if let Some(top) = self.stack.last_mut() {
                        *top = v;
                    }
                }
                (code::NEWOBJ, _) => {
                    let args = self.pure_pop()?;
                    let cls = self.pure_at(-1)?;
                    let v = match self.heap.get(cls).clone() {
                        Node::Global(g) if is_type(&g) => {
                            if !self.iterable(args) {
                                return Err(self.star_args_error(cls, args, true));
                            }
                            let t = self.as_args_tuple(args)?;
                            let before = self.heap.len();
                            let v = self.newobj(cls, t, None)?;
                            self.record_reduce(v, before, &g, cls, t, true);
                            v
                        }
                        Node::Global(_) => {
                            let t = self.as_args_tuple(args)?;
                            self.newobj(cls, t, None)?
                        }
                        n => {
                            if !self.iterable(args) {
                                return Err(self.star_args_error(cls, args, true));
                            }
                            // `x.__new__` of a non-class is its type's __new__ (object's for
                            // None and plain objects), which wants a type.
                            let t = self.type_name(cls);
                            let owner = match n {
                                Node::Int(_) | Node::Bool(_) => "int",
                                Node::None | Node::Instance { .. } => "object",
                                _ => {
                                    return Err(Fail::Unknown(Unmodelled::Feature(format!(
                                        "NEWOBJ on a {t}"
                                    ))));
                                }
                            };
                            return Err(Fail::Py(PyError::new(
                                "TypeError",
                                format!("{owner}.__new__(X): X is not a type object ({t})"),
                            )));
                        }
                    };
                    if let Some(top) = self.stack.last_mut() {
                        *top = v;
                    }
                }
                (code::BUILD, _) => {
                    let state = self.pure_pop()?;
                    let inst = self.pure_at(-1)?;
                    // load_build: no __setstate__ on a builtin value, and `if state:` /
                    // `if slotstate:` skip falsy parts, so BUILD with an empty state is a no-op.
                    let builtin = !matches!(
                        self.heap.get(inst),
                        Node::Instance { .. } | Node::Opaque { .. } | Node::Exception { .. }
                    );
                    let parts = match self.heap.get(state) {
                        Node::Tuple(t) if t.len() == 2 => t.clone(),
                        _ => vec![state],
                    };
                    if builtin && parts.iter().all(|&p| self.falsy(p)) {
                        return Ok(None);
                    }
                    self.build(inst, state)?;
                }
                (code::APPEND, _) => {
                    let v = self.pure_pop()?;
                    let target = self.pure_at(-1)?;
                    self.extend(target, vec![v])?;
                }
                (code::APPENDS, _) => {
                    let k = self.pure_marker()?;
                    let target = self.pure_at(k as isize - 1)?;
                    let items = self.stack[k + 1..].to_vec();
                    let extends = match self.heap.get(target) {
                        Node::List(_) | Node::Deque { .. } | Node::Opaque { .. } => true,
                        Node::Instance { class, .. } => class.known == Known::AppClass,
                        _ => false,
                    };
                    if !extends {
                        let t = self.type_name(target);
                        return Err(Fail::Py(PyError::new(
                            "AttributeError",
                            format!("'{t}' object has no attribute 'extend'"),
                        )));
                    }
                    self.extend(target, items)?;
                    self.stack.truncate(k);
                }
                (code::SETITEM, _) => {
                    let v = self.pure_pop()?;
                    let key = self.pure_pop()?;
                    let d = self.pure_at(-1)?;
                    self.setitem(d, key, v)?;
                }
                (code::SETITEMS, _) => {
                    let k = self.pure_marker()?;
                    let d = self.pure_at(k as isize - 1)?;
                    let items = self.stack[k + 1..].to_vec();
                    for pair in items.chunks(2) {
                        let [key, v] = pair else {
                            return Err(Self::index_error("list index out of range"));
                        };
                        self.setitem(d, *key, *v)?;
                    }
                    self.stack.truncate(k);
                }
                _ => {}
            }
            Ok(None)
        }
    }

    fn pure_memo_get(&mut self, key: &[u8]) -> R<()> {
        match self.text_memo.get(key) {
            Some(&id) => self.push(id),
            None => Err(Fail::Py(PyError::new("KeyError", py2_str_repr(key)))),
        }
    }

    fn pure_memo_put(&mut self, key: Vec<u8>) -> R<()> {
        let t = self.top()?;
        if self.text_memo.len() >= self.cfg.budget.max_memo && !self.text_memo.contains_key(&key) {
            return Err(Fail::Unknown(Unmodelled::Budget("memo")));
        }
        self.text_memo.insert(key, t);
        Ok(())
    }

    fn memo_put(&mut self, idx: u64) -> R<()> {
        let t = self.top()?;
        if !self.py2() && (6..=13).contains(&self.rt.minor) && idx >= C_MEMO_ALLOC_LIMIT {
            // _pickle.c (3.6-3.13) keeps the memo as a dense array and resizes it to twice the
            // index: a PUT at index 2**31-1 asks for 32 GiB and raises MemoryError (observed under
            // a 4 GB address-space limit; on a bigger machine it may succeed slowly). 3.14 keeps
            // sparse indices in a dict (gh-115952); 2.7's cPickle always did.
            return Err(Fail::Py(PyError::new("MemoryError", "")));
        }
        if self.memo.len() >= self.cfg.budget.max_memo && self.memo.get(idx).is_none() {
            return Err(Fail::Unknown(Unmodelled::Budget("memo")));
        }
        self.memo.insert(idx, t);
        Ok(())
    }

    // ----- scalars ------------------------------------------------------------------------

    fn digits_over_limit(&self, s: &str) -> Option<usize> {
        let limit = self.facts.int_max_str_digits?;
        let digits = s.bytes().filter(u8::is_ascii_digit).count();
        let is_decimal = !s.trim_start_matches(['-', '+', ' ']).starts_with("0x")
            && !s.trim_start_matches(['-', '+', ' ']).starts_with("0X");
        (is_decimal && digits > limit).then_some(digits)
    }

    fn load_int_line(&self, line: &[u8]) -> R<Node> {
        if line.is_empty() {
            return Err(self.truncated());
        }
        let s = String::from_utf8_lossy(line);
        if s.len() > self.cfg.budget.max_digits {
            return Err(Fail::Unknown(Unmodelled::Budget("digits")));
        }
        let base10 = self.facts.int_text_base10;
        if let Some(v) = strtol0(&s, base10) {
            let is_bool = if self.facts.int_bool_exact_text {
                line == b"00" || line == b"01"
            } else {
                line.len() == 2 && (v == 0 || v == 1)
            };
            if is_bool {
                return Ok(Node::Bool(v == 1));
            }
            return Ok(Node::Int(BigInt::from(v)));
        }
        // The C loaders fall back to PyLong_FromString and word any failure the same way.
        if self.digits_over_limit(&s).is_some() {
            return Err(Fail::Py(PyError::new(
                "ValueError",
                "could not convert string to int",
            )));
        }
        match py_int_literal(&s, self.py2(), base10) {
            Some(v) => Ok(if self.py2() {
                Node::Long(v)
            } else {
                Node::Int(v)
            }),
            None => Err(Fail::Py(PyError::new(
                "ValueError",
                "could not convert string to int",
            ))),
        }
    }

    /// pickle.py (2.7) load_int: `'00\n'` and `'01\n'` are the booleans, else `int(data)`,
    /// falling back to `long(data)` (which also takes a trailing L); both strip whitespace and
    /// read base 10 (no 0x, a leading 0 is not octal). int() of a big value is a long.
    fn pure_load_int(&self, data: &[u8]) -> R<Node> {
        match data {
            b"00\n" => return Ok(Node::Bool(false)),
            b"01\n" => return Ok(Node::Bool(true)),
            _ => {}
        }
        if data.len() > self.cfg.budget.max_digits {
            return Err(Fail::Unknown(Unmodelled::Budget("digits")));
        }
        let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
        let start = data.iter().position(|&c| !ws(c)).unwrap_or(data.len());
        let end = data.iter().rposition(|&c| !ws(c)).map_or(start, |e| e + 1);
        let t = &data[start..end];
        let decimal = |t: &[u8]| -> Option<BigInt> {
            let (neg, digits) = match t.first() {
                Some(b'-') => (true, &t[1..]),
                Some(b'+') => (false, &t[1..]),
                _ => (false, t),
            };
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let v = BigInt::parse_bytes(digits, 10)?;
            Some(if neg { -v } else { v })
        };
        if let Some(v) = decimal(t) {
            return Ok(if v.to_i64().is_some() {
                Node::Int(v)
            } else {
                Node::Long(v)
            });
        }
        if let Some(v) = t
            .strip_suffix(b"L")
            .or_else(|| t.strip_suffix(b"l"))
            .and_then(decimal)
        {
            return Ok(Node::Long(v));
        }
        Err(Fail::Py(PyError::new(
            "ValueError",
            format!(
                "invalid literal for long() with base 10: {}",
                py2_str_repr(data)
            ),
        )))
    }

    fn load_long_line(&self, line: &[u8]) -> R<Node> {
        if self.rt.pure {
            // pickle.py: `long(line, 0)` (prefixes, a trailing L); its error says base 10.
            if line.len() > self.cfg.budget.max_digits {
                return Err(Fail::Unknown(Unmodelled::Budget("digits")));
            }
            let s = String::from_utf8_lossy(line);
            return match py_int_literal(&s, true, false) {
                Some(v) if !line.is_empty() => Ok(Node::Long(v)),
                _ => Err(Fail::Py(PyError::new(
                    "ValueError",
                    format!(
                        "invalid literal for long() with base 10: {}",
                        py2_str_repr(line)
                    ),
                ))),
            };
        }
        if line.is_empty() {
            return Err(self.truncated());
        }
        let s = String::from_utf8_lossy(line);
        if s.len() > self.cfg.budget.max_digits {
            return Err(Fail::Unknown(Unmodelled::Budget("digits")));
        }
        // load_long: a trailing 'L' is cut off (a NUL in its place) before PyLong_FromString.
        let cut = s.strip_suffix('L');
        // py2 hands the whole line (its L included) to PyLong_FromString.
        let body = if self.py2() { &s } else { cut.unwrap_or(&s) };
        if let Some(n) = self.digits_over_limit(body) {
            return Err(Fail::Py(PyError::new(
                "ValueError",
                format!(
                    "Exceeds the limit ({}) for integer string conversion: value has {n} digits; use sys.set_int_max_str_digits() to increase the limit",
                    if self.facts.int_limit_says_digits {
                        "4300 digits"
                    } else {
                        "4300"
                    }
                ),
            )));
        }
        match py_int_literal(body, self.py2(), self.facts.int_text_base10) {
            Some(v) => Ok(if self.py2() {
                Node::Long(v)
            } else {
                Node::Int(v)
            }),
            None => Err(Fail::Py(PyError::new(
                "ValueError",
                format!(
                    "invalid literal for {}() with base 10: {}",
                    // cPickle's PyLong_FromString names long() on py2.
                    if self.py2() { "long" } else { "int" },
                    py_str_repr_text(&match (cut, self.py2()) {
                        (Some(b), false) => b.to_string(),
                        _ => format!("{s}\n"),
                    })
                ),
            ))),
        }
    }

    fn load_float_line(&self, line: &[u8]) -> R<f64> {
        if self.rt.pure {
            // pickle.py (2.7): `float(line)`: surrounding whitespace is allowed, the whole rest
            // must be a float, and one too large is inf (py2's float() does not overflow).
            let s = String::from_utf8_lossy(line);
            let t = s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
            let (value, used) = parse_float_prefix(t, true);
            // PyFloat_FromString: no number at all is "could not convert"; a number followed
            // by anything else is "invalid literal for float()" (both print the string from
            // its first non-blank character).
            let shown = s.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
            return match value {
                Some(v) if !t.is_empty() && used == t.len() => Ok(v),
                Some(_) if used > 0 => Err(Fail::Py(PyError::new(
                    "ValueError",
                    format!("invalid literal for float(): {shown}"),
                ))),
                _ => Err(Fail::Py(PyError::new(
                    "ValueError",
                    format!("could not convert string to float: {shown}"),
                ))),
            };
        }
        if line.is_empty() {
            return Err(self.truncated());
        }
        let s = String::from_utf8_lossy(line);
        let (value, used) = parse_float_prefix(&s, self.py2());
        let shown = if self.facts.float_error_quoted {
            format!("'{s}\n'")
        } else {
            format!("{s}\n")
        };
        if used == 0 {
            return Err(Fail::Py(PyError::new(
                "ValueError",
                format!("could not convert string to float: {shown}"),
            )));
        }
        let v = value.unwrap_or(0.0);
        if v.is_infinite() && !s[..used].to_ascii_lowercase().contains("inf") {
            return Err(Fail::Py(PyError::new(
                "OverflowError",
                format!("value too large to convert to float: {shown}"),
            )));
        }
        if used != s.len() {
            return Err(Fail::Py(PyError::new(
                "ValueError",
                "could not convert string to float",
            )));
        }
        Ok(v)
    }

    /// STRING's argument: the quotes checked, the escapes decoded (`PyBytes_DecodeEscape`).
    fn load_string_line(&self, line: &[u8]) -> R<Vec<u8>> {
        if line.is_empty() && self.py2() && !self.rt.pure {
            return Err(self.truncated());
        }
        // cPickle strips trailing bytes <= ' ' before looking for the quotes; pickle.py does not.
        let mut n = line.len();
        if self.py2() && !self.rt.pure {
            while n > 0 && line[n - 1] <= b' ' {
                n -= 1;
            }
        }
        let quoted = n >= 2 && line[0] == line[n - 1] && (line[0] == b'\'' || line[0] == b'"');
        if !quoted {
            return Err(if self.py2() {
                Fail::Py(PyError::new("ValueError", "insecure string pickle"))
            } else {
                self.unpickling_error("the STRING opcode argument must be quoted")
            });
        }
        codec::escape_decode(&line[1..n - 1]).map_err(|e| {
            // py2's PyString_DecodeEscape does not give the position.
            let msg = if self.py2() && e.0.starts_with("invalid \\x escape") {
                "invalid \\x escape".to_string()
            } else {
                e.0
            };
            Fail::Py(PyError::new("ValueError", msg))
        })
    }

    /// A py2 `str` payload, as this runtime and its load options see it.
    fn py2_str(&self, raw: Vec<u8>) -> R<Node> {
        if self.py2() {
            return Ok(Node::Bytes(raw));
        }
        let o = &self.cfg.options;
        let codec = match codec::lookup(&o.encoding) {
            Ok(Codec::Bytes) if self.facts.encoding_bytes => return Ok(Node::Bytes(raw)),
            Ok(Codec::Bytes) => {
                return Err(Fail::Py(PyError::new(
                    "LookupError",
                    "unknown encoding: bytes",
                )));
            }
            Ok(c) => c,
            Err(true) => {
                return Err(Fail::Unknown(Unmodelled::Feature(format!(
                    "encoding {:?}",
                    o.encoding
                ))));
            }
            Err(false) => {
                return Err(Fail::Py(PyError::new(
                    "LookupError",
                    format!("unknown encoding: {}", o.encoding),
                )));
            }
        };
        let handler = Handler::parse(&o.errors);
        let decoded = match (codec, handler) {
            (Codec::Latin1, _) => Ok(codec::decode_latin1(&raw)),
            (_, None) => {
                // The handler is looked up only when an error occurs.
                let strict = match codec {
                    Codec::Ascii => codec::decode_ascii(&raw, Handler::Strict),
                    _ => codec::decode_utf8(&raw, Handler::Strict, "utf-8"),
                };
                match strict {
                    Ok(t) => Ok(t),
                    Err(_) => {
                        return Err(Fail::Py(PyError::new(
                            "LookupError",
                            format!("unknown error handler name '{}'", o.errors),
                        )));
                    }
                }
            }
            (Codec::Ascii, Some(h)) => codec::decode_ascii(&raw, h),
            (_, Some(h)) => codec::decode_utf8(&raw, h, "utf-8"),
        };
        match decoded {
            Ok(t) => Ok(Node::Text(t)),
            Err(Failure::Decode(e)) => {
                Err(Fail::Py(PyError::new("UnicodeDecodeError", e.message())))
            }
            Err(Failure::UnknownHandler(h)) => Err(Fail::Unknown(Unmodelled::Feature(h))),
        }
    }

    // ----- globals ------------------------------------------------------------------------

    fn global_from_lines(&self, m: &[u8], n: &[u8]) -> R<Global> {
        if (m.is_empty() || n.is_empty()) && !self.rt.pure {
            return Err(self.truncated());
        }
        if m.is_empty() && self.rt.pure {
            // pickle.py find_class: `__import__('')`.
            return Err(Fail::Py(PyError::new("ValueError", "Empty module name")));
        }
        let dec = |b: &[u8]| -> R<String> {
            if self.py2() {
                // py2 names are byte strings; messages show each byte as that code point.
                return Ok(b.iter().map(|&c| char::from(c)).collect());
            }
            match std::str::from_utf8(b) {
                Ok(s) => Ok(s.to_string()),
                Err(_) => match codec::decode_utf8(b, Handler::Strict, "utf-8") {
                    Err(Failure::Decode(e)) => {
                        Err(Fail::Py(PyError::new("UnicodeDecodeError", e.message())))
                    }
                    _ => Ok(String::from_utf8_lossy(b).into_owned()),
                },
            }
        };
        let (m, n) = (dec(m)?, dec(n)?);
        self.find_class(&m, &n)
    }

    /// `Unpickler.find_class`: the `fix_imports` mapping (3.x, while proto < 3), the module import,
    /// then the attribute lookup (dotted names only from protocol 4).
    pub(crate) fn find_class(&self, module: &str, name: &str) -> R<Global> {
        let (mut module, mut name) = (module.to_string(), name.to_string());
        if !self.py2() && self.proto < 3 && self.cfg.options.fix_imports {
            let compat = self.rt.tables_or_nearest().compat;
            if let Some(c) = compat {
                if let Some((m2, n2)) = c.name(&module, &name) {
                    module = m2.to_string();
                    name = n2.to_string();
                } else if let Some(m2) = c.import(&module) {
                    module = m2.to_string();
                }
            }
        }
        let mut g = resolve_global(self.rt, &self.cfg.apps, &module, &name, self.proto >= 4)
            .map_err(Fail::Py)?;
        if self.py2() && g.known == Known::AppClass && self.cfg.apps.is_classic(&g) {
            g.known = Known::ClassicClass;
        }
        Ok(g)
    }

    // ----- containers ---------------------------------------------------------------------

    /// A dict key's identity under Python's equality, as a keyed 128-bit digest (two SipHash
    /// states seeded at random per load, so crafted collisions are not possible), computed once
    /// per node: a big string used as a key a million times is hashed once.
    fn key_of(&mut self, id: Id) -> R<Key> {
        if let Some(k) = self.key_cache.get(&id) {
            return Ok(k.clone());
        }
        let mut budget = 10_000usize;
        let k = self.key_of_bounded(id, &mut budget, 0)?;
        // Cached where hashing again costs more than the cache: tuples (whose items would be
        // visited, and counted against the budget, again) and long payloads.
        let worth = match self.heap.get(id) {
            Node::Text(b) | Node::Bytes(b) => b.len() > 256,
            Node::Int(_) | Node::Long(_) | Node::Bool(_) | Node::Float(_) | Node::None => false,
            _ => true,
        };
        if worth {
            self.key_cache.insert(id, k.clone());
        }
        Ok(k)
    }

    fn digest(&self, tag: u8, parts: &[&[u8]]) -> Key {
        let mut h = self.hash_keys.hasher();
        h.write_u8(tag);
        for p in parts {
            h.write(p);
        }
        h.finish(tag)
    }

    /// The digest of an integral value (int, long, bool, integral float): equal values give equal
    /// digests whatever their node type.
    fn int_digest(&self, v: &BigInt) -> Key {
        match v.to_i64() {
            Some(x) => self.digest(1, &[&x.to_le_bytes()]),
            // Outside i64 the minimal two's complement form is longer than 8 bytes (the
            // lengths are hashed, so the two forms never meet).
            None => self.digest(1, &[&v.to_signed_bytes_le()]),
        }
    }

    /// A key too deep or too large to hash within the budget is a finding: CPython hashes every
    /// element of a tuple key (tuple hashes are not cached), so a doubling bomb as a key never
    /// finishes loading there.
    fn key_of_bounded(&mut self, id: Id, budget: &mut usize, depth: usize) -> R<Key> {
        if *budget == 0 || depth > 200 {
            return Err(Fail::Unknown(Unmodelled::Budget(
                "dict key or set item too large to hash",
            )));
        }
        *budget -= 1;
        if let Some(k) = self.key_cache.get(&id) {
            return Ok(k.clone());
        }
        let node = self.heap.get(id);
        Ok(match node {
            Node::None => Key::None,
            Node::Bool(b) => self.digest(1, &[&i64::from(*b).to_le_bytes()]),
            Node::Int(v) | Node::Long(v) => self.int_digest(v),
            Node::Float(f) => {
                if f.is_finite() && f.fract() == 0.0 {
                    // An integral float is the key of the int of the same value (1.0 == 1,
                    // 1e300 == int(1e300)): the exact integer, at any magnitude.
                    if f.abs() < 9.0e18 {
                        self.digest(1, &[&(*f as i64).to_le_bytes()])
                    } else {
                        match num_traits::FromPrimitive::from_f64(*f) {
                            Some(b) => self.int_digest(&b),
                            None => self.digest(2, &[&f.to_bits().to_le_bytes()]),
                        }
                    }
                } else if f.is_nan() {
                    Key::Identity(id)
                } else {
                    self.digest(2, &[&f.to_bits().to_le_bytes()])
                }
            }
            Node::Text(t) => self.digest(3, &[t]),
            Node::Bytes(b) => {
                // py2: an ASCII str equals the same unicode.
                let tag = if self.py2() && b.is_ascii() { 3 } else { 4 };
                self.digest(tag, &[b])
            }
            Node::Tuple(items) | Node::FrozenSet(items) => {
                let frozen = matches!(node, Node::FrozenSet(_));
                let items = items.clone();
                let mut ks = Vec::with_capacity(items.len());
                for i in items {
                    let k = self.key_of_bounded(i, budget, depth + 1)?;
                    ks.push(match k {
                        Key::None => [0u8; 17],
                        Key::Digest(t, a, b) => {
                            let mut x = [0u8; 17];
                            x[0] = t;
                            x[1..9].copy_from_slice(&a.to_le_bytes());
                            x[9..].copy_from_slice(&b.to_le_bytes());
                            x
                        }
                        Key::Identity(i) => {
                            let mut x = [0xffu8; 17];
                            x[1..9].copy_from_slice(&(i as u64).to_le_bytes());
                            x
                        }
                    });
                }
                if frozen {
                    ks.sort_unstable();
                }
                let tag = if frozen { 6 } else { 5 };
                let mut h = self.hash_keys.hasher();
                h.write_u8(tag);
                h.write(ks.as_flattened());
                h.finish(tag)
            }
            Node::List(_)
            | Node::Dict(_)
            | Node::Set(_)
            | Node::ByteArray(_)
            | Node::OrderedDict(_)
            | Node::DefaultDict { .. }
            | Node::Deque { .. } => {
                let t = self.type_name(id);
                return Err(Fail::Py(PyError::new(
                    "TypeError",
                    format!("unhashable type: '{t}'"),
                )));
            }
            Node::Decimal(s) => self.digest(7, &[s.as_bytes()]),
            _ => Key::Identity(id),
        })
    }

    fn index_of(&mut self, container: Id) -> R<&mut Map<Key, usize>> {
        if !self.index.contains_key(&container) {
            let keys: Vec<Id> = match self.heap.get(container) {
                Node::Dict(kv) | Node::OrderedDict(kv) | Node::Instance { dict: kv, .. } => {
                    kv.iter().map(|&(k, _)| k).collect()
                }
                Node::DefaultDict { items, .. } => items.iter().map(|&(k, _)| k).collect(),
                Node::Set(v) | Node::FrozenSet(v) => v.clone(),
                _ => Vec::new(),
            };
            let mut map = fasthash::map();
            map.reserve(keys.len());
            for (i, k) in keys.into_iter().enumerate() {
                map.insert(self.key_of(k)?, i);
            }
            self.index.insert(container, map);
        }
        Ok(self.index.get_mut(&container).expect("inserted above"))
    }

    /// `key_of` for an insertion: 3.14+ dicts and sets name the role of the unhashable object in
    /// the TypeError (`cannot use 'list' as a dict key (unhashable type: 'list')`); an
    /// OrderedDict hashes the key itself first (the plain message).
    fn key_for(&mut self, container: Id, k: Id) -> R<Key> {
        match self.key_of(k) {
            Err(Fail::Py(e)) if e.ty == "TypeError" && self.facts.unhashable_names_role => {
                let role = match self.heap.get(container) {
                    Node::Dict(_) | Node::Instance { .. } | Node::DefaultDict { .. } => {
                        "a dict key"
                    }
                    Node::Set(_) | Node::FrozenSet(_) => "a set element",
                    _ => return Err(Fail::Py(e)),
                };
                let t = self.type_name(k);
                Err(Fail::Py(PyError::new(
                    "TypeError",
                    format!("cannot use '{t}' as {role} ({})", e.msg),
                )))
            }
            r => r,
        }
    }

    fn dict_set(&mut self, d: Id, k: Id, v: Id) -> R<()> {
        use std::collections::hash_map::Entry;
        let key = self.key_for(d, k)?;
        self.index_of(d)?;
        let (Some(index), items) = (
            self.index.get_mut(&d),
            match self.heap.get_mut(d) {
                Node::Dict(kv) | Node::OrderedDict(kv) | Node::Instance { dict: kv, .. } => kv,
                Node::DefaultDict { items, .. } => items,
                _ => return Ok(()),
            },
        ) else {
            return Ok(());
        };
        match index.entry(key) {
            Entry::Occupied(e) => items[*e.get()].1 = v,
            Entry::Vacant(e) => {
                items.push((k, v));
                e.insert(items.len() - 1);
            }
        }
        Ok(())
    }

    /// Room for `n` more items in a dict about to take them (SETITEMS, DICT): saves the
    /// regrowth of its items and of its key index. Changes nothing else.
    fn reserve_items(&mut self, d: Id, n: usize) {
        let items = match self.heap.get_mut(d) {
            Node::Dict(kv) | Node::OrderedDict(kv) => kv,
            Node::DefaultDict { items, .. } => items,
            _ => return,
        };
        items.reserve(n);
        let empty = items.is_empty();
        match self.index.get_mut(&d) {
            Some(index) => index.reserve(n),
            // The index an empty dict would build (no keys to hash), with room.
            None if empty => {
                let mut index = fasthash::map();
                index.reserve(n);
                self.index.insert(d, index);
            }
            None => {}
        }
    }

    fn set_add(&mut self, s: Id, item: Id) -> R<()> {
        let key = self.key_for(s, item)?;
        if self.index_of(s)?.contains_key(&key) {
            return Ok(());
        }
        let n = match self.heap.get_mut(s) {
            Node::Set(v) | Node::FrozenSet(v) => {
                v.push(item);
                v.len() - 1
            }
            _ => return Ok(()),
        };
        self.index_of(s)?.insert(key, n);
        Ok(())
    }

    fn setitem(&mut self, d: Id, k: Id, v: Id) -> R<()> {
        match self.heap.get(d) {
            Node::Dict(_) | Node::OrderedDict(_) | Node::DefaultDict { .. } => {
                self.dict_set(d, k, v)
            }
            Node::Opaque { .. } => {
                self.drop_reduce(d);
                Ok(())
            }
            Node::Instance { class, .. } if class.known == Known::AppClass => {
                // Pickle writes items only for dict subclasses: the class is not plain.
                self.not_plain(d);
                Ok(())
            }
            _ => {
                let t = self.type_name(d);
                Err(Fail::Py(PyError::new(
                    "TypeError",
                    format!("'{t}' object does not support item assignment"),
                )))
            }
        }
    }

    fn extend(&mut self, target: Id, items: Vec<Id>) -> R<()> {
        match self.heap.get_mut(target) {
            Node::List(v) => v.extend(items),
            Node::Deque { items: v, maxlen } => {
                v.extend(items);
                if let Some(m) = maxlen {
                    let m = (*m).max(0) as usize;
                    if v.len() > m {
                        v.drain(..v.len() - m);
                    }
                }
            }
            Node::Opaque { .. } => self.drop_reduce(target),
            Node::Instance { class, .. } if class.known == Known::AppClass => {
                // Pickle writes items only for list subclasses: the class is not plain.
                self.not_plain(target);
            }
            _ => {
                let t = self.type_name(target);
                return Err(Fail::Py(PyError::new(
                    "AttributeError",
                    format!("'{t}' object has no attribute 'append'"),
                )));
            }
        }
        Ok(())
    }

    /// An application instance the stream shows not to be plain (items of a list or dict
    /// subclass, a state only its own `__setstate__` takes, slots, `__new__` arguments): it loads
    /// (the class is assumed importable), but its value is not modelled.
    fn not_plain(&mut self, id: Id) {
        self.not_plain_with_state(id, None);
    }

    /// `not_plain` for an instance whose BUILD state the models cannot apply: it was made by
    /// `cls.__new__(cls)` and handed that state.
    fn not_plain_with_state(&mut self, id: Id, state: Option<Id>) {
        if let (Node::Instance { class, dict }, Some(st)) = (self.heap.get(id).clone(), state)
            && dict.is_empty()
            && let Ok(func) = self.new_node(Node::Global(class.clone()), code::BUILD)
            && let Ok(args) = self.new_node(Node::Tuple(Vec::new()), code::BUILD)
        {
            *self.heap.get_mut(id) = Node::Opaque {
                class,
                reduce: Some(Reduce {
                    func,
                    args,
                    newobj: true,
                    state: Some(st),
                }),
            };
            self.index.remove(&id);
            self.key_cache.remove(&id);
            return;
        }
        if let Node::Instance { class, .. } = self.heap.get(id) {
            let class = class.clone();
            *self.heap.get_mut(id) = Node::Opaque {
                class,
                reduce: None,
            };
            self.index.remove(&id);
            self.key_cache.remove(&id);
        }
    }

    /// Items were added to an opaque object (a list, dict or set subclass): what built it no
    /// longer says what it holds.
    fn drop_reduce(&mut self, id: Id) {
        if let Node::Opaque { reduce, .. } = self.heap.get_mut(id) {
            *reduce = None;
        }
    }

    /// The Python type name of a node in this runtime (for error messages).
    fn type_name(&self, id: Id) -> String {
        type_name(self.heap.get(id), self.py2())
    }

    // ----- objects ------------------------------------------------------------------------

    fn tuple_items(&self, args: Id) -> R<Vec<Id>> {
        match self.heap.get(args) {
            Node::Tuple(items) => Ok(items.clone()),
            _ => Err(Fail::Py(PyError::new(
                "TypeError",
                "argument list must be a tuple",
            ))),
        }
    }

    fn opaque(&mut self, g: Global) -> R<Id> {
        self.new_node(
            Node::Opaque {
                class: g,
                reduce: None,
            },
            code::REDUCE,
        )
    }

    fn call(&mut self, f: Id, args: Id) -> R<Id> {
        if let Node::Opaque { class, .. } = self.heap.get(f) {
            // The result of a call the models do not follow (e.g. `getattr(ZoneInfo,
            // '_unpickle')`): assumed callable, its result not modelled either.
            let class = class.clone();
            self.tuple_items(args)?;
            return self.opaque(class);
        }
        let Node::Global(g) = self.heap.get(f) else {
            if !matches!(self.heap.get(args), Node::Tuple(_)) {
                return Err(Fail::Py(PyError::new(
                    "TypeError",
                    "argument list must be a tuple",
                )));
            }
            let t = self.type_name(f);
            return Err(Fail::Py(PyError::new(
                "TypeError",
                format!("'{t}' object is not callable"),
            )));
        };
        let g = g.clone();
        let a = self.tuple_items(args)?;
        let before = self.heap.len();
        let res = self.call_known(g.clone(), a)?;
        self.record_reduce(res, before, &g, f, args, false);
        Ok(res)
    }

    /// A call the models could not evaluate made a fresh opaque object of this class: keep
    /// what built it.
    fn record_reduce(
        &mut self,
        res: Id,
        before: usize,
        g: &Global,
        func: Id,
        args: Id,
        newobj: bool,
    ) {
        if res >= before
            && let Node::Opaque { class, reduce } = self.heap.get_mut(res)
            && reduce.is_none()
            && class.module == g.module
            && class.name == g.name
        {
            *reduce = Some(Reduce {
                func,
                args,
                newobj,
                state: None,
            });
        }
    }

    fn call_known(&mut self, g: Global, a: Vec<Id>) -> R<Id> {
        let r = code::REDUCE;
        match g.known {
            Known::Set | Known::FrozenSet => {
                let node = if g.known == Known::Set {
                    Node::Set(Vec::new())
                } else {
                    Node::FrozenSet(Vec::new())
                };
                let s = self.new_node(node, r)?;
                if let Some(&src) = a.first() {
                    for it in self.iter_items(src)? {
                        self.set_add(s, it)?;
                    }
                }
                Ok(s)
            }
            Known::Bytes if a.is_empty() => self.new_node(Node::Bytes(Vec::new()), r),
            Known::ByteArray => {
                let bytes = match a.as_slice() {
                    [] => Vec::new(),
                    [x] => match self.heap.get(*x) {
                        Node::Bytes(b) | Node::ByteArray(b) => b.clone(),
                        _ => return self.opaque(g),
                    },
                    [t, e] => match (self.heap.get(*t).clone(), self.heap.get(*e).clone()) {
                        (Node::Text(t), Node::Text(e)) => self.encode(&t, &e)?,
                        (Node::Text(t), Node::Bytes(e)) if self.py2() => self.encode(&t, &e)?,
                        (Node::Bytes(b), Node::Bytes(_)) if self.py2() => b,
                        (_, Node::Bytes(_)) => {
                            return Err(Fail::Py(PyError::new(
                                "TypeError",
                                self.bytearray_encoding_type_error(),
                            )));
                        }
                        _ => return self.opaque(g),
                    },
                    _ => return self.opaque(g),
                };
                self.new_node(Node::ByteArray(bytes), r)
            }
            Known::CodecsEncode => match a.as_slice() {
                [t, e] => match (self.heap.get(*t), self.heap.get(*e)) {
                    (Node::Text(t), Node::Text(e)) => {
                        let b = self.encode(t, e)?;
                        self.new_node(Node::Bytes(b), r)
                    }
                    (Node::Bytes(t), Node::Text(e)) if self.py2() => {
                        // py2: encoding a str first decodes it as ASCII.
                        match codec::decode_ascii(t, Handler::Strict) {
                            Ok(text) => {
                                let b = self.encode(&text, e)?;
                                self.new_node(Node::Bytes(b), r)
                            }
                            Err(Failure::Decode(d)) => {
                                Err(Fail::Py(PyError::new("UnicodeDecodeError", d.message())))
                            }
                            Err(_) => self.opaque(g),
                        }
                    }
                    _ => self.opaque(g),
                },
                _ => self.opaque(g),
            },
            Known::Complex => {
                let mut parts = [0.0f64; 2];
                for (i, &x) in a.iter().take(2).enumerate() {
                    parts[i] = match self.heap.get(x) {
                        Node::Float(f) => *f,
                        Node::Int(v) | Node::Long(v) => v.to_f64().unwrap_or(f64::INFINITY),
                        Node::Bool(b) => *b as u8 as f64,
                        _ => return self.opaque(g),
                    };
                }
                self.new_node(Node::Complex(parts[0], parts[1]), r)
            }
            Known::Range => {
                let mut v = Vec::new();
                for &x in &a {
                    match self.heap.get(x) {
                        Node::Int(i) | Node::Long(i) => v.push(i.clone()),
                        _ => return self.opaque(g),
                    }
                }
                let (start, stop, step) = match v.len() {
                    1 => (BigInt::zero(), v[0].clone(), BigInt::from(1)),
                    2 => (v[0].clone(), v[1].clone(), BigInt::from(1)),
                    3 => (v[0].clone(), v[1].clone(), v[2].clone()),
                    _ => return self.opaque(g),
                };
                if step.is_zero() {
                    return self.opaque(g);
                }
                self.new_node(Node::Range([start, stop, step]), r)
            }
            Known::Reconstructor => {
                // copyreg._reconstructor(cls, base, state)
                let [cls, base, _state] = a.as_slice() else {
                    return self.opaque(g);
                };
                let (Node::Global(c), Node::Global(b)) =
                    (self.heap.get(*cls).clone(), self.heap.get(*base).clone())
                else {
                    return self.opaque(g);
                };
                if b.known == Known::Object {
                    if c.known == Known::ClassicClass {
                        return Err(Fail::Py(PyError::new(
                            "TypeError",
                            "object.__new__(X): X is not a type object (classobj)",
                        )));
                    }
                    self.new_instance(c)
                } else {
                    self.opaque(c)
                }
            }
            Known::NewObj => {
                // copyreg.__newobj__(cls, *args)
                let Some((&cls, rest)) = a.split_first() else {
                    return self.opaque(g);
                };
                let t = self.new_node(Node::Tuple(rest.to_vec()), r)?;
                self.newobj(cls, t, None)
            }
            Known::Datetime | Known::Date | Known::Time => self.datetime_call(g, a),
            Known::Timedelta => {
                let mut v = [0i64; 3];
                for (i, &x) in a.iter().take(3).enumerate() {
                    match self.heap.get(x) {
                        Node::Int(n) | Node::Long(n) => v[i] = n.to_i64().unwrap_or(i64::MAX),
                        _ => return self.opaque(g),
                    }
                }
                match normalize_timedelta(v) {
                    Some(t) => self.new_node(Node::Timedelta(t), r),
                    None => self.opaque(g),
                }
            }
            Known::Timezone => match a.as_slice() {
                [off] if matches!(self.heap.get(*off), Node::Timedelta(_)) => {
                    // `timezone(timedelta(0))` is the one `timezone.utc` object.
                    let zero = matches!(self.heap.get(*off), Node::Timedelta(t) if *t == [0, 0, 0]);
                    if zero && let Some(u) = self.utc {
                        return Ok(u);
                    }
                    let tz = self.new_node(
                        Node::Timezone {
                            offset: *off,
                            name: None,
                        },
                        r,
                    )?;
                    if zero {
                        self.utc = Some(tz);
                    }
                    Ok(tz)
                }
                [off, name]
                    if matches!(self.heap.get(*off), Node::Timedelta(_))
                        && matches!(self.heap.get(*name), Node::Text(_)) =>
                {
                    self.new_node(
                        Node::Timezone {
                            offset: *off,
                            name: Some(*name),
                        },
                        r,
                    )
                }
                _ => self.opaque(g),
            },
            Known::Decimal => match a.as_slice() {
                [] => self.new_node(Node::Decimal("0".into()), r),
                [x] => match self.heap.get(*x).clone() {
                    Node::Text(t) => match decimal_str(&String::from_utf8_lossy(&t)) {
                        Some(s) => self.new_node(Node::Decimal(s), r),
                        None => self.opaque(g),
                    },
                    Node::Bytes(b) if self.py2() => match decimal_str(&String::from_utf8_lossy(&b))
                    {
                        Some(s) => self.new_node(Node::Decimal(s), r),
                        None => self.opaque(g),
                    },
                    Node::Bytes(_) => Err(Fail::Py(PyError::new(
                        "TypeError",
                        "conversion from bytes to Decimal is not supported",
                    ))),
                    Node::Int(v) | Node::Long(v) => self.new_node(Node::Decimal(v.to_string()), r),
                    _ => self.opaque(g),
                },
                _ => self.opaque(g),
            },
            Known::OrderedDict => {
                let d = self.new_node(Node::OrderedDict(Vec::new()), r)?;
                if let Some(&src) = a.first() {
                    for pair in self.iter_items(src)? {
                        let kv = self.iter_items(pair)?;
                        if kv.len() != 2 {
                            return self.opaque(g);
                        }
                        self.dict_set(d, kv[0], kv[1])?;
                    }
                }
                Ok(d)
            }
            Known::DefaultDict => {
                let factory = match a.first() {
                    Some(&f) => f,
                    None => self.new_node(Node::None, r)?,
                };
                self.new_node(
                    Node::DefaultDict {
                        factory,
                        items: Vec::new(),
                    },
                    r,
                )
            }
            Known::Deque => {
                let items = match a.first() {
                    Some(&src) => self.iter_items(src)?,
                    None => Vec::new(),
                };
                let maxlen = match a.get(1).map(|&m| self.heap.get(m)) {
                    None | Some(Node::None) => None,
                    Some(Node::Int(m)) => m.to_i64(),
                    _ => return self.opaque(g),
                };
                let dq = self.new_node(
                    Node::Deque {
                        items: Vec::new(),
                        maxlen,
                    },
                    r,
                )?;
                self.extend(dq, items)?;
                Ok(dq)
            }
            Known::Exception => self.exception(g, a, true),
            Known::Array => self.array_call(g, a),
            Known::Fraction => match a.as_slice() {
                [x] if matches!(self.heap.get(*x), Node::Bytes(_)) && !self.py2() => {
                    Err(Fail::Py(PyError::new(
                        "TypeError",
                        if self.facts.fraction_error_names_ratio {
                            "argument should be a string or a Rational instance or have the as_integer_ratio() method"
                        } else {
                            "argument should be a string or a Rational instance"
                        },
                    )))
                }
                _ => self.opaque(g),
            },
            Known::Object if a.is_empty() => self.new_instance(g),
            Known::Getattr => {
                // getattr(zoneinfo.ZoneInfo, '_unpickle'): how ZoneInfo instances pickle.
                if let [cls, attr] = a.as_slice()
                    && let (Node::Global(c), Node::Text(t)) =
                        (self.heap.get(*cls), self.heap.get(*attr))
                    && c.module == "zoneinfo"
                    && c.name == "ZoneInfo"
                    && t == b"_unpickle"
                {
                    let m = Global {
                        module: "zoneinfo".into(),
                        name: "ZoneInfo._unpickle".into(),
                        known: Known::ZoneInfoUnpickle,
                    };
                    return self.new_node(Node::Global(m), r);
                }
                self.opaque(g)
            }
            Known::ZoneInfoUnpickle => match a.as_slice() {
                [k, f] if matches!(self.heap.get(*k), Node::Text(_)) => {
                    let from_cache = match self.heap.get(*f) {
                        Node::Int(v) => v.to_i64().unwrap_or(1),
                        Node::Bool(b) => *b as i64,
                        _ => return self.opaque(g),
                    };
                    // `ZoneInfo(key)` (from_cache) returns one object per key.
                    let key = match self.heap.get(*k) {
                        Node::Text(t) => [b"zoneinfo:".as_slice(), t].concat(),
                        _ => Vec::new(),
                    };
                    if from_cache != 0
                        && let Some(&z) = self.singletons.get(&key)
                    {
                        return Ok(z);
                    }
                    let z = self.new_node(
                        Node::ZoneInfo {
                            key: *k,
                            from_cache,
                        },
                        r,
                    )?;
                    if from_cache != 0 {
                        self.singletons.insert(key, z);
                    }
                    Ok(z)
                }
                _ => self.opaque(g),
            },
            Known::List if a.len() <= 1 => {
                let items = match a.first() {
                    Some(&s) => self.iter_items(s)?,
                    None => Vec::new(),
                };
                self.new_node(Node::List(items), r)
            }
            Known::Tuple if a.len() <= 1 => {
                let items = match a.first() {
                    Some(&s) => self.iter_items(s)?,
                    None => Vec::new(),
                };
                self.new_node(Node::Tuple(items), r)
            }
            _ => self.opaque(g),
        }
    }

    fn bytearray_encoding_type_error(&self) -> String {
        if self.facts.clinic_names_args {
            "bytearray() argument 'encoding' must be str, not bytes".into()
        } else {
            "bytearray() argument 2 must be str, not bytes".into()
        }
    }

    /// The items of a list/tuple/set/frozenset (what iterating it gives).
    fn iter_items(&self, id: Id) -> R<Vec<Id>> {
        match self.heap.get(id) {
            Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => Ok(v.clone()),
            Node::Deque { items, .. } => Ok(items.clone()),
            _ => Err(Fail::Unknown(Unmodelled::Feature(format!(
                "iterating a {}",
                self.type_name(id)
            )))),
        }
    }

    /// `text.encode(encoding)` for the latin-1 family (what `_codecs.encode` and `bytearray`
    /// receive from protocol 0-2 pickles of bytes).
    fn encode(&self, text: &[u8], encoding: &[u8]) -> R<Vec<u8>> {
        let enc = String::from_utf8_lossy(encoding);
        match codec::lookup(&enc) {
            Ok(Codec::Latin1) => {}
            Ok(Codec::Utf8) => {
                // Text without lone surrogates is its own UTF-8.
                if std::str::from_utf8(text).is_ok() {
                    return Ok(text.to_vec());
                }
                // Lone surrogates cannot be encoded strictly.
                let ok: String = codec::code_points(text)
                    .map(|c| char::from_u32(c).unwrap_or('\u{fffd}'))
                    .collect();
                return Ok(ok.into_bytes());
            }
            _ => {
                return Err(Fail::Unknown(Unmodelled::Feature(format!(
                    "encoding text with {enc:?}"
                ))));
            }
        }
        if text.is_ascii() {
            return Ok(text.to_vec());
        }
        // Code points below 256 are one byte or two (lead 0xc2/0xc3); anything else goes the
        // long way below, from the start, for its error.
        let mut out = Vec::with_capacity(text.len());
        let mut k = 0;
        while k < text.len() {
            match (text[k], text.get(k + 1)) {
                (b @ 0..0x80, _) => {
                    out.push(b);
                    k += 1;
                }
                (b @ (0xc2 | 0xc3), Some(&n)) => {
                    out.push(((b & 0x1f) << 6) | (n & 0x3f));
                    k += 2;
                }
                _ => break,
            }
        }
        if k == text.len() {
            return Ok(out);
        }
        out.clear();
        for (i, cp) in codec::code_points(text).enumerate() {
            if cp > 0xff {
                let ch = py_char_escape(cp, self.py2());
                let codec_name = "latin-1";
                return Err(Fail::Py(PyError::new(
                    "UnicodeEncodeError",
                    format!(
                        "'{codec_name}' codec can't encode character {ch} in position {i}: ordinal not in range(256)"
                    ),
                )));
            }
            out.push(cp as u8);
        }
        Ok(out)
    }

    fn new_instance(&mut self, g: Global) -> R<Id> {
        if matches!(
            g.known,
            Known::AppClass | Known::ClassicClass | Known::Object
        ) {
            self.new_node(
                Node::Instance {
                    class: g,
                    dict: Vec::new(),
                },
                code::REDUCE,
            )
        } else {
            self.opaque(g)
        }
    }

    /// INST / OBJ: `cls(*args)` (or `cls.__new__(cls)` for classic classes without init args).
    fn instantiate(&mut self, g: Global, args: Vec<Id>) -> R<Id> {
        match g.known {
            Known::AppClass | Known::ClassicClass if args.is_empty() => self.new_instance(g),
            Known::AppClass | Known::ClassicClass | Known::Other => self.opaque(g),
            _ => self.call_known(g, args),
        }
    }

    fn newobj(&mut self, cls: Id, args: Id, kwargs: Option<Id>) -> R<Id> {
        let class = match self.heap.get(cls) {
            Node::Global(g) if is_type(g) => Some(g.clone()),
            _ => None,
        };
        let detailed = kwargs.is_some() || self.facts.newobj_detailed_errors;
        if !self.py2() && !detailed {
            if class.is_none() {
                return Err(self.unpickling_error("NEWOBJ class argument isn't a type object"));
            }
            if !matches!(self.heap.get(args), Node::Tuple(_)) {
                return Err(self.unpickling_error("NEWOBJ expected an arg tuple."));
            }
        }
        let Some(g) = class else {
            let t = self.type_name(cls);
            let op = if kwargs.is_some() {
                "NEWOBJ_EX"
            } else {
                "NEWOBJ"
            };
            if self.py2() {
                return Err(self.unpickling_error("NEWOBJ class argument isn't a type object"));
            }
            return Err(
                self.unpickling_error(format!("{op} class argument must be a type, not {t}"))
            );
        };
        if !matches!(self.heap.get(args), Node::Tuple(_)) {
            let t = self.type_name(args);
            let op = if kwargs.is_some() {
                "NEWOBJ_EX"
            } else {
                "NEWOBJ"
            };
            if self.py2() {
                return Err(self.unpickling_error("NEWOBJ expected an arg tuple."));
            }
            return Err(
                self.unpickling_error(format!("{op} args argument must be a tuple, not {t}"))
            );
        }
        if let Some(kw) = kwargs
            && !matches!(self.heap.get(kw), Node::Dict(_))
        {
            let t = self.type_name(kw);
            return Err(
                self.unpickling_error(format!("NEWOBJ_EX kwargs argument must be a dict, not {t}"))
            );
        }
        if g.known == Known::ClassicClass {
            if self.rt.pure {
                // pickle.py load_newobj calls cls.__new__, which classic classes lack.
                return Err(Fail::Py(PyError::new(
                    "AttributeError",
                    format!("class {} has no attribute '__new__'", g.name),
                )));
            }
            return Err(self.unpickling_error("NEWOBJ class argument isn't a type object"));
        }
        let a = self.tuple_items(args)?;
        let r = code::NEWOBJ;
        match g.known {
            // `cls.__new__(cls, *args)` with arguments: the class has its own __new__ (a
            // namedtuple, a tuple/int/str subclass): loads, value not modelled.
            Known::AppClass if !a.is_empty() => self.opaque(g),
            Known::AppClass | Known::Object => self.new_instance(g),
            Known::Set => self.new_node(Node::Set(Vec::new()), r),
            Known::List => self.new_node(Node::List(Vec::new()), r),
            Known::Dict => self.new_node(Node::Dict(Vec::new()), r),
            Known::OrderedDict => self.new_node(Node::OrderedDict(Vec::new()), r),
            Known::Exception => self.exception(g, a, false),
            Known::Datetime
            | Known::Date
            | Known::Time
            | Known::Timedelta
            | Known::Decimal
            | Known::FrozenSet
            | Known::Complex
            | Known::Tuple
            | Known::Bytes => self.call_known(g, a),
            // `int.__new__(int)` and friends with no arguments: the zero value.
            Known::Int if a.is_empty() => self.new_node(Node::Int(BigInt::zero()), r),
            Known::Long if a.is_empty() => self.new_node(Node::Long(BigInt::zero()), r),
            Known::Float if a.is_empty() => self.new_node(Node::Float(0.0), r),
            Known::Str if a.is_empty() => self.new_node(Node::Text(Vec::new()), r),
            Known::Unicode if a.is_empty() => self.new_node(Node::Text(Vec::new()), r),
            _ => self.opaque(g),
        }
    }

    fn datetime_call(&mut self, g: Global, a: Vec<Id>) -> R<Id> {
        let r = code::REDUCE;
        let (size, what) = match g.known {
            Known::Datetime => (10, "datetime"),
            Known::Date => (4, "date"),
            _ => (6, "time"),
        };
        let Some(&first) = a.first() else {
            return self.opaque(g);
        };
        // _datetime.c takes the pickle path only when the state looks sane: a month in 1..12
        // (datetime, date), an hour below 24 (time; 3.6's check reads the third character, as the
        // 3.6 corpus and property tests show: time(0, 0, 24) with a str state fails there).
        let sane = |c: &[u32], text: bool| match g.known {
            Known::Time if text && self.rt.minor == 6 => c[2] < 24,
            Known::Time => (c[0] & 0x7f) < 24,
            _ => (1..=12).contains(&(c[2] & 0x7f)),
        };
        let state: Option<Vec<u8>> = match self.heap.get(first).clone() {
            Node::Bytes(b)
                if b.len() == size
                    && sane(&b.iter().map(|&x| x as u32).collect::<Vec<_>>(), false) =>
            {
                Some(b)
            }
            Node::Text(t) if codec::char_len(&t) == size => {
                // _datetime.c: a str state is encoded as latin1 (py2 pickles loaded with latin1).
                let cps: Vec<u32> = codec::code_points(&t).collect();
                if !sane(&cps, true) {
                    None
                } else if cps.iter().any(|&c| c > 0xff) {
                    return Err(Fail::Py(PyError::new(
                        "ValueError",
                        format!(
                            "Failed to encode latin1 string when unpickling a {what} object. pickle.load(data, encoding='latin1') is assumed."
                        ),
                    )));
                } else {
                    Some(cps.iter().map(|&c| c as u8).collect())
                }
            }
            _ => None,
        };
        let tz = match a.get(1) {
            None => None,
            Some(&t) => match self.heap.get(t) {
                Node::None => None,
                Node::Timezone { .. }
                | Node::ZoneInfo { .. }
                | Node::Opaque { .. }
                | Node::Instance { .. } => Some(t),
                _ => {
                    return Err(Fail::Py(PyError::new("TypeError", "bad tzinfo state arg")));
                }
            },
        };
        let Some(s) = state else {
            // Field arguments (datetime(y, m, d, ...)), as a datetime subclass would write them.
            if self.facts.date_args_counted_first
                && what != "time"
                && (1..3).contains(&a.len())
                && matches!(self.heap.get(a[0]), Node::Text(_) | Node::Bytes(_))
            {
                // 3.15: date/datetime count year, month and day before converting any.
                let (name, pos) = if a.len() == 1 {
                    ("month", 2)
                } else {
                    ("day", 3)
                };
                return Err(Fail::Py(PyError::new(
                    "TypeError",
                    format!("{what}() missing required argument '{name}' (pos {pos})"),
                )));
            }
            let mut f = Vec::new();
            for &x in &a {
                match self.heap.get(x) {
                    Node::Int(v) | Node::Long(v) => f.push(v.to_i64().unwrap_or(i64::MIN)),
                    n @ (Node::Text(_) | Node::Bytes(_)) => {
                        // A state that is not one: the arguments are parsed as integers.
                        let t = type_name(n, self.py2());
                        let msg = if self.facts.clinic_names_args {
                            format!("'{t}' object cannot be interpreted as an integer")
                        } else {
                            format!("an integer is required (got type {t})")
                        };
                        return Err(Fail::Py(PyError::new("TypeError", msg)));
                    }
                    _ => return self.opaque(g),
                }
            }
            return match (g.known, f.len()) {
                (Known::Date, 3) => self.new_node(Node::Date([f[0], f[1], f[2]]), r),
                (Known::Datetime, 3..=7) => {
                    f.resize(7, 0);
                    let mut fields = [0i64; 7];
                    fields.copy_from_slice(&f);
                    self.new_node(
                        Node::Datetime {
                            fields,
                            tz: None,
                            fold: 0,
                        },
                        r,
                    )
                }
                _ => self.opaque(g),
            };
        };
        let node = match g.known {
            Known::Datetime => {
                let fold = if self.py2() { 0 } else { (s[2] >> 7) & 1 };
                Node::Datetime {
                    fields: [
                        (s[0] as i64) << 8 | s[1] as i64,
                        (s[2] & 0x7f) as i64,
                        s[3] as i64,
                        s[4] as i64,
                        s[5] as i64,
                        s[6] as i64,
                        (s[7] as i64) << 16 | (s[8] as i64) << 8 | s[9] as i64,
                    ],
                    tz,
                    fold,
                }
            }
            Known::Date => Node::Date([(s[0] as i64) << 8 | s[1] as i64, s[2] as i64, s[3] as i64]),
            _ => {
                let fold = if self.py2() { 0 } else { (s[0] >> 7) & 1 };
                Node::Time {
                    fields: [
                        (s[0] & 0x7f) as i64,
                        s[1] as i64,
                        s[2] as i64,
                        (s[3] as i64) << 16 | (s[4] as i64) << 8 | s[5] as i64,
                    ],
                    tz,
                    fold,
                }
            }
        };
        self.new_node(node, r)
    }

    fn build(&mut self, inst: Id, state: Id) -> R<()> {
        match self.heap.get(inst).clone() {
            Node::Exception { .. } => return self.build_exception(inst, state),
            Node::Instance { class, .. }
                if class.module == "uuid" && class.name == "UUID" && self.facts_uuid_setstate() =>
            {
                return self.build_uuid(inst, state);
            }
            Node::Instance { class, .. } if class.known == Known::AppClass => {
                // The default state is a dict (or None); anything else (a slots tuple, a state
                // of the class's own __getstate__) is taken by code the models do not have.
                match self.heap.get(state) {
                    Node::Dict(_) | Node::None => {}
                    Node::Tuple(t) if t.len() == 2 => {
                        let (d, sl) = (t[0], t[1]);
                        let ok = |n: &Node| matches!(n, Node::Dict(_) | Node::None);
                        if ok(self.heap.get(d)) && ok(self.heap.get(sl)) {
                            // __slots__ (with or without a __dict__): loads as the default
                            // setstate would, value not modelled.
                            self.check_slot_state(sl)?;
                        }
                        self.not_plain_with_state(inst, Some(state));
                        return Ok(());
                    }
                    _ => {
                        self.not_plain_with_state(inst, Some(state));
                        return Ok(());
                    }
                }
            }
            _ => {}
        }
        let (dict_state, slot_state) = match self.heap.get(state) {
            Node::Tuple(t) if t.len() == 2 => (t[0], Some(t[1])),
            _ => (state, None),
        };
        match self.heap.get(inst).clone() {
            Node::Instance { .. } => {
                for part in [Some(dict_state), slot_state].into_iter().flatten() {
                    match self.heap.get(part).clone() {
                        Node::None => {}
                        Node::Dict(kv) => {
                            for (k, v) in kv {
                                if part == slot_state.unwrap_or(usize::MAX)
                                    && !matches!(self.heap.get(k), Node::Text(_))
                                    && !(self.py2() && matches!(self.heap.get(k), Node::Bytes(_)))
                                {
                                    let t = self.type_name(k);
                                    return Err(Fail::Py(PyError::new(
                                        "TypeError",
                                        format!("attribute name must be string, not '{t}'"),
                                    )));
                                }
                                self.dict_set(inst, k, v)?;
                            }
                        }
                        _ => {
                            let what = if Some(part) == slot_state {
                                "slot state is not a dictionary"
                            } else {
                                "state is not a dictionary"
                            };
                            return Err(self.unpickling_error(what));
                        }
                    }
                }
                Ok(())
            }
            Node::Opaque { .. } => {
                // Kept for the write-back: the first BUILD's state (a second one is rare and
                // not followed).
                if let Node::Opaque { reduce, class } = self.heap.get_mut(inst)
                    && let Some(r) = reduce
                {
                    if r.state.is_none() {
                        r.state = Some(state);
                    } else {
                        let class = class.clone();
                        *self.heap.get_mut(inst) = Node::Opaque {
                            class,
                            reduce: None,
                        };
                    }
                }
                Ok(())
            }
            _ => {
                // Built-in values without a __dict__: a None state is a no-op; any other state
                // looks up `__dict__` first (load_build), which fails.
                if matches!(self.heap.get(dict_state), Node::None) && slot_state.is_none() {
                    return Ok(());
                }
                let t = self.type_name(inst);
                Err(Fail::Py(PyError::new(
                    "AttributeError",
                    format!("'{t}' object has no attribute '__dict__'"),
                )))
            }
        }
    }
}

/// Linux errno values OSError(errno, ...) maps to its PEP 3151 subclasses (Objects/exceptions.c
/// `_PyExc_InitState`); the reader is assumed to run on Linux.
const ERRNO_SUBCLASSES: &[(i64, &str)] = &[
    (1, "PermissionError"),
    (2, "FileNotFoundError"),
    (3, "ProcessLookupError"),
    (4, "InterruptedError"),
    (10, "ChildProcessError"),
    (11, "BlockingIOError"),
    (13, "PermissionError"),
    (17, "FileExistsError"),
    (20, "NotADirectoryError"),
    (21, "IsADirectoryError"),
    (32, "BrokenPipeError"),
    (103, "ConnectionAbortedError"),
    (104, "ConnectionResetError"),
    (108, "BrokenPipeError"),
    (110, "TimeoutError"),
    (111, "ConnectionRefusedError"),
    (114, "BlockingIOError"),
    (115, "BlockingIOError"),
];

const OSERROR_FAMILY: &[&str] = &[
    "OSError",
    "IOError",
    "EnvironmentError",
    "PermissionError",
    "FileNotFoundError",
    "ProcessLookupError",
    "InterruptedError",
    "ChildProcessError",
    "BlockingIOError",
    "FileExistsError",
    "NotADirectoryError",
    "IsADirectoryError",
    "BrokenPipeError",
    "ConnectionError",
    "ConnectionAbortedError",
    "ConnectionResetError",
    "TimeoutError",
    "ConnectionRefusedError",
];

impl Vm<'_> {
    /// An exception instance: `cls(*args)` (REDUCE, `init`) or `cls.__new__(cls, *args)`
    /// (NEWOBJ). OSError's constructor picks the errno's subclass (3.x) and keeps only
    /// (errno, strerror) in `args` when a filename is given; the Unicode errors' __init__ checks
    /// its argument types.
    fn exception(&mut self, mut g: Global, mut a: Vec<Id>, init: bool) -> R<Id> {
        let r = code::REDUCE;
        let builtin_mod = matches!(g.module.as_str(), "builtins" | "exceptions" | "__builtin__");
        let max_args = if self.py2() { 3 } else { 5 };
        if builtin_mod
            && OSERROR_FAMILY.contains(&g.name.as_str())
            && (2..=max_args).contains(&a.len())
        {
            if a.len() >= 3 && !matches!(self.heap.get(a[2]), Node::None) {
                a.truncate(2);
            }
            if !self.py2() && g.name == "OSError" {
                let errno = match self.heap.get(a[0]) {
                    Node::Int(v) => v.to_i64(),
                    Node::Bool(b) => Some(*b as i64),
                    _ => None,
                };
                if let Some(&(_, sub)) =
                    errno.and_then(|e| ERRNO_SUBCLASSES.iter().find(|(n, _)| *n == e))
                {
                    g.name = sub.into();
                }
            }
        }
        if init && builtin_mod {
            self.unicode_error_args(&g, &a)?;
        }
        let args = self.new_node(Node::Tuple(a), r)?;
        self.new_node(
            Node::Exception {
                class: g,
                args,
                dict: Vec::new(),
            },
            r,
        )
    }

    /// `UnicodeDecodeError.__init__` and friends: PyArg_ParseTuple with "UOnnU"-like formats
    /// (3.x: str, bytes-like object; 2.7: py2 `str` for names, `unicode` for encoded text).
    fn unicode_error_args(&self, g: &Global, a: &[Id]) -> R<()> {
        // s: name (py3 str / py2 str), u: text, b: object to decode, n: index
        let fmt: &[u8] = match (g.name.as_str(), self.py2()) {
            ("UnicodeDecodeError", false) => b"ubnnu",
            ("UnicodeDecodeError", true) => b"bbnnb",
            ("UnicodeEncodeError", false) => b"uunnu",
            ("UnicodeEncodeError", true) => b"bunnb",
            ("UnicodeTranslateError", false) => b"unnu",
            ("UnicodeTranslateError", true) => b"unnb",
            _ => return Ok(()),
        };
        if a.len() != fmt.len() {
            return Err(Fail::Unknown(Unmodelled::Feature(format!(
                "{} with {} arguments",
                g.name,
                a.len()
            ))));
        }
        for (i, (&x, &f)) in a.iter().zip(fmt).enumerate() {
            let n = self.heap.get(x);
            let ok = match f {
                b'u' => matches!(n, Node::Text(_)),
                b'b' if self.py2() => matches!(n, Node::Bytes(_)),
                b'b' => matches!(n, Node::Bytes(_) | Node::ByteArray(_)),
                _ => matches!(n, Node::Int(_) | Node::Long(_) | Node::Bool(_)),
            };
            if ok {
                continue;
            }
            let t = self.type_name(x);
            let msg = match (f, self.py2()) {
                (b'u', false) => format!("argument {} must be str, not {t}", i + 1),
                (b'u', true) => format!("argument {} must be unicode, not {t}", i + 1),
                (b'b', true) => format!("argument {} must be str, not {t}", i + 1),
                (b'b', false) if matches!(n, Node::Text(_)) => {
                    format!("a bytes-like object is required, not '{t}'")
                }
                _ => {
                    return Err(Fail::Unknown(Unmodelled::Feature(format!(
                        "{} given a {t}",
                        g.name
                    ))));
                }
            };
            return Err(Fail::Py(PyError::new("TypeError", msg)));
        }
        Ok(())
    }

    /// `array.array(typecode[, initializer])` as protocols 0-2 write it: a typecode that is not
    /// a str (py2 `str` loaded as bytes) is a TypeError; the value is not modelled.
    fn array_call(&mut self, g: Global, a: Vec<Id>) -> R<Id> {
        if !self.py2()
            && let Some(&t) = a.first()
            && !matches!(self.heap.get(t), Node::Text(_))
        {
            let tn = self.type_name(t);
            return Err(Fail::Py(PyError::new(
                "TypeError",
                if self.facts.array_typecode_says_str {
                    format!("array() argument 1 must be str, not {tn}")
                } else {
                    format!("array() argument 1 must be a unicode character, not {tn}")
                },
            )));
        }
        self.opaque(g)
    }

    /// `uuid.SafeUUID(value)` (3.7+): one enum member per value, its __dict__ as Enum sets it.
    fn safe_uuid(&mut self, value: Option<i64>) -> R<Id> {
        let name: &[u8] = match value {
            Some(0) => b"safe",
            Some(-1) => b"unsafe",
            _ => b"unknown",
        };
        if let Some(&id) = self.singletons.get(&[b"SafeUUID.", name].concat()) {
            return Ok(id);
        }
        let class = Global {
            module: "uuid".into(),
            name: "SafeUUID".into(),
            known: Known::Other,
        };
        let r = code::BUILD;
        let objclass = self.new_node(Node::Global(class.clone()), r)?;
        let k1 = self.new_node(Node::Text(b"__objclass__".to_vec()), r)?;
        let k2 = self.new_node(Node::Text(b"_name_".to_vec()), r)?;
        let v2 = self.new_node(Node::Text(name.to_vec()), r)?;
        let k3 = self.new_node(Node::Text(b"_value_".to_vec()), r)?;
        let v3 = match value {
            Some(v) => self.new_node(Node::Int(BigInt::from(v)), r)?,
            None => self.new_node(Node::None, r)?,
        };
        let m = self.new_node(
            Node::Instance {
                class,
                dict: vec![(k1, objclass), (k2, v2), (k3, v3)],
            },
            r,
        )?;
        self.singletons.insert([b"SafeUUID.", name].concat(), m);
        Ok(m)
    }

    /// uuid.UUID has `__setstate__` from 3.7 on (it reads `state['int']`).
    fn facts_uuid_setstate(&self) -> bool {
        !self.py2() && self.rt.minor >= 7
    }

    /// The items of a slot state dict are set with setattr: names must be strings.
    fn check_slot_state(&self, sl: Id) -> R<()> {
        if let Node::Dict(kv) = self.heap.get(sl) {
            for &(k, _) in kv {
                let name = match self.heap.get(k) {
                    Node::Text(_) => true,
                    Node::Bytes(_) => self.py2(),
                    _ => false,
                };
                if !name {
                    let t = self.type_name(k);
                    return Err(Fail::Py(PyError::new(
                        "TypeError",
                        format!("attribute name must be string, not '{t}'"),
                    )));
                }
            }
        }
        Ok(())
    }

    /// `BaseException.__setstate__` (Objects/exceptions.c): None is a no-op, a dict is set
    /// attribute by attribute, anything else is a TypeError.
    fn build_exception(&mut self, inst: Id, state: Id) -> R<()> {
        match self.heap.get(state).clone() {
            Node::None => Ok(()),
            Node::Dict(kv) => {
                for &(k, v) in &kv {
                    match self.heap.get(k) {
                        Node::Text(t) if t == b"args" => {
                            // Setting `args` replaces what the rendering shows.
                            if let Node::Exception { class, .. } = self.heap.get(inst).clone() {
                                *self.heap.get_mut(inst) = Node::Opaque {
                                    class,
                                    reduce: None,
                                };
                            }
                        }
                        Node::Text(_) => {}
                        Node::Bytes(_) if self.py2() => {}
                        _ => {
                            let t = self.type_name(k);
                            return Err(Fail::Py(PyError::new(
                                "TypeError",
                                format!("attribute name must be string, not '{t}'"),
                            )));
                        }
                    }
                    // setattr: the attribute lands in the exception's __dict__ (py2 turns a
                    // unicode name into a str first).
                    let k = match self.heap.get(k).clone() {
                        Node::Text(t) if self.py2() => {
                            if !t.is_ascii() {
                                return Err(Fail::Unknown(Unmodelled::Feature(
                                    "a non-ASCII attribute name on py2".into(),
                                )));
                            }
                            self.new_node(Node::Bytes(t), code::BUILD)?
                        }
                        _ => k,
                    };
                    if let Node::Exception { dict, .. } = self.heap.get_mut(inst) {
                        match dict.iter().position(|&(dk, _)| dk == k) {
                            Some(i) => dict[i].1 = v,
                            None => dict.push((k, v)),
                        }
                    }
                }
                Ok(())
            }
            _ => Err(Fail::Py(PyError::new(
                "TypeError",
                "state is not a dictionary",
            ))),
        }
    }

    /// `uuid.UUID.__setstate__` (3.8+: `object.__setattr__(self, 'int', state['int'])`, the
    /// class has __slots__ and renders by repr; 3.7: `__dict__.update(state)`); `is_safe` from
    /// `state['is_safe']` when present (SafeUUID.unknown otherwise): 3.7 keeps that enum member
    /// in the `__dict__`, left unmodelled.
    fn build_uuid(&mut self, inst: Id, state: Id) -> R<()> {
        let Node::Dict(kv) = self.heap.get(state).clone() else {
            self.not_plain(inst);
            return Ok(());
        };
        let find = |name: &[u8]| {
            kv.iter()
                .find(|&&(k, _)| matches!(self.heap.get(k), Node::Text(t) if t == name))
                .copied()
        };
        if self.rt.minor == 7 {
            // 3.7: `self.__dict__.update(state)` (every key, whatever its type), then
            // `self.is_safe = SafeUUID(state['is_safe'])` if present, else SafeUUID.unknown: an
            // enum member in the __dict__.
            let value = match find(b"is_safe").map(|p| self.heap.get(p.1).clone()) {
                None | Some(Node::None) => None,
                Some(Node::Int(v)) if v.is_zero() || v == BigInt::from(-1) => v.to_i64(),
                Some(_) => {
                    self.not_plain(inst);
                    return Ok(());
                }
            };
            let member = self.safe_uuid(value)?;
            let mut dict: Vec<(Id, Id)> = kv
                .iter()
                .copied()
                .filter(|&(k, _)| !matches!(self.heap.get(k), Node::Text(t) if t == b"is_safe"))
                .collect();
            let key = self.new_node(Node::Text(b"is_safe".to_vec()), code::BUILD)?;
            dict.push((key, member));
            if let Node::Instance { dict: d, .. } = self.heap.get_mut(inst) {
                *d = dict;
            }
            self.index.remove(&inst);
            return Ok(());
        }
        let Some(int) = find(b"int") else {
            return Err(Fail::Py(PyError::new("KeyError", "'int'")));
        };
        let safe = find(b"is_safe");
        let int_ok =
            matches!(self.heap.get(int.1), Node::Int(v) if v.sign() != num_bigint::Sign::Minus);
        let safe_ok = match safe.map(|p| self.heap.get(p.1)) {
            None | Some(Node::None) => true,
            Some(Node::Int(v)) => v.is_zero() || *v == BigInt::from(-1),
            _ => false,
        };
        if !int_ok || !safe_ok {
            self.not_plain(inst);
            return Ok(());
        }
        let mut dict = vec![int];
        if let Some(p) = safe
            && !matches!(self.heap.get(p.1), Node::None)
        {
            dict.push(p);
        }
        if let Node::Instance { dict: d, .. } = self.heap.get_mut(inst) {
            *d = dict;
        }
        self.index.remove(&inst);
        Ok(())
    }
}

/// The module of a class defined in the main script (`python app.py`): pickled as
/// `c__main__\nC\n`. See [`Global::in_main_script`].
pub const MAIN_MODULE: &str = "__main__";

/// Resolve `module.name` in a runtime (after any `fix_imports` mapping): a missing module or
/// attribute raises as that runtime's `find_class` would.
pub fn resolve_global(
    rt: Runtime,
    apps: &AppClasses,
    module: &str,
    name: &str,
    dotted: bool,
) -> Result<Global, PyError> {
    let tables = rt.tables_or_nearest();
    let facts = rt.facts();
    if module == MAIN_MODULE {
        // `__main__` always exists (the reading process's main script, or the interpreter's own
        // module when there is none): never `No module named '__main__'`. Whether it holds
        // `name` depends on that process, like an application class: assumed present unless the
        // configured application classes leave it out (`--app-class __main__[.Name]`).
        // `Global::in_main_script` tells the report that the class lives in the writer's main
        // script, which a different program (a worker, a shell) reading the cache lacks.
        if !apps.name_exists(module, name) {
            return Err(missing_attribute(rt, module, name, None));
        }
        return Ok(Global {
            module: module.into(),
            name: name.into(),
            known: Known::AppClass,
        });
    }
    // `os.path` is an alias of posixpath (ntpath on Windows) that `import os.path` finds.
    let stdlib = module == "os.path"
        || tables.has_module(module)
        || module.split('.').next().is_some_and(|top| {
            tables.has_module(top)
                && module.contains('.')
                && tables.module_attr(module, name).is_some()
        });
    let missing_module = || {
        // The import walks the dotted name from the left; the first prefix that is missing
        // is what the message names (py2: the rest of the name after the last one found;
        // 3.x: that prefix, or why a present parent could not hold it).
        let parts: Vec<&str> = module.split('.').collect();
        let mut found = 0;
        let exists = |p: &str| {
            tables.has_module(p)
                || (!tables.has_module(parts[0]) && p != module && apps.module_exists(p))
        };
        while found < parts.len() && exists(&parts[..=found].join(".")) {
            found += 1;
        }
        let msg = if rt.is_py2() {
            format!(
                "No module named {}",
                parts[found.min(parts.len() - 1)..].join(".")
            )
        } else {
            let upto = found.min(parts.len() - 1);
            let missing = parts[..=upto].join(".");
            if upto > 0 {
                let parent = parts[..upto].join(".");
                let prefix = format!("{parent}.");
                // `os` is a module (os.path is set by hand in sys.modules).
                let is_package = parent != "os"
                    && (tables.modules.iter().any(|m| m.starts_with(&prefix))
                        || !tables.has_module(parts[0]));
                if is_package {
                    format!("No module named '{missing}'")
                } else {
                    format!("No module named '{missing}'; '{parent}' is not a package")
                }
            } else {
                format!("No module named '{missing}'")
            }
        };
        PyError::new(facts.module_not_found, msg)
    };
    if !stdlib {
        // Not in the stdlib: an application module (an assumption), unless the top-level name is
        // a stdlib package that lacks this submodule.
        let top = module.split('.').next().unwrap_or(module);
        if module.contains('.') && tables.has_module(top) {
            return Err(missing_module());
        }
        // A standard-library module of another runtime (zoneinfo before 3.9, distutils after
        // 3.11) is missing here, not an application module.
        if generated::RUNTIMES
            .iter()
            .any(|t| t.has_module(module) || t.has_module(top))
        {
            return Err(missing_module());
        }
        if module.is_empty() || !apps.module_exists(module) {
            return Err(missing_module());
        }
        if !apps.name_exists(module, name) {
            return Err(missing_attribute(rt, module, name, None));
        }
        return Ok(Global {
            module: module.into(),
            name: name.into(),
            known: Known::AppClass,
        });
    }
    let lookup_name = name;
    // An empty name never exists; nor, on py2, a non-ASCII one (not an identifier there).
    let exists = if name.is_empty()
        || (rt.is_py2() && !name.is_ascii())
        || (name.contains('.') && !dotted)
    {
        Some(false)
    } else if name.contains('.') {
        // Dotted names (protocol 4+): check the first part only.
        tables.module_attr(module, name.split('.').next().unwrap_or(name))
    } else {
        tables.module_attr(module, lookup_name)
    };
    if exists == Some(false) {
        if dotted && name.contains('.') && facts.find_class_plain_getattr {
            return Err(PyError::new(
                "AttributeError",
                format!("Can't resolve path '{name}' on module '{module}'"),
            ));
        }
        return Err(missing_attribute(
            rt,
            module,
            name,
            tables.module_repr(module),
        ));
    }
    // 3.3+: IOError and EnvironmentError are other names of OSError (its __name__).
    let name =
        if !rt.is_py2() && module == "builtins" && matches!(name, "IOError" | "EnvironmentError") {
            "OSError"
        } else {
            name
        };
    Ok(Global {
        module: module.into(),
        name: name.into(),
        known: known_global(rt, module, name),
    })
}

/// The standard library directory of a runtime, as `repr(module)` prints it: CPython prints the
/// file the module was imported from, under the reader's installation (`sys.prefix`, e.g.
/// `/usr` or `~/.pyenv/versions/3.8.18`), which no pickle carries. The models print the POSIX
/// layout with `<prefix>` standing for it, as the corpus oracle scrubs the real paths.
pub fn stdlib_dir(rt: Runtime) -> String {
    format!("<prefix>/lib/python{}.{}", rt.major, rt.minor)
}

fn missing_attribute(rt: Runtime, module: &str, name: &str, repr: Option<&str>) -> PyError {
    if rt.facts().find_class_plain_getattr {
        // 3.14: find_class lets getattr's error through; a dotted name (protocol 4+) that does
        // not resolve is `Can't resolve path`.
        return PyError::new(
            "AttributeError",
            format!("module '{module}' has no attribute '{name}'"),
        );
    }
    if rt.is_py2() {
        // cPickle and pickle.py both let getattr's error through.
        return PyError::new(
            "AttributeError",
            format!("'module' object has no attribute '{name}'"),
        );
    }
    // A curated stdlib module: its real file under the stdlib directory. Any other module (an
    // application module): where it is installed is the application's, so the path names it.
    let repr = repr
        .map(|r| r.replace("{path}", &stdlib_dir(rt)))
        .unwrap_or_else(|| format!("<module '{module}' from '<path of {module}>'>"));
    PyError::new(
        "AttributeError",
        format!("Can't get attribute '{name}' on {repr}"),
    )
}

/// What the models know a resolved global to be.
fn known_global(rt: Runtime, module: &str, name: &str) -> Known {
    let builtins = if rt.is_py2() {
        "__builtin__"
    } else {
        "builtins"
    };
    if module == builtins {
        return match name {
            "set" => Known::Set,
            "frozenset" => Known::FrozenSet,
            "bytearray" => Known::ByteArray,
            "bytes" if !rt.is_py2() => Known::Bytes,
            "bytes" | "str" if rt.is_py2() => Known::Bytes,
            "str" => Known::Str,
            "unicode" => Known::Unicode,
            "int" => Known::Int,
            "long" => Known::Long,
            "float" => Known::Float,
            "complex" => Known::Complex,
            "list" => Known::List,
            "tuple" => Known::Tuple,
            "dict" => Known::Dict,
            "object" => Known::Object,
            "getattr" => Known::Getattr,
            "range" if !rt.is_py2() => Known::Range,
            "xrange" if rt.is_py2() => Known::Range,
            n if is_exception_name(n) => Known::Exception,
            _ => Known::Other,
        };
    }
    if rt.is_py2() && module == "exceptions" && is_exception_name(name) {
        return Known::Exception;
    }
    match (module, name) {
        ("_codecs", "encode") => Known::CodecsEncode,
        ("copy_reg", "_reconstructor") if rt.is_py2() => Known::Reconstructor,
        ("copyreg", "_reconstructor") if !rt.is_py2() => Known::Reconstructor,
        ("copy_reg", "__newobj__") if rt.is_py2() => Known::NewObj,
        ("copyreg", "__newobj__") if !rt.is_py2() => Known::NewObj,
        ("datetime", "datetime") => Known::Datetime,
        ("datetime", "date") => Known::Date,
        ("datetime", "time") => Known::Time,
        ("datetime", "timedelta") => Known::Timedelta,
        ("datetime", "timezone") => Known::Timezone,
        // Rebuilt from a state dict like a plain class (NEWOBJ + BUILD {'int': N}).
        ("uuid", "UUID") => Known::AppClass,
        ("decimal", "Decimal") | ("_decimal", "Decimal") | ("_pydecimal", "Decimal") => {
            Known::Decimal
        }
        ("collections", "OrderedDict") => Known::OrderedDict,
        ("array", "array") => Known::Array,
        ("fractions", "Fraction") => Known::Fraction,
        ("collections", "defaultdict") | ("_collections", "defaultdict") => Known::DefaultDict,
        ("collections", "deque") | ("_collections", "deque") => Known::Deque,
        _ => Known::Other,
    }
}

/// Whether a resolved global is a class (NEWOBJ accepts only types). For names the models do not
/// know, builtins' lowercase names are functions and other names starting with a capital letter
/// are classes (the PEP 8 convention; application classes are assumed to be classes).
pub fn is_type(g: &Global) -> bool {
    match g.known {
        Known::CodecsEncode | Known::Reconstructor | Known::NewObj => false,
        Known::Other => {
            if g.module == "builtins" || g.module == "__builtin__" {
                BUILTIN_TYPES.contains(&g.name.as_str())
            } else {
                g.name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_uppercase())
            }
        }
        _ => true,
    }
}

const BUILTIN_TYPES: &[&str] = &[
    "bool",
    "bytearray",
    "bytes",
    "classmethod",
    "complex",
    "dict",
    "enumerate",
    "filter",
    "float",
    "frozenset",
    "int",
    "list",
    "map",
    "memoryview",
    "object",
    "property",
    "range",
    "reversed",
    "set",
    "slice",
    "staticmethod",
    "str",
    "super",
    "tuple",
    "type",
    "zip",
    "basestring",
    "buffer",
    "file",
    "long",
    "unicode",
    "xrange",
];

fn is_exception_name(n: &str) -> bool {
    n.ends_with("Error")
        || n.ends_with("Exception")
        || n.ends_with("Warning")
        || matches!(
            n,
            "KeyboardInterrupt"
                | "SystemExit"
                | "GeneratorExit"
                | "StopIteration"
                | "StopAsyncIteration"
        )
}

/// The Python type name of a value, as error messages print it.
pub fn type_name(n: &Node, py2: bool) -> String {
    match n {
        Node::None => "NoneType".into(),
        Node::Bool(_) => "bool".into(),
        Node::Int(_) => "int".into(),
        Node::Long(_) => "long".into(),
        Node::Float(_) => "float".into(),
        Node::Complex(..) => "complex".into(),
        Node::Bytes(_) => if py2 { "str" } else { "bytes" }.into(),
        Node::Text(_) => if py2 { "unicode" } else { "str" }.into(),
        Node::ByteArray(_) => "bytearray".into(),
        Node::List(_) => "list".into(),
        Node::Tuple(_) => "tuple".into(),
        Node::Dict(_) => "dict".into(),
        Node::Set(_) => "set".into(),
        Node::FrozenSet(_) => "frozenset".into(),
        Node::OrderedDict(_) => "collections.OrderedDict".into(),
        Node::DefaultDict { .. } => "collections.defaultdict".into(),
        Node::Deque { .. } => "collections.deque".into(),
        Node::Datetime { .. } => "datetime.datetime".into(),
        Node::Date(_) => "datetime.date".into(),
        Node::Time { .. } => "datetime.time".into(),
        Node::Timedelta(_) => "datetime.timedelta".into(),
        Node::Timezone { .. } => "datetime.timezone".into(),
        Node::ZoneInfo { .. } => "zoneinfo.ZoneInfo".into(),
        Node::Decimal(_) => "decimal.Decimal".into(),
        Node::Range(_) => if py2 { "xrange" } else { "range" }.into(),
        Node::Global(g) => if is_type(g) {
            "type"
        } else {
            "builtin_function_or_method"
        }
        .into(),
        Node::Exception { class, .. }
        | Node::Instance { class, .. }
        | Node::Opaque { class, .. } => class.name.clone(),
        Node::MemoryView(_) => "memoryview".into(),
    }
}

fn text_lossy(t: &[u8]) -> String {
    codec::code_points(t)
        .map(|c| char::from_u32(c).unwrap_or('\u{fffd}'))
        .collect()
}

/// py2 `repr()` of a byte string (for KeyError messages of the pure 2.7 loader).
fn py2_str_repr(b: &[u8]) -> String {
    // repr() quotes with " when the string holds a ' and no ".
    let dq = b.contains(&b'\'') && !b.contains(&b'"');
    let q = if dq { '"' } else { '\'' };
    let mut s = String::from(q);
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\'' if dq => s.push('\''),
            b'\'' => s.push_str("\\'"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push(q);
    s
}

/// py3 `repr()` of an ASCII-ish str, enough for error messages.
fn py_str_repr_text(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// How a character appears in `UnicodeEncodeError` messages: `'\u20ac'`.
fn py_char_escape(cp: u32, py2: bool) -> String {
    let body = if cp <= 0xff {
        format!("\\x{cp:02x}")
    } else if cp <= 0xffff {
        format!("\\u{cp:04x}")
    } else {
        format!("\\U{cp:08x}")
    };
    if py2 {
        format!("u'{body}'")
    } else {
        format!("'{body}'")
    }
}

/// C `strtol(s, &end, 0)` that must consume the whole line: `Some` when it fits a C long.
/// `strtol(s, &end, 0)`, or with `base10` (3.14+) `strtol(s, &end, 10)`: no prefixes, a leading
/// zero is not octal.
fn strtol0(s: &str, base10: bool) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if base10 {
        (10, t)
    } else if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, h)
    } else if t.len() > 1 && t.starts_with('0') {
        (8, &t[1..])
    } else {
        (10, t)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        // "0x" alone parses as 0 with end at 'x', which is not the end of the line.
        return None;
    }
    let v = i128::from_str_radix(digits, radix).ok()?;
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

/// `int(s, 0)` / `PyLong_FromString(s, NULL, 0)`: underscores between digits (3.6+), 0x/0o/0b
/// prefixes, no leading zeros on a nonzero decimal; surrounding whitespace allowed. py2 also
/// accepts a trailing `L` and old-style octal. With `base10` (3.14+: `int(s, 10)`): no prefixes,
/// leading zeros allowed.
fn py_int_literal(s: &str, py2: bool, base10: bool) -> Option<BigInt> {
    // py2's PyLong_FromString takes a trailing L only right after the digits.
    let t = if py2 {
        let t = s.trim_end_matches(|c: char| c.is_ascii_whitespace());
        t.strip_suffix(['L', 'l']).unwrap_or(t).trim_start()
    } else {
        s.trim_matches(|c: char| c.is_ascii_whitespace())
    };
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = t.to_ascii_lowercase();
    let (radix, body) = if base10 {
        (10, lower.clone())
    } else if let Some(b) = lower.strip_prefix("0x") {
        (16, b.to_string())
    } else if let Some(b) = lower.strip_prefix("0o") {
        (8, b.to_string())
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        if py2 {
            (8, lower[1..].to_string())
        } else if lower.chars().all(|c| c == '0' || c == '_') {
            (10, lower.clone())
        } else {
            return None;
        }
    } else {
        (10, lower.clone())
    };
    let body = if py2 {
        if body.contains('_') {
            return None;
        }
        body
    } else {
        // Underscores only between digits (or right after a base prefix).
        if body.starts_with('_') && radix == 10 || body.ends_with('_') || body.contains("__") {
            return None;
        }
        body.replace('_', "")
    };
    if body.is_empty() {
        return None;
    }
    let v = BigInt::parse_bytes(body.as_bytes(), radix)?;
    Some(if neg { -v } else { v })
}

/// `PyOS_string_to_double` with an end pointer: the value of the longest float prefix and its length.
fn parse_float_prefix(s: &str, py2: bool) -> (Option<f64>, usize) {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let lower = s[i..].to_ascii_lowercase();
    for word in ["infinity", "inf", "nan"] {
        if lower.starts_with(word) {
            let neg = s.starts_with('-');
            // py2's Py_NAN is `HUGE_VAL * 0.`, which on x86 has the sign bit set; py3 builds a
            // positive NaN (`_Py_dg_stdnan`). Corpus: float_nan at protocol 0 read by 2.7.
            let nan = if py2 {
                f64::from_bits(0xfff8_0000_0000_0000)
            } else {
                f64::from_bits(0x7ff8_0000_0000_0000)
            };
            let v = if word == "nan" {
                nan
            } else if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            };
            return (
                Some(if word == "nan" && neg { -v } else { v }),
                i + word.len(),
            );
        }
    }
    let digits_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut mantissa = i > digits_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        mantissa |= i > f;
    }
    if !mantissa {
        return (None, 0);
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let e = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > e {
            i = j;
        }
    }
    (s[..i].parse::<f64>().ok(), i)
}

/// `timedelta(days, seconds, microseconds)` normalized as CPython does; `None` out of range.
fn normalize_timedelta(v: [i64; 3]) -> Option<[i64; 3]> {
    let total_us = (v[0] as i128) * 86_400_000_000 + (v[1] as i128) * 1_000_000 + v[2] as i128;
    let days = total_us.div_euclid(86_400_000_000);
    let rem = total_us.rem_euclid(86_400_000_000);
    if days.abs() > 999_999_999 {
        return None;
    }
    Some([
        days as i64,
        (rem / 1_000_000) as i64,
        (rem % 1_000_000) as i64,
    ])
}

/// `str(Decimal(s))` for the literals the models accept: `None` for anything else.
fn decimal_str(s: &str) -> Option<String> {
    let t = s.trim();
    let (sign, t) = match t.as_bytes().first() {
        Some(b'-') => ("-", &t[1..]),
        Some(b'+') => ("", &t[1..]),
        _ => ("", t),
    };
    let lower = t.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "infinity" => return Some(format!("{sign}Infinity")),
        "nan" => return Some(format!("{sign}NaN")),
        "snan" => return Some(format!("{sign}sNaN")),
        _ => {}
    }
    let (mant, exp) = match lower.split_once('e') {
        Some((m, e)) => (m, e.parse::<i64>().ok()?),
        None => (lower.as_str(), 0),
    };
    let (int_part, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int_part.is_empty() && frac.is_empty() {
        return None;
    }
    if !int_part
        .bytes()
        .chain(frac.bytes())
        .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    // Built with pushes, not format! (this runs for every Decimal of a load).
    let mut digits_raw = String::with_capacity(int_part.len() + frac.len());
    digits_raw.push_str(int_part);
    digits_raw.push_str(frac);
    let exp = exp - frac.len() as i64;
    let digits = digits_raw.trim_start_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    // Decimal.__str__ (to-sci-string).
    let n = digits.len() as i64;
    let adjusted = exp + n - 1;
    let mut out = String::with_capacity(sign.len() + digits.len() + 8);
    out.push_str(sign);
    if exp <= 0 && adjusted >= -6 {
        if exp == 0 {
            out.push_str(digits);
        } else {
            let point = n + exp;
            if point > 0 {
                out.push_str(&digits[..point as usize]);
                out.push('.');
                out.push_str(&digits[point as usize..]);
            } else {
                out.push_str("0.");
                out.extend(std::iter::repeat_n('0', (-point) as usize));
                out.push_str(digits);
            }
        }
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('E');
        if adjusted >= 0 {
            out.push('+');
        }
        out.push_str(&adjusted.to_string());
    }
    Some(out)
}

/// C `long` parse of a memo index line (`GET`/`PUT`), as `int(line)`.
fn parse_c_long(s: &str) -> Option<i64> {
    s.trim().parse::<i64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dense/sparse memo against the oracle it replaced, a plain `HashMap<u64, Id>`:
    /// the same `get` and `len` after every put, for dense runs, overwrites, huge and sparse
    /// indices, and sparse indices the dense array later grows over.
    #[test]
    fn memo_agrees_with_a_hash_map() {
        let mut memo = Memo::default();
        let mut oracle: std::collections::HashMap<u64, Id> = std::collections::HashMap::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut probes = Vec::new();
        for n in 0..40_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let idx = match x % 8 {
                0..=3 => n,
                4 => x % 64,
                5 => (1 << 16) + x % 300_000,
                6 => x >> 1,
                _ => u64::from(u32::MAX) - x % 4,
            };
            let id = (x % 1000) as Id;
            memo.insert(idx, id);
            oracle.insert(idx, id);
            probes.push(idx);
            probes.push(idx.wrapping_add(1));
            assert_eq!(memo.len(), oracle.len());
        }
        for p in probes {
            assert_eq!(memo.get(p), oracle.get(&p).copied(), "index {p}");
        }
    }

    fn outcome(data: &[u8], rt: &str) -> String {
        let r = load(data, Runtime::parse(rt).unwrap(), &LoadConfig::default());
        match r.outcome {
            Outcome::Loaded { heap, root } => {
                super::super::render::render(&heap, root, Runtime::parse(rt).unwrap())
            }
            Outcome::Raised(e) => e.to_string(),
            Outcome::Unknown(u) => format!("unknown: {u:?}"),
        }
    }

    #[test]
    fn the_incident_both_ways() {
        // py2 cPickle protocol 0 of 'caf\xc3\xa9', read by 3.8 with the defaults.
        assert_eq!(
            outcome(b"S'caf\\xc3\\xa9'\np1\n.", "3.8"),
            "UnicodeDecodeError: 'ascii' codec can't decode byte 0xc3 in position 3: ordinal not in range(128)"
        );
        assert_eq!(
            outcome(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00N.", "2.7"),
            "ValueError: unsupported pickle protocol: 4"
        );
    }

    #[test]
    fn decimal_strings() {
        assert_eq!(decimal_str("1.10").as_deref(), Some("1.10"));
        assert_eq!(decimal_str("1e2").as_deref(), Some("1E+2"));
        assert_eq!(decimal_str("0.0000001").as_deref(), Some("1E-7"));
        assert_eq!(decimal_str("-0").as_deref(), Some("-0"));
    }
}
