//! Each side's cache layer: how it reads a stored value (its envelope, Werkzeug's `!` and the
//! misses it makes of `pickle.PickleError`, dogpile's header and CachedValue, Celery's result
//! meta, ASCII ints) and what it stores when it writes a value back (protocol, envelope, ints).

use super::{Change, Check, Failure, Side};
use crate::envelope::{self, Ints, Reader, Wrap};
use crate::meter;
use crate::pickle::parse::Parsed;
use crate::runtime::codec;
use crate::runtime::dump::{DumpError, dump};
use crate::runtime::load::{self, Outcome as LoadOutcome, Unmodelled};
use crate::runtime::value::{Heap, Id, Node};
use crate::runtime::{PyError, Runtime};
use num_bigint::BigInt;
use std::rc::Rc;

pub(super) struct Loaded {
    pub(super) heap: Heap,
    pub(super) root: Id,
}

/// A side's read of some bytes, shared where the same bytes are read again.
pub(super) type Read = Rc<Result<Loaded, Check>>;

/// A value as a cache layer stored it in Redis.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Stored {
    /// ASCII digits: the int they spell.
    Ascii(BigInt),
    /// A pickle in one of the layers' forms.
    Pickle { form: Form, pickle: Vec<u8> },
}

/// How a stored pickle is wrapped (compression left out: it does not change what loads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
    if meter::over() {
        Check::budget_spent()
    } else {
        Check::unknown(format!("{u:?}"))
    }
}

/// The header dogpile >= 1.1 writes (its exact contents do not matter to a reader that fails on
/// the `{`, and one that parses it ignores them).
const DOGPILE_HEADER: &[u8] = b"{\"ct\": 0.0, \"v\": 2}|";

/// What `side`'s cache layer gets when it reads `stored`.
pub(super) fn layer_read(stored: &Stored, side: &Side) -> Result<Loaded, Check> {
    layer_read_with(stored, None, side)
}

/// `layer_read`; `pre`, if given, is a parse of `stored`'s pickle bytes, used where the layer
/// loads exactly those bytes.
pub(super) fn layer_read_with(
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
pub(super) fn layer_write(v: &Loaded, side: &Side) -> Result<Stored, Check> {
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
        DumpError::Unmodelled(_) if meter::over() => Check::budget_spent(),
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
