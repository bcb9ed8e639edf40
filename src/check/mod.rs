//! The five checks of cli.md, per value: `old_reads`, `new_reads`, `old_reads_new_write`,
//! `new_reads_old_write`, `round_trip`, built from the runtime models' `load` and `dump`, under one
//! budget per value (`meter`). Each outcome carries its finding as data: a [`Change`] kind with
//! its path and reprs, a [`Failure`] with the exception and the step that raised it; hazard codes
//! and sentences are derived from those.

pub mod change;
pub mod compare;
pub mod hazard;

use crate::envelope::{self, Ints, Reader, Wrap, Writer};
use crate::meter;
use crate::pickle::parse::Parsed;
use crate::runtime::codec;
use crate::runtime::dump::{DumpError, dump};
use crate::runtime::load::{self, LoadConfig, Outcome as LoadOutcome, Unmodelled};
use crate::runtime::value::{Heap, Id, Node};
use crate::runtime::{PyError, Runtime};
pub use change::Change;
use compare::{Opts, View};
pub use hazard::Hazard;
use num_bigint::BigInt;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::fmt;
use std::rc::Rc;

/// One side of a migration: a runtime, the load options its app uses, and its cache layer.
#[derive(Debug, Clone)]
pub struct Side {
    pub runtime: Runtime,
    pub load: LoadConfig,
    pub writer: Writer,
}

/// An exception a check met: what the runtime raised, and in which step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub error: PyError,
    /// Raised while this runtime wrote the value back at this protocol (else: while reading).
    pub write_back: Option<(Runtime, u8)>,
}

impl Failure {
    pub fn read(error: PyError) -> Failure {
        Failure {
            error,
            write_back: None,
        }
    }

    pub fn hazard(&self) -> Hazard {
        match self.write_back {
            Some(_) => Hazard::WriteBackFails,
            None => hazard::of_error(&self.error),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.write_back {
            None => write!(f, "{}", self.error),
            Some((rt, p)) => write!(
                f,
                "{} (while {rt} wrote it back at protocol {p})",
                self.error
            ),
        }
    }
}

/// Why the models cannot say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unknown {
    /// The value's verdict went over its budget (`[budgets]` `verdict_ops` or `verdict_bytes`).
    OverBudget { limit: &'static str },
    /// A feature the models do not know, or a budget of one load.
    Unmodelled(String),
}

impl fmt::Display for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unknown::OverBudget { limit } => write!(
                f,
                "over the verdict budget ({limit}): the value is too large or too costly to judge in full; raise [budgets] {limit} or --{}",
                limit.replace('_', "-")
            ),
            Unknown::Unmodelled(s) => f.write_str(s),
        }
    }
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Ok,
    /// Loads, but into a different value; the change says where and how.
    Changes(Box<Change>),
    /// The runtime raises (the error as Python prints it) or cannot write the value back.
    Fails(Failure),
    /// An earlier step failed, so this one cannot happen.
    Skipped,
    /// The models cannot say (budget exceeded, a feature not modelled).
    Unknown(Unknown),
}

impl Check {
    pub fn is_finding(&self) -> bool {
        matches!(self, Check::Changes(_) | Check::Fails(_))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Check::Ok => "ok",
            Check::Changes(_) => "changes",
            Check::Fails(_) => "fails",
            Check::Skipped => "skipped",
            Check::Unknown(_) => "unknown",
        }
    }

    /// The finding's hazard; `None` for `ok` and `skipped`.
    pub fn hazard(&self) -> Option<Hazard> {
        match self {
            Check::Ok | Check::Skipped => None,
            Check::Changes(c) => Some(c.hazard()),
            Check::Fails(e) => Some(e.hazard()),
            Check::Unknown(_) => Some(Hazard::NotModelled),
        }
    }

    /// The sentence: the explanation, the error as Python prints it, or the reason.
    pub fn text(&self) -> Option<String> {
        match self {
            Check::Ok | Check::Skipped => None,
            Check::Changes(c) => Some(c.to_string()),
            Check::Fails(e) => Some(e.to_string()),
            Check::Unknown(u) => Some(u.to_string()),
        }
    }

    /// Whether the verdict's budget ran out here.
    pub fn over_budget(&self) -> bool {
        matches!(self, Check::Unknown(Unknown::OverBudget { .. }))
    }

    fn fails(error: PyError) -> Check {
        Check::Fails(Failure::read(error))
    }

    fn unknown(reason: impl Into<String>) -> Check {
        Check::Unknown(Unknown::Unmodelled(reason.into()))
    }
}

