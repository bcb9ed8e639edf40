//! The five checks of cli.md, per value: `old_reads`, `new_reads`, `old_reads_new_write`,
//! `new_reads_old_write`, `round_trip`, built from the runtime models' `load` and `dump`, under one
//! budget per value (`meter`). Each outcome carries its finding as data: a [`Change`] kind with
//! its path and reprs, a [`Failure`] with the exception and the step that raised it; hazard codes
//! and sentences are derived from those.

pub mod change;
pub mod compare;
pub mod fast;
pub mod hazard;
mod layer;
mod outcome;
pub mod security;
mod value;

use crate::envelope::Writer;
use crate::meter;
use crate::runtime::Runtime;
use crate::runtime::load::LoadConfig;
pub use change::Change;
use compare::{Opts, View};
pub use hazard::Hazard;
pub use layer::{Form, Preparsed, Stored};
use layer::{Loaded, Read, layer_read, layer_read_with, layer_write};
pub use outcome::{Check, Checks, Failure, Unknown};
use std::rc::Rc;
pub use value::{ValueResult, show_key};

/// One side of a migration: a runtime, the load options its app uses, and its cache layer.
#[derive(Debug, Clone)]
pub struct Side {
    pub runtime: Runtime,
    pub load: LoadConfig,
    pub writer: Writer,
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
    if let Some(p) = pre
        && p.max_ops == old.load.budget.max_ops
        && let Some(c) = fast::judge(stored, p.parsed, old, new)
    {
        return c;
    }
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
            compare::Outcome::OverBudget => Check::budget_spent(),
        },
    )
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
        compare::Outcome::OverBudget => Check::budget_spent(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{LoadOptions, PyError};

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
            matches!(&c.new_reads, Check::Changes(ch) if matches!(ch.kind, change::Kind::Mojibake { .. }) && ch.hazard() == Hazard::Mojibake)
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
