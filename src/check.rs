//! The five checks of cli.md, per value: `old_reads`, `new_reads`, `old_reads_new_write`,
//! `new_reads_old_write`, `round_trip`, built from the runtime models' `load` and `dump`.

use crate::envelope::{self, Ints, Reader, Wrap, Writer};
use crate::pickle::parse::Parsed;
use crate::runtime::codec;
use crate::runtime::dump::{DumpError, dump};
use crate::runtime::load::{self, LoadConfig, Outcome as LoadOutcome};
use crate::runtime::value::{Heap, Id, Node};
use crate::runtime::{Runtime, render};
use num_bigint::BigInt;
use serde::Serialize;
use std::cell::OnceCell;
use std::rc::Rc;

/// One side of a migration: a runtime, the load options its app uses, and its cache layer.
#[derive(Debug, Clone)]
pub struct Side {
    pub runtime: Runtime,
    pub load: LoadConfig,
    pub writer: Writer,
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Check {
    Ok,
    /// Loads, but into a different value; `explanation` says how.
    Changes {
        explanation: String,
    },
    /// The runtime raises (`error` as Python prints it) or cannot write the value back.
    Fails {
        error: String,
    },
    /// An earlier step failed, so this one cannot happen.
    Skipped,
    /// The models cannot say (budget exceeded, a feature not modelled).
    Unknown {
        reason: String,
    },
}

impl Check {
    pub fn is_finding(&self) -> bool {
        matches!(self, Check::Changes { .. } | Check::Fails { .. })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Check::Ok => "ok",
            Check::Changes { .. } => "changes",
            Check::Fails { .. } => "fails",
            Check::Skipped => "skipped",
            Check::Unknown { .. } => "unknown",
        }
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
        LoadOutcome::Raised(e) => Err(Check::Fails {
            error: e.to_string(),
        }),
        LoadOutcome::Unknown(u) => Err(Check::Unknown {
            reason: format!("{u:?}"),
        }),
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
        return Check::Fails {
            error: "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)".into(),
        };
    }
    // json.detect_encoding gives utf-8 for anything that does not open with a BOM or a NUL byte.
    if head
        .first()
        .is_some_and(|&b| b != 0 && b != 0xef && b != 0xfe && b != 0xff)
    {
        if let Err(codec::Failure::Decode(e)) =
            codec::decode_utf8(head, codec::Handler::SurrogatePass, "utf-8")
        {
            return Check::Fails {
                error: format!("UnicodeDecodeError: {}", e.message()),
            };
        }
        // Valid text: JSONDecodeError where the first character cannot open a JSON value.
        let c = head[0];
        let opens = b"{[\"-0123456789tfn".contains(&c)
            || (c == b'N' && head.starts_with(b"NaN"))
            || (c == b'I' && head.starts_with(b"Infinity"));
        if !opens && !b" \t\r\n".contains(&c) {
            return Check::Fails {
                error: "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)"
                    .into(),
            };
        }
    }
    Check::Unknown {
        reason: "dogpile.cache >= 1.1 reading a value without its JSON header: json.loads' error not modelled for these bytes".into(),
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
                None => Err(Check::Unknown {
                    reason: "a CachedValue without a payload".into(),
                }),
            }
        }
        (Reader::Dogpile10, Form::Plain | Form::CeleryMetaPayload) => {
            // region.get: value.metadata["ct"] on whatever pickle.loads gave.
            let v = read_with(pickle, pre, side)?;
            Err(Check::Fails {
                error: format!(
                    "AttributeError: '{}' object has no attribute 'metadata'",
                    load::type_name(v.heap.get(v.root), side.runtime.is_py2())
                ),
            })
        }
        (Reader::Celery, Form::Plain) => {
            let v = read_with(pickle, pre, side)?;
            Ok(celery_result(v))
        }
        (_, Form::Bang) if side.writer.pickle_error_is_miss() => {
            read_with(pickle, pre, side).map_err(pickle_error_is_miss)
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
fn pickle_error_is_miss(c: Check) -> Check {
    match c {
        Check::Fails { error }
            if PICKLE_ERRORS
                .iter()
                .any(|t| error.split_once(": ").map_or(error.as_str(), |(ty, _)| ty) == *t) =>
        {
            Check::Changes {
                explanation: format!(
                    "a cache miss: the layer catches pickle.PickleError ({error}) and returns None, so the app recomputes the value"
                ),
            }
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
        DumpError::Py(e) => Check::Fails {
            error: format!("{e} (while {} wrote it back at protocol {p})", side.runtime),
        },
        DumpError::Unmodelled(what) => Check::Unknown { reason: what },
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
    let o: Read = Rc::new(layer_read_with(stored, pre, old));
    let n: Read = Rc::new(layer_read_with(stored, pre, new));
    let (o_port, n_port) = (OnceCell::new(), OnceCell::new());
    let old_reads = match &*o {
        Ok(_) => Check::Ok,
        Err(c) => c.clone(),
    };
    let new_reads = match (&*o, &*n) {
        (_, Err(c)) => c.clone(),
        (Ok(ov), Ok(nv)) => compare(
            (ov, old.runtime, Some(&o_port)),
            (nv, Some(&n_port)),
            new,
            false,
        ),
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
    let judged = |v: &Loaded,
                  port: &OnceCell<String>,
                  back: &Result<Loaded, Check>,
                  writer: &Side,
                  reader: &Side|
     -> Check {
        match back {
            Ok(back) => compare((v, writer.runtime, Some(port)), (back, None), reader, true),
            Err(c) => c.clone(),
        }
    };
    let (n_wrote, n_back) = match n.as_ref().as_ref().ok().map(|nv| cross(nv, new, old, &o)) {
        Some((w, b)) => (w, Some(b)),
        None => (None, None),
    };
    let o_back = o.as_ref().as_ref().ok().map(|ov| cross(ov, old, new, &n).1);
    let old_reads_new_write = match (&*n, &n_back) {
        (Ok(nv), Some(back)) => judged(nv, &n_port, back, new, old),
        _ => Check::Skipped,
    };
    let new_reads_old_write = match (&*o, &o_back) {
        (Ok(ov), Some(back)) => judged(ov, &o_port, back, old, new),
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
    let same = same_graph(
        (&v.heap, v.root, a.runtime),
        (&back.heap, back.root, a.runtime),
        false,
    ) || render::render(&v.heap, v.root, a.runtime)
        == render::render(&back.heap, back.root, a.runtime);
    if same {
        Ok(Check::Ok)
    } else {
        Ok(Check::Changes {
            explanation: format!(
                "after {} -> {} -> {}: {}",
                a.runtime,
                b.runtime,
                a.runtime,
                describe(
                    &v.heap, v.root, a.runtime, &back.heap, back.root, a.runtime, false
                )
            ),
        })
    }
}

/// Whether two runtimes got the same value, where "same" carries across Python versions: a py2
/// `str` of ASCII and a py3 `str` are the same text, a py2 `long` and a py3 `int` the same number.
/// `written`: `b` is what the reader got from bytes that `a`'s runtime wrote (a cross check), so
/// a py2 `long` that py2 itself would have as `int` was made by that write (in the stored value,
/// a LONG in that range may as well be a py2 long, which many py2 apps hold: not flagged).
/// Each side may carry a cell for its portable rendering, filled on first use.
fn compare(
    (a, art, a_port): (&Loaded, Runtime, Option<&OnceCell<String>>),
    (b, b_port): (&Loaded, Option<&OnceCell<String>>),
    reader: &Side,
    written: bool,
) -> Check {
    let brt = reader.runtime;
    let bytes_enc = reader.load.options.encoding.eq_ignore_ascii_case("bytes");
    let same = same_graph((&a.heap, a.root, art), (&b.heap, b.root, brt), true) || {
        let (own_a, own_b);
        let ra: &str = match a_port {
            Some(c) => c.get_or_init(|| portable(&a.heap, a.root, art)),
            None => {
                own_a = portable(&a.heap, a.root, art);
                &own_a
            }
        };
        let rb: &str = match b_port {
            Some(c) => c.get_or_init(|| portable(&b.heap, b.root, brt)),
            None => {
                own_b = portable(&b.heap, b.root, brt);
                &own_b
            }
        };
        ra == rb
    };
    if same {
        // The same value, but a py2 reader may get `long` where py2 itself would have had `int`
        // (py3 pickles ints past 4 bytes as LONG; py2 loads every LONG as long).
        if written
            && brt.is_py2()
            && !art.is_py2()
            && let Some(n) = b.heap.nodes.iter().find_map(|n| match n {
                Node::Long(v) if i64::try_from(v).is_ok() => Some(v.clone()),
                _ => None,
            })
        {
            return Check::Changes {
                explanation: int_to_long(&n, art, brt),
            };
        }
        Check::Ok
    } else {
        Check::Changes {
            explanation: describe(&a.heap, a.root, art, &b.heap, b.root, brt, bytes_enc),
        }
    }
}

/// Whether the values at `a` and `b` are the same graph: a one-to-one map between the nodes
/// reachable from the roots under which every node has the same contents and the same children
/// in the same order as its image. The canonical rendering is a function of that graph alone
/// (labels and sort orders follow from it), so such values render alike; the converse does not
/// hold (a dict in another order renders alike), so a false here means "render and compare".
/// `portable`: with the equivalences of [`portable`] (a `long` is an `int`; on py2 an ASCII `str`
/// is text).
fn same_graph(
    (ah, a, art): (&Heap, Id, Runtime),
    (bh, b, brt): (&Heap, Id, Runtime),
    portable: bool,
) -> bool {
    const FREE: usize = usize::MAX;
    let mut to_b = vec![FREE; ah.len()];
    let mut to_a = vec![FREE; bh.len()];
    let mut todo = vec![(a, b)];
    let (apy2, bpy2) = (portable && art.is_py2(), portable && brt.is_py2());
    while let Some((x, y)) = todo.pop() {
        if x >= to_b.len() || y >= to_a.len() {
            return false;
        }
        if to_b[x] != FREE || to_a[y] != FREE {
            if to_b[x] == y && to_a[y] == x {
                continue;
            }
            return false;
        }
        to_b[x] = y;
        to_a[y] = x;
        let (nx, ny) = (ah.get(x), bh.get(y));
        let pairs = |todo: &mut Vec<(Id, Id)>, p: &[(Id, Id)], q: &[(Id, Id)]| -> bool {
            if p.len() != q.len() {
                return false;
            }
            for (&(k1, v1), &(k2, v2)) in p.iter().zip(q) {
                todo.push((k1, k2));
                todo.push((v1, v2));
            }
            true
        };
        let seq = |todo: &mut Vec<(Id, Id)>, p: &[Id], q: &[Id]| -> bool {
            if p.len() != q.len() {
                return false;
            }
            todo.extend(p.iter().copied().zip(q.iter().copied()));
            true
        };
        let ok = match (nx, ny) {
            (Node::Text(p) | Node::Bytes(p), Node::Text(q) | Node::Bytes(q)) => {
                p == q && {
                    let tx = matches!(nx, Node::Text(_)) || (apy2 && p.is_ascii());
                    let ty = matches!(ny, Node::Text(_)) || (bpy2 && q.is_ascii());
                    tx == ty
                }
            }
            (Node::Int(p) | Node::Long(p), Node::Int(q) | Node::Long(q)) => {
                p == q && (portable || std::mem::discriminant(nx) == std::mem::discriminant(ny))
            }
            (Node::None, Node::None) => true,
            (Node::Bool(p), Node::Bool(q)) => p == q,
            (Node::Float(p), Node::Float(q)) => p.to_bits() == q.to_bits(),
            (Node::Complex(p, i), Node::Complex(q, j)) => {
                p.to_bits() == q.to_bits() && i.to_bits() == j.to_bits()
            }
            (Node::ByteArray(p), Node::ByteArray(q)) => p == q,
            (Node::List(p), Node::List(q))
            | (Node::Tuple(p), Node::Tuple(q))
            | (Node::Set(p), Node::Set(q))
            | (Node::FrozenSet(p), Node::FrozenSet(q)) => seq(&mut todo, p, q),
            (Node::Dict(p), Node::Dict(q)) | (Node::OrderedDict(p), Node::OrderedDict(q)) => {
                pairs(&mut todo, p, q)
            }
            (
                Node::DefaultDict {
                    factory: f,
                    items: p,
                },
                Node::DefaultDict {
                    factory: g,
                    items: q,
                },
            ) => {
                todo.push((*f, *g));
                pairs(&mut todo, p, q)
            }
            (
                Node::Deque {
                    items: p,
                    maxlen: m,
                },
                Node::Deque {
                    items: q,
                    maxlen: n,
                },
            ) => m == n && seq(&mut todo, p, q),
            (
                Node::Datetime {
                    fields: f,
                    tz: t,
                    fold: d,
                },
                Node::Datetime {
                    fields: g,
                    tz: u,
                    fold: e,
                },
            ) => f == g && d == e && opt(&mut todo, *t, *u),
            (Node::Date(f), Node::Date(g)) => f == g,
            (
                Node::Time {
                    fields: f,
                    tz: t,
                    fold: d,
                },
                Node::Time {
                    fields: g,
                    tz: u,
                    fold: e,
                },
            ) => f == g && d == e && opt(&mut todo, *t, *u),
            (Node::Timedelta(f), Node::Timedelta(g)) => f == g,
            (Node::Timezone { offset: o, name: m }, Node::Timezone { offset: p, name: n }) => {
                todo.push((*o, *p));
                opt(&mut todo, *m, *n)
            }
            (
                Node::ZoneInfo {
                    key: k,
                    from_cache: c,
                },
                Node::ZoneInfo {
                    key: l,
                    from_cache: d,
                },
            ) => {
                todo.push((*k, *l));
                c == d
            }
            (Node::Decimal(p), Node::Decimal(q)) => p == q,
            (Node::Range(p), Node::Range(q)) => p == q,
            (Node::Global(g), Node::Global(h)) => g == h,
            (
                Node::Exception {
                    class: c,
                    args: p,
                    dict: d,
                },
                Node::Exception {
                    class: k,
                    args: q,
                    dict: e,
                },
            ) => {
                todo.push((*p, *q));
                c == k && pairs(&mut todo, d, e)
            }
            (Node::Instance { class: c, dict: d }, Node::Instance { class: k, dict: e }) => {
                c == k && pairs(&mut todo, d, e)
            }
            (
                Node::Opaque {
                    class: c,
                    reduce: r,
                },
                Node::Opaque {
                    class: k,
                    reduce: q,
                },
            ) => {
                c == k
                    && match (r, q) {
                        (None, None) => true,
                        (Some(r), Some(q)) => {
                            todo.push((r.func, q.func));
                            todo.push((r.args, q.args));
                            r.newobj == q.newobj && opt(&mut todo, r.state, q.state)
                        }
                        _ => false,
                    }
            }
            (Node::MemoryView(p), Node::MemoryView(q)) => {
                todo.push((*p, *q));
                true
            }
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Both absent, or both present (the pair queued).
fn opt(todo: &mut Vec<(Id, Id)>, p: Option<Id>, q: Option<Id>) -> bool {
    match (p, q) {
        (None, None) => true,
        (Some(p), Some(q)) => {
            todo.push((p, q));
            true
        }
        _ => false,
    }
}

fn int_to_long(n: &BigInt, art: Runtime, brt: Runtime) -> String {
    // In a round trip both ends are py2: the py3 runtime in the middle wrote the LONG.
    let who = if art.is_py2() {
        "a py3 runtime".to_string()
    } else {
        art.to_string()
    };
    format!(
        "int -> long: the int {n} is a long ({n}L) on {brt}: {who} pickles ints that need more than 4 bytes as LONG, which py2 loads as long (type(x) is int is False, repr gains an L)"
    )
}

/// The canonical rendering with the cross-version equivalences applied.
fn portable(heap: &Heap, root: Id, rt: Runtime) -> String {
    let mut h = heap.clone();
    for n in h.nodes.iter_mut() {
        match n {
            Node::Long(v) => *n = Node::Int(v.clone()),
            Node::Bytes(b) if rt.is_py2() && b.is_ascii() => *n = Node::Text(std::mem::take(b)),
            _ => {}
        }
    }
    render::render(&h, root, Runtime::new(3, 13))
}

/// Where a node sits in its container (for the explanation).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Value,
    Key,
    Member,
}

impl Role {
    fn noun(self, what: &str) -> String {
        match self {
            Role::Value => what.to_string(),
            Role::Key => format!("dict key {what}"),
            Role::Member => format!("set member {what}"),
        }
    }
}

/// A one-line explanation of the first difference between two values, in words a developer
/// knows: mojibake, str -> bytes, str -> unicode, int -> long, container type changes.
fn describe(
    ah: &Heap,
    a: Id,
    art: Runtime,
    bh: &Heap,
    b: Id,
    brt: Runtime,
    bytes_enc: bool,
) -> String {
    let mut todo = vec![(a, b, Role::Value)];
    let mut seen = std::collections::HashSet::new();
    while let Some((x, y, role)) = todo.pop() {
        if !seen.insert((x, y)) {
            continue;
        }
        let (nx, ny) = (ah.get(x), bh.get(y));
        match (nx, ny) {
            (Node::Bytes(p), Node::Text(t)) if art.is_py2() && !p.is_ascii() => {
                let latin1 = codec::decode_latin1(p);
                return if &latin1 == t && std::str::from_utf8(p).is_ok() {
                    format!(
                        "mojibake: the py2 {} (UTF-8 bytes) became {} on {brt}: its bytes were decoded as latin-1 (repair with .encode('latin-1').decode('utf-8'))",
                        role.noun(&format!("str {}", py_bytes(p, true))),
                        py_text(t, brt.is_py2())
                    )
                } else {
                    format!(
                        "the py2 {} became the text {} on {brt} (decoded with the load's encoding)",
                        role.noun(&format!("str {}", py_bytes(p, true))),
                        py_text(t, brt.is_py2())
                    )
                };
            }
            (Node::Text(t), Node::Bytes(p)) if brt.is_py2() && !art.is_py2() => {
                return format!(
                    "str -> py2 str: the {} is the byte string {} on {brt}",
                    role.noun(&format!("text {}", py_text(t, false))),
                    py_bytes(p, true)
                );
            }
            (Node::Bytes(p), Node::Bytes(_)) if art.is_py2() && !brt.is_py2() => {
                let shown = py_bytes(p, true);
                let consequence = match role {
                    Role::Key => format!(
                        ": d[{}] raises KeyError, the key is {}",
                        py_text(p, false),
                        py_bytes(p, false)
                    ),
                    Role::Member => format!(
                        ": {} in s is False, the member is {}",
                        py_text(p, false),
                        py_bytes(p, false)
                    ),
                    Role::Value => format!(
                        " ({}): text operations and comparisons with str no longer match",
                        py_bytes(p, false)
                    ),
                };
                let why = if bytes_enc { " (encoding='bytes')" } else { "" };
                return format!(
                    "str -> bytes: the py2 {} is bytes on {brt}{why}{consequence}",
                    role.noun(&format!("str {shown}")),
                );
            }
            (Node::Bytes(p), Node::Text(t)) if art.is_py2() && brt.is_py2() => {
                return format!(
                    "str -> unicode: the py2 {} is now {} on {brt}: a py3 runtime loaded it as text and wrote it back as unicode (type(x) is str is False; mixing it with non-ASCII str raises UnicodeDecodeError)",
                    role.noun(&format!("str {}", py_bytes(p, true))),
                    py_text(t, true)
                );
            }
            (Node::Bytes(p), Node::Text(t)) if art.is_py2() => {
                return format!(
                    "the py2 {} is the text {} on {brt}",
                    role.noun(&format!("str {}", py_bytes(p, true))),
                    py_text(t, brt.is_py2())
                );
            }
            (Node::Bytes(p), Node::Bytes(_)) if !art.is_py2() && brt.is_py2() && p.is_ascii() => {
                return format!(
                    "bytes -> py2 str: the {} is the py2 str {} on {brt}, which py2 code treats as text (and a py3 runtime reads back as str)",
                    role.noun(&format!("bytes {}", py_bytes(p, false))),
                    py_bytes(p, true)
                );
            }
            (Node::Int(n), Node::Long(_)) if brt.is_py2() && i64::try_from(n).is_ok() => {
                return int_to_long(n, art, brt);
            }
            _ => {}
        }
        let (tx, ty) = (
            load::type_name(nx, art.is_py2()),
            load::type_name(ny, brt.is_py2()),
        );
        let same_kind = std::mem::discriminant(nx) == std::mem::discriminant(ny);
        if !same_kind {
            let equivalent = matches!(
                (nx, ny),
                (Node::Long(_), Node::Int(_)) | (Node::Int(_), Node::Long(_))
            ) || matches!(
                (nx, ny),
                (Node::Bytes(_), Node::Text(_)) | (Node::Text(_), Node::Bytes(_))
            );
            if !equivalent {
                let hint = match (nx, ny) {
                    (Node::OrderedDict(_), Node::Dict(_)) => {
                        ": the order is no longer part of the value, and OrderedDict methods (move_to_end, popitem(last=)) are gone"
                    }
                    (Node::Dict(_), Node::OrderedDict(_)) => {
                        ": equality with a dict now ignores order, but == between two of them does not"
                    }
                    (Node::Set(_), Node::FrozenSet(_)) => {
                        ": it can no longer be changed (add/discard raise AttributeError)"
                    }
                    (Node::FrozenSet(_), Node::Set(_)) => {
                        ": it is no longer hashable (cannot be a dict key or a set member)"
                    }
                    (Node::List(_), Node::Tuple(_)) | (Node::Tuple(_), Node::List(_)) => {
                        ": list == tuple is False"
                    }
                    _ => "",
                };
                return format!(
                    "type change: {} on {art} is a {ty} on {brt}{hint}",
                    role.noun(&format!("a {tx}"))
                );
            }
        }
        let (cx, cy) = (ah.children(x), bh.children(y));
        if cx.len() != cy.len() {
            return format!(
                "a {tx} with {} items on {art} has {} on {brt}",
                cx.len(),
                cy.len()
            );
        }
        let keyed = matches!(
            nx,
            Node::Dict(_) | Node::OrderedDict(_) | Node::Instance { .. }
        );
        let set = matches!(nx, Node::Set(_) | Node::FrozenSet(_));
        if keyed || set {
            // Same members in another order: say so rather than point at one member.
            let step = if keyed { 2 } else { 1 };
            let group = |h: &Heap, ids: &[Id], rt: Runtime| -> Vec<String> {
                ids.chunks(step)
                    .map(|c| {
                        c.iter()
                            .map(|&i| portable(h, i, rt))
                            .collect::<Vec<_>>()
                            .join(": ")
                    })
                    .collect()
            };
            let mut sx = group(ah, &cx, art);
            let mut sy = group(bh, &cy, brt);
            if sx != sy {
                sx.sort();
                sy.sort();
                if sx == sy && !set {
                    return format!(
                        "ordering: the {tx} has the same items on {brt} in another order (iteration order, and == for OrderedDict, differ)"
                    );
                }
            }
        }
        let dict_like = matches!(
            nx,
            Node::Dict(_) | Node::OrderedDict(_) | Node::DefaultDict { .. }
        );
        let skip = usize::from(matches!(nx, Node::DefaultDict { .. }));
        for (i, (p, q)) in cx.into_iter().zip(cy).enumerate().rev() {
            let role = if set {
                Role::Member
            } else if dict_like && i >= skip && (i - skip) % 2 == 0 {
                Role::Key
            } else {
                Role::Value
            };
            todo.push((p, q, role));
        }
    }
    "the value differs (same types, other contents)".to_string()
}

/// Python's repr of a text: py3 `'café'`, py2 `u'caf\xe9'` (the first 40 characters).
fn py_text(t: &[u8], py2: bool) -> String {
    let cps: Vec<u32> = codec::code_points(t).collect();
    let has_single = cps.contains(&('\'' as u32));
    let quote = if has_single && !cps.contains(&('"' as u32)) {
        '"'
    } else {
        '\''
    };
    let mut s = String::from(if py2 { "u" } else { "" });
    s.push(quote);
    for &cp in cps.iter().take(40) {
        match cp {
            0x5c => s.push_str("\\\\"),
            0x0a => s.push_str("\\n"),
            0x0d => s.push_str("\\r"),
            0x09 => s.push_str("\\t"),
            c if c == quote as u32 => {
                s.push('\\');
                s.push(quote);
            }
            0x20..=0x7e => s.push(cp as u8 as char),
            c if c <= 0xff && (py2 || c < 0xa1 || c == 0xad) => {
                s.push_str(&format!("\\x{c:02x}"));
            }
            c if c <= 0xffff
                && (py2
                    || (0xd800..=0xdfff).contains(&c)
                    || (0xe000..=0xf8ff).contains(&c)
                    || (0x2000..=0x200f).contains(&c)
                    || (0x2028..=0x202f).contains(&c)
                    || (0x2060..=0x206f).contains(&c)
                    || c == 0x3000
                    || c == 0xfeff) =>
            {
                s.push_str(&format!("\\u{c:04x}"));
            }
            c if py2 => s.push_str(&format!("\\U{c:08x}")),
            c => match char::from_u32(c) {
                Some(ch) => s.push(ch),
                None => s.push_str(&format!("\\U{c:08x}")),
            },
        }
    }
    if cps.len() > 40 {
        s.push_str("...");
    }
    s.push(quote);
    s
}

/// Python's repr of a byte string: py3 `b'caf\xc3\xa9'`, py2 `'caf\xc3\xa9'` (first 40 bytes).
fn py_bytes(b: &[u8], py2: bool) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut s = String::from(if py2 { "" } else { "b" });
    s.push(quote);
    for &c in b.iter().take(40) {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            c if c == quote as u8 => {
                s.push('\\');
                s.push(quote);
            }
            0x20..=0x7e => s.push(c as char),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    if b.len() > 40 {
        s.push_str("...");
    }
    s.push(quote);
    s
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
            matches!(&c.new_reads, Check::Fails { error } if error.starts_with("UnicodeDecodeError"))
        );
        assert_eq!(c.old_reads_new_write, Check::Skipped);
        let c = judge(
            p,
            &side("2.7", "", "werkzeug"),
            &side("3.8", "encoding=latin1", "werkzeug"),
        );
        assert!(
            matches!(&c.new_reads, Check::Changes { explanation } if explanation.starts_with("mojibake"))
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
            Check::Fails {
                error: "ValueError: unsupported pickle protocol: 4".into()
            }
        );
        assert_eq!(c.new_reads_old_write, Check::Ok);
    }
}