/// `{"outcome": "changes", "explanation": ...}`, `{"outcome": "fails", "error": ...}`,
/// `{"outcome": "unknown", "reason": ...}` (docs/formats.md).
impl Serialize for Check {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let field = match self {
            Check::Changes(_) => Some("explanation"),
            Check::Fails(_) => Some("error"),
            Check::Unknown(_) => Some("reason"),
            Check::Ok | Check::Skipped => None,
        };
        let mut m = s.serialize_map(Some(1 + usize::from(field.is_some())))?;
        m.serialize_entry("outcome", self.name())?;
        if let (Some(name), Some(text)) = (field, self.text()) {
            m.serialize_entry(name, &text)?;
        }
        m.end()
    }
}

/// The five checks of one value.
#[derive(Debug, Clone, Serialize)]
pub struct Checks {
    pub old_reads: Check,
    pub new_reads: Check,
    pub old_reads_new_write: Check,
    pub new_reads_old_write: Check,
    pub round_trip: Check,
}

impl Checks {
    pub fn all(&self) -> [(&'static str, &Check); 5] {
        [
            ("old_reads", &self.old_reads),
            ("new_reads", &self.new_reads),
            ("old_reads_new_write", &self.old_reads_new_write),
            ("new_reads_old_write", &self.new_reads_old_write),
            ("round_trip", &self.round_trip),
        ]
    }

    pub fn has_finding(&self) -> bool {
        self.all().iter().any(|(_, c)| c.is_finding())
    }
}

struct Loaded {
    heap: Heap,
    root: Id,
}

/// A side's read of some bytes, shared where the same bytes are read again.
type Read = Rc<Result<Loaded, Check>>;

/// A value as a cache layer stored it in Redis.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    /// ASCII digits: the int they spell.
    Ascii(BigInt),
    /// A pickle in one of the layers' forms.
    Pickle { form: Form, pickle: Vec<u8> },
}

/// How a stored pickle is wrapped (compression left out: it does not change what loads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Plain,
    Bang,
    /// `{"ct": ..., "v": 2}|` + pickle (dogpile.cache >= 1.1).
    DogpileJson,
    /// The pickle of a `dogpile.cache.api.CachedValue(payload, metadata)` as found in Redis.
    CachedValue,
    /// What a dogpile.cache <= 1.0 layer writes back: `CachedValue(payload, ...)`, where
    /// `pickle` is the payload's pickle at the writer's protocol.
    CachedValuePayload,
    /// What Celery's result backend writes back: a fresh meta dict (status, task_id, ... made
    /// by the writer, so native strings) around the result, where `pickle` is the result's.
    CeleryMetaPayload,
}

impl Stored {
    /// The stored form of an unwrapped value (`None` for values that are not pickles).
    pub fn of(u: &envelope::Unwrapped, raw: &[u8]) -> Option<Stored> {
        use envelope::Envelope as E;
        let form = match u.envelope {
            E::AsciiInt => {
                let digits = std::str::from_utf8(raw).ok()?;
                return digits.parse().ok().map(Stored::Ascii);
            }
            E::NotPickle(_) => return None,
            E::Bang => Form::Bang,
            E::DogpileJson => Form::DogpileJson,
            E::DogpileCachedValue => Form::CachedValue,
            _ => Form::Plain,
        };
        Some(Stored::Pickle {
            form,
            pickle: u.pickle.clone(),
        })
    }
}

