//! `load(bytes, runtime, options)`: the unpickler of a given runtime, modelled as an explicit stack
//! machine over the parsed opcodes. It never executes anything: globals are resolved against the
//! runtime's tables, and only the reconstructors the models know are "called".
//!
//! Semantics follow CPython's C unpickler (`Modules/_pickle.c`) for 3.x and `Modules/cPickle.c` for
//! 2.7; each rule names the behaviour it mirrors. The corpus tests hold them against the real
//! interpreters.

mod containers;
mod datetime;
mod errors;
mod exceptions;
mod globals;
mod literals;
mod memo;
mod objects;
mod opcodes;
mod py2pickle;
mod scalars;
mod stack;

pub use globals::*;
use literals::*;
use memo::*;

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
    /// Not a load option: the verdict runs the full models on every value, never the fast path
    /// of `check::fast` (which gives the same verdicts; `scan --full-model`).
    pub full_model: bool,
}

/// Why the models cannot say what happens.
#[derive(Debug, Clone, PartialEq, Eq)]
// Exhaustive on purpose: the two reasons a model cannot say (a budget, a feature); matched exhaustively.
pub enum Unmodelled {
    /// A budget ran out: the value is too big or too hostile to follow (code `budget`).
    Budget(&'static str),
    /// A codec, error handler or reconstructor the models do not know.
    Feature(String),
}

/// The outcome of one load. Exhaustive on purpose (unlike the crate's other public enums): a
/// load either gives a value, raises, or is unknown, and every consumer must say which it handles.
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