/// A parse of the stored pickle's bytes, made with an opcode budget of `max_ops` (it stands for
/// `parse::parse(pickle, max_ops)`, so a side with another budget parses again).
#[derive(Clone, Copy)]
pub struct Preparsed<'a> {
    pub parsed: &'a Parsed,
    pub max_ops: usize,
}

fn read(bytes: &[u8], side: &Side) -> Result<Loaded, Check> {
    read_with(bytes, None, side)
}

/// `read`, reusing `pre` (a parse of exactly `bytes`) where its budget is this side's.
fn read_with(bytes: &[u8], pre: Option<Preparsed<'_>>, side: &Side) -> Result<Loaded, Check> {
    let r = match pre {
        Some(p) if p.max_ops == side.load.budget.max_ops => {
            load::load_parsed(bytes, p.parsed, side.runtime, &side.load)
        }
        _ => load::load(bytes, side.runtime, &side.load),
    };
    match r.outcome {
        LoadOutcome::Loaded { heap, root } => Ok(Loaded { heap, root }),
        LoadOutcome::Raised(e) => Err(Check::fails(e)),
        LoadOutcome::Unknown(u) => Err(unknown_of(u)),
    }
}

/// What `int(b"...")` gives on a runtime (py2: `long` past `sys.maxint`).
fn int_value(n: &BigInt, rt: Runtime) -> Loaded {
    let mut heap = Heap::default();
    let node = if rt.is_py2() && i64::try_from(n).is_err() {
        Node::Long(n.clone())
    } else {
        Node::Int(n.clone())
    };
    let root = heap.push(node, Default::default());
    Loaded { heap, root }
}

/// dogpile >= 1.1's `json.loads(value.partition(b"|")[0])` on a value without its JSON header:
/// the exception it raises.
fn dogpile_json_error(stored: &[u8]) -> Check {
    let head = match stored.iter().position(|&b| b == b'|') {
        Some(i) => &stored[..i],
        None => stored,
    };
    if head.is_empty() {
        return Check::fails(json_error());
    }
    // json.detect_encoding gives utf-8 for anything that does not open with a BOM or a NUL byte.
    if head
        .first()
        .is_some_and(|&b| b != 0 && b != 0xef && b != 0xfe && b != 0xff)
    {
        if let Err(codec::Failure::Decode(e)) =
            codec::decode_utf8(head, codec::Handler::SurrogatePass, "utf-8")
        {
            return Check::fails(PyError::new("UnicodeDecodeError", e.message()));
        }
        // Valid text: JSONDecodeError where the first character cannot open a JSON value.
        let c = head[0];
        let opens = b"{[\"-0123456789tfn".contains(&c)
            || (c == b'N' && head.starts_with(b"NaN"))
            || (c == b'I' && head.starts_with(b"Infinity"));
        if !opens && !b" \t\r\n".contains(&c) {
            return Check::fails(json_error());
        }
    }
    Check::unknown(
        "dogpile.cache >= 1.1 reading a value without its JSON header: json.loads' error not modelled for these bytes",
    )
}

fn json_error() -> PyError {
    PyError::new(
        "json.decoder.JSONDecodeError",
        "Expecting value: line 1 column 1 (char 0)",
    )
}

/// A load the models could not follow: over the verdict's budget, or not modelled.
fn unknown_of(u: Unmodelled) -> Check {
    match meter::exceeded() {
        Some(limit) => Check::Unknown(Unknown::OverBudget { limit }),
        None => Check::unknown(format!("{u:?}")),
    }
}

/// The header dogpile >= 1.1 writes (its exact contents do not matter to a reader that fails on
/// the `{`, and one that parses it ignores them).
const DOGPILE_HEADER: &[u8] = b"{\"ct\": 0.0, \"v\": 2}|";

/// What `side`'s cache layer gets when it reads `stored`.
fn layer_read(stored: &Stored, side: &Side) -> Result<Loaded, Check> {
    layer_read_with(stored, None, side)
}

/// `layer_read`; `pre`, if given, is a parse of `stored`'s pickle bytes, used where the layer
/// loads exactly those bytes.
fn layer_read_with(
    stored: &Stored,
    pre: Option<Preparsed<'_>>,
    side: &Side,
) -> Result<Loaded, Check> {
    let (form, pickle) = match stored {
        Stored::Ascii(n) => {
            return if side.writer.reads_ascii_ints() {
                Ok(int_value(n, side.runtime))
            } else {
                read(n.to_string().as_bytes(), side)
            };
        }
        Stored::Pickle { form, pickle } => (*form, pickle),
    };
    match (side.writer.reader, form) {
        (Reader::Dogpile11, Form::DogpileJson) => read_with(pickle, pre, side),
        (Reader::Dogpile11, Form::Bang) => Err(dogpile_json_error(&[b"!", &pickle[..]].concat())),
        (Reader::Dogpile11, _) => Err(dogpile_json_error(pickle)),
        (_, Form::DogpileJson) => read(&[DOGPILE_HEADER, &pickle[..]].concat(), side),
        (_, Form::Bang) if side.writer.reader != Reader::Any => {
            read(&[b"!", &pickle[..]].concat(), side)
        }
        (Reader::Dogpile10, Form::CachedValue) => {
            // dogpile hands the application the payload: follow it through the CachedValue's
            // arguments without calling the class.
            let Some(t) = envelope::cachedvalue_as_tuple(pickle) else {
                return read_with(pickle, pre, side);
            };
            let v = read(&t, side)?;
            let payload = match v.heap.get(v.root) {
                Node::Tuple(items) if items.len() == 2 => match v.heap.get(items[1]) {
                    Node::Tuple(args) if !args.is_empty() => Some(args[0]),
                    _ => None,
                },
                _ => None,
            };
            match payload {
                Some(root) => Ok(Loaded { heap: v.heap, root }),
                None => Err(Check::unknown("a CachedValue without a payload")),
            }
        }
        (Reader::Dogpile10, Form::Plain | Form::CeleryMetaPayload) => {
            // region.get: value.metadata["ct"] on whatever pickle.loads gave.
            let v = read_with(pickle, pre, side)?;
            Err(Check::fails(PyError::new(
                "AttributeError",
                format!(
                    "'{}' object has no attribute 'metadata'",
                    load::type_name(v.heap.get(v.root), side.runtime.is_py2())
                ),
            )))
        }
        (Reader::Celery, Form::Plain) => {
            let v = read_with(pickle, pre, side)?;
            Ok(celery_result(v))
        }
        (_, Form::Bang) if side.writer.pickle_error_is_miss() => {
            read_with(pickle, pre, side).map_err(|c| pickle_error_is_miss(c, side.runtime))
        }
        _ => read_with(pickle, pre, side),
    }
}

/// The exceptions that are `pickle.PickleError` subclasses where the runtime's loader raises
/// them: py3's `_pickle.UnpicklingError` (the class `pickle.UnpicklingError` names), 2.7
/// pickle.py's, cPickle's own `UnpicklingError` and its subclass `BadPickleGet`.
const PICKLE_ERRORS: [&str; 4] = [
    "_pickle.UnpicklingError",
    "pickle.UnpicklingError",
    "cPickle.UnpicklingError",
    "cPickle.BadPickleGet",
];

/// A `!` layer's read that raised: a `pickle.PickleError` is caught and the layer returns None
/// (a cache miss: the app recomputes and stores a fresh value); other exceptions propagate.
fn pickle_error_is_miss(c: Check, rt: Runtime) -> Check {
    match c {
        Check::Fails(Failure {
            error,
            write_back: None,
        }) if PICKLE_ERRORS.contains(&error.ty.as_str()) => {
            Check::Changes(Box::new(Change::cache_miss(error, rt)))
        }
        c => c,
    }
}

/// Celery's result backend hands the application `meta['result']` of the stored meta dict
/// (`status`, `result`, `task_id`, ...); other values (broker messages) are read whole.
fn celery_result(v: Loaded) -> Loaded {
    let key_is = |id: Id, name: &[u8]| matches!(v.heap.get(id), Node::Text(t) | Node::Bytes(t) if t.as_slice() == name);
    let Node::Dict(items) = v.heap.get(v.root) else {
        return v;
    };
    let has = |name: &[u8]| items.iter().any(|&(k, _)| key_is(k, name));
    if !(has(b"status") && has(b"task_id")) {
        return v;
    }
    match items.iter().find(|&&(k, _)| key_is(k, b"result")) {
        Some(&(_, root)) => Loaded { heap: v.heap, root },
        None => v,
    }
}

/// What `side`'s cache layer stores when it writes `v` back.
fn layer_write(v: &Loaded, side: &Side) -> Result<Stored, Check> {
    if side.writer.ints == Ints::Ascii
        && let Node::Int(n) | Node::Long(n) = v.heap.get(v.root)
    {
        return Ok(Stored::Ascii(n.clone()));
    }
    let p = side.writer.protocol_on(side.runtime);
    let pickle = dump(&v.heap, v.root, side.runtime, p).map_err(|e| match e {
        DumpError::Py(error) => Check::Fails(Failure {
            error,
            write_back: Some((side.runtime, p)),
        }),
        DumpError::Unmodelled(_) if meter::over() => unknown_of(Unmodelled::Budget("verdict")),
        DumpError::Unmodelled(what) => Check::unknown(what),
    })?;
    let form = match side.writer.wrap {
        Wrap::Bang => Form::Bang,
        Wrap::DogpileJson => Form::DogpileJson,
        Wrap::DogpileCachedValue => Form::CachedValuePayload,
        Wrap::Plain if side.writer.reader == Reader::Celery => Form::CeleryMetaPayload,
        Wrap::Plain => Form::Plain,
    };
    Ok(Stored::Pickle { form, pickle })
}

/// Judge one pickle (already out of its envelope) for a migration from `old` to `new`.
pub fn judge(pickle: &[u8], old: &Side, new: &Side) -> Checks {
    let max_ops = old.load.budget.max_ops;
    let parsed = crate::pickle::parse::parse(pickle, max_ops);
    judge_stored_with(
        &Stored::Pickle {
            form: Form::Plain,
            pickle: pickle.to_vec(),
        },
        Some(Preparsed {
            parsed: &parsed,
            max_ops,
        }),
        old,
        new,
    )
}

/// Judge a stored value through each side's cache layer (its reader, its writer's envelope,
/// protocol and int handling) for a migration from `old` to `new`.
pub fn judge_stored(stored: &Stored, old: &Side, new: &Side) -> Checks {
    judge_stored_with(stored, None, old, new)
}

/// `judge_stored`, where `pre` (if given) is a parse of the stored pickle's bytes: the two reads
/// of the stored value use it instead of parsing again.
///
/// Each step is computed once: the round trip's first write and read (`a` writes the value, `b`
/// reads it) are those of the cross check `b reads a's write`, and each side's canonical
/// rendering is made at most once (and not at all where the two values are the same graph).
pub fn judge_stored_with(
    stored: &Stored,
    pre: Option<Preparsed<'_>>,
    old: &Side,
    new: &Side,
) -> Checks {
    // A read depends on the bytes and the reading side alone, so a write-back that gives the
    // stored bytes again (a runtime writing back what it wrote, at the same protocol) is not read
    // twice: the stored value's read stands for it.
    let _meter = meter::scope_unless_metered(old.load.budget.verdict);
    let o: Read = Rc::new(layer_read_with(stored, pre, old));
    let n: Read = Rc::new(layer_read_with(stored, pre, new));
    let old_reads = match &*o {
        Ok(_) => Check::Ok,
        Err(c) => c.clone(),
    };
    let new_reads = match (&*o, &*n) {
        (_, Err(c)) => c.clone(),
        (Ok(ov), Ok(nv)) => compare((ov, old.runtime), (nv, new), false),
        (Err(_), Ok(_)) => Check::Ok,
    };
    // `writer` writes `v`, `reader` reads it back (`stored_read`: the reader's read of the
    // stored value): (what was written, what was read).
    let cross =
        |v: &Loaded, writer: &Side, reader: &Side, stored_read: &Read| -> (Option<Stored>, Read) {
            match layer_write(v, writer) {
                Ok(bytes) => {
                    let back = if bytes == *stored {
                        Rc::clone(stored_read)
                    } else {
                        Rc::new(layer_read(&bytes, reader))
                    };
                    (Some(bytes), back)
                }
                Err(c) => (None, Rc::new(Err(c))),
            }
        };
    let judged =
        |v: &Loaded, back: &Result<Loaded, Check>, writer: &Side, reader: &Side| -> Check {
            match back {
                Ok(back) => compare((v, writer.runtime), (back, reader), true),
                Err(c) => c.clone(),
            }
        };
    let (n_wrote, n_back) = match n.as_ref().as_ref().ok().map(|nv| cross(nv, new, old, &o)) {
        Some((w, b)) => (w, Some(b)),
        None => (None, None),
    };
    let o_back = o.as_ref().as_ref().ok().map(|ov| cross(ov, old, new, &n).1);
    let old_reads_new_write = match (&*n, &n_back) {
        (Ok(nv), Some(back)) => judged(nv, back, new, old),
        _ => Check::Skipped,
    };
    let new_reads_old_write = match (&*o, &o_back) {
        (Ok(ov), Some(back)) => judged(ov, back, old, new),
        _ => Check::Skipped,
    };
    let round_trip = match (&*o, &o_back, &*n, &n_back) {
        (Ok(ov), Some(vb), _, _) => {
            // The new side's write of what it read may be the very bytes it wrote of the stored
            // value (old_reads_new_write): then the old side reads back what it read there.
            let known = [n_wrote.as_ref().zip(n_back.as_ref()), Some((stored, &o))];
            trip(ov, vb, &known, old, new).unwrap_or_else(|c| c)
        }
        (Err(_), _, Ok(nv), Some(vb)) => {
            trip(nv, vb, &[Some((stored, &n))], new, old).unwrap_or_else(|c| c)
        }
        _ => Check::Skipped,
    };
    Checks {
        old_reads,
        new_reads,
        old_reads_new_write,
        new_reads_old_write,
        round_trip,
    }
}

/// a -> b -> a: written by `a`, read and written by `b`, read by `a`: same value and types?
/// `vb` is what `b` read from `a`'s write of `v`; `known`, bytes and what `a` read from them
/// (reused when `b` writes the same bytes again: a read depends on the bytes alone).
fn trip(
    v: &Loaded,
    vb: &Result<Loaded, Check>,
    known: &[Option<(&Stored, &Read)>],
    a: &Side,
    b: &Side,
) -> Result<Check, Check> {
    let vb = vb.as_ref().map_err(Clone::clone)?;
    let b2 = layer_write(vb, b)?;
    let read;
    let back = match known.iter().flatten().find(|(wrote, _)| **wrote == b2) {
        Some((_, back)) => back.as_ref().as_ref().map_err(Clone::clone)?,
        None => {
            read = layer_read(&b2, a)?;
            &read
        }
    };
    fn view(l: &Loaded, rt: Runtime) -> View<'_> {
        View {
            heap: &l.heap,
            root: l.root,
            rt,
        }
    }
    Ok(
        match compare::compare(view(v, a.runtime), view(back, a.runtime), Opts::default()) {
            compare::Outcome::Same => Check::Ok,
            compare::Outcome::Differs(mut c) => {
                c.via = Some(b.runtime);
                Check::Changes(c)
            }
            compare::Outcome::OverBudget => over_budget(),
        },
    )
}

fn over_budget() -> Check {
    Check::Unknown(Unknown::OverBudget {
        limit: meter::exceeded().unwrap_or("verdict_ops"),
    })
}

/// Whether `reader` got the value `a` (of runtime `art`) held, where "same" carries across
/// Python versions: a py2 `str` of ASCII and a py3 `str` are the same text, a py2 `long` and a
/// py3 `int` the same number, a NaN a NaN. `written`: `b` is what the reader got from bytes that
/// `a`'s runtime wrote (a cross check), so a py2 `long` that py2 itself would have as `int` was
/// made by that write (in the stored value, a LONG in that range may as well be a py2 long, which
/// many py2 apps hold: not flagged).
fn compare((a, art): (&Loaded, Runtime), (b, reader): (&Loaded, &Side), written: bool) -> Check {
    let opts = Opts {
        portable: true,
        written,
        bytes_enc: reader.load.options.encoding.eq_ignore_ascii_case("bytes"),
    };
    let va = View {
        heap: &a.heap,
        root: a.root,
        rt: art,
    };
    let vb = View {
        heap: &b.heap,
        root: b.root,
        rt: reader.runtime,
    };
    match compare::compare(va, vb, opts) {
        compare::Outcome::Same => Check::Ok,
        compare::Outcome::Differs(c) => Check::Changes(c),
        compare::Outcome::OverBudget => over_budget(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::LoadOptions;

    fn side(rt: &str, load: &str, writer: &str) -> Side {
        Side {
            runtime: Runtime::parse(rt).unwrap(),
            load: LoadConfig {
                options: LoadOptions::parse(load).unwrap(),
                ..LoadConfig::default()
            },
            writer: Writer::parse(writer).unwrap(),
        }
    }

    #[test]
    fn py2_utf8_str_fails_on_py3_and_latin1_is_mojibake() {
        // cPickle protocol 0 of 'caf\xc3\xa9' (the bytes real 2.7 writes; see corpora).
        let p = b"S'caf\\xc3\\xa9'\np1\n.";
        let c = judge(
            p,
            &side("2.7", "", "werkzeug"),
            &side("3.8", "", "werkzeug"),
        );
        assert_eq!(c.old_reads, Check::Ok);
        assert!(
            matches!(&c.new_reads, Check::Fails(f) if f.error.ty == "UnicodeDecodeError" && f.hazard() == Hazard::Py2StrNotAscii)
        );
        assert_eq!(c.old_reads_new_write, Check::Skipped);
        let c = judge(
            p,
            &side("2.7", "", "werkzeug"),
            &side("3.8", "encoding=latin1", "werkzeug"),
        );
        assert!(
            matches!(&c.new_reads, Check::Changes(ch) if ch.hazard() == Hazard::Mojibake && ch.to_string().starts_with("mojibake"))
        );
    }

    #[test]
    fn py3_default_protocol_breaks_the_rollback() {
        // A py2 unicode value: both load it; 3.8 writes protocol 4, which 2.7 cannot read.
        let p = b"Vcaf\xe9\np1\n.";
        let c = judge(
            p,
            &side("2.7", "", "werkzeug"),
            &side("3.8", "", "werkzeug"),
        );
        assert_eq!(c.new_reads, Check::Ok);
        assert_eq!(
            c.old_reads_new_write,
            Check::fails(PyError::new("ValueError", "unsupported pickle protocol: 4"))
        );
        assert_eq!(c.new_reads_old_write, Check::Ok);
    }
}
