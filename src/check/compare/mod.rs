//! Whether two runtimes got the same value, and if not, the first difference: one walk over both
//! values at once, linear in their size (shared references and cycles included: each pair of
//! nodes is visited once), charged to the verdict's meter. The cross-version equivalences (a py2
//! `long` is an `int`, a py2 ASCII `str` is text, every NaN is NaN) are applied while walking.
//!
//! "Same" is the canonical rendering's equality (corpora/README.md): mutable objects are matched
//! one to one (the same sharing), dicts, sets and instance dicts by their keys whatever the order,
//! and everything else in order; exceptions compare by class and `args`, zoneinfo by key.

mod keys;
mod strings;

use super::change::{Change, Kind, Role};
use crate::meter;
use crate::runtime::codec;
use crate::runtime::load::type_name;
use crate::runtime::repr;
use crate::runtime::value::{Global, Heap, Id, Node, Reduce};
use crate::runtime::{Runtime, render};
use keys::Keyed::{Attr, Item, Member};
use keys::{Fp, items, same_float};
use strings::type_hint;

/// One side of a comparison.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub heap: &'a Heap,
    pub root: Id,
    pub rt: Runtime,
}

/// How to compare.
#[derive(Clone, Copy, Default)]
pub struct Opts {
    /// Across runtimes: apply the cross-version equivalences (a round trip back to the same
    /// runtime compares exactly).
    pub portable: bool,
    /// `b` is what its reader got from bytes `a`'s runtime wrote: a py2 `long` that py2 itself
    /// would hold as `int` was made by that write (int -> long).
    pub written: bool,
    /// The reader loads with encoding='bytes' (said in the explanation).
    pub bytes_enc: bool,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    Same,
    Differs(Box<Change>),
    /// The verdict's meter ran out during the walk.
    OverBudget,
}

const FREE: Id = Id::MAX;

/// A step from a container to one of its parts.
#[derive(Clone, Copy)]
enum Step {
    Root,
    Index(usize),
    /// The value under a key (the key node on side `a`).
    Value(Id),
    /// The key itself.
    Key(Id),
    /// A set member.
    Member(Id),
    /// A named part (`.args`, `.tzinfo`).
    Attr(&'static str),
    /// An instance attribute (its name: the key node on side `a`).
    AttrOf(Id),
}

struct Frame {
    parent: u32,
    step: Step,
}

/// Compare the values at `a` and `b`.
pub fn compare(a: View<'_>, b: View<'_>, opts: Opts) -> Outcome {
    Walk::new(a, b, opts).run()
}

struct Walk<'a> {
    a: View<'a>,
    b: View<'a>,
    opts: Opts,
    /// `a` counts a py2 ASCII `str` as text (portable, py2 side); likewise `b`.
    a_text_ascii: bool,
    b_text_ascii: bool,
    to_b: Vec<Id>,
    to_a: Vec<Id>,
    /// Pairs of immutable nodes already compared beyond the first pairing of each `a` node.
    pairs: crate::fasthash::Map<(Id, Id), ()>,
    frames: Vec<Frame>,
    fps: [crate::fasthash::Map<Id, Fp>; 2],
    /// The first int -> long of a written value (reported if nothing else differs).
    soft: Option<Box<Change>>,
}

/// Why a walk stopped early.
enum Stop {
    Differs(Box<Change>),
    Budget,
}

type W<T> = Result<T, Stop>;

impl<'a> Walk<'a> {
    fn new(a: View<'a>, b: View<'a>, opts: Opts) -> Walk<'a> {
        // Both node arrays are charged once (the maps below are the walk's memory).
        meter::bytes(16 * (a.heap.len() + b.heap.len()) as u64);
        Walk {
            a,
            b,
            opts,
            a_text_ascii: opts.portable && a.rt.is_py2(),
            b_text_ascii: opts.portable && b.rt.is_py2(),
            to_b: vec![FREE; a.heap.len()],
            to_a: vec![FREE; b.heap.len()],
            pairs: crate::fasthash::map(),
            frames: vec![Frame {
                parent: 0,
                step: Step::Root,
            }],
            fps: [crate::fasthash::map(), crate::fasthash::map()],
            soft: None,
        }
    }

    fn run(mut self) -> Outcome {
        let mut todo: Vec<(Id, Id, u32)> = vec![(self.a.root, self.b.root, 0)];
        let mut kids: Vec<(Id, Id, Step)> = Vec::new();
        while let Some((x, y, f)) = todo.pop() {
            if !meter::ops(1) {
                return Outcome::OverBudget;
            }
            if x >= self.to_b.len() || y >= self.to_a.len() {
                return Outcome::OverBudget;
            }
            let (mx, my) = (self.a.heap.is_mutable(x), self.b.heap.is_mutable(y));
            if mx && my {
                match (self.to_b[x], self.to_a[y]) {
                    (FREE, FREE) => {
                        self.to_b[x] = y;
                        self.to_a[y] = x;
                    }
                    (bx, ay) if bx == y && ay == x => continue,
                    _ => {
                        let t = type_name(self.a.heap.get(x), self.a.rt.is_py2());
                        return self.differs(f, Kind::Sharing { a_type: t });
                    }
                }
            } else if !mx && !my {
                if self.to_b[x] == y {
                    continue;
                }
                if self.to_b[x] == FREE {
                    self.to_b[x] = y;
                } else if self.pairs.insert((x, y), ()).is_some() {
                    continue;
                }
            }
            kids.clear();
            match self.node(x, y, f, &mut kids) {
                Ok(()) => {}
                Err(Stop::Differs(c)) => return Outcome::Differs(c),
                Err(Stop::Budget) => return Outcome::OverBudget,
            }
            for &(p, q, step) in kids.iter().rev() {
                let id = self.frames.len() as u32;
                self.frames.push(Frame { parent: f, step });
                todo.push((p, q, id));
            }
        }
        match self.soft {
            Some(c) => Outcome::Differs(c),
            None => Outcome::Same,
        }
    }

    fn differs(&self, f: u32, kind: Kind) -> Outcome {
        Outcome::Differs(self.change(f, kind))
    }

    fn stop(&self, f: u32, kind: Kind) -> Stop {
        Stop::Differs(self.change(f, kind))
    }

    /// The change at frame `f`: its path rendered with side `a`'s reprs.
    fn change(&self, f: u32, kind: Kind) -> Box<Change> {
        let mut steps = Vec::new();
        let mut i = f;
        while i != 0 {
            let fr = &self.frames[i as usize];
            steps.push(fr.step);
            i = fr.parent;
        }
        steps.reverse();
        let role = match steps.last() {
            Some(Step::Key(_)) => Role::Key,
            Some(Step::Member(_)) => Role::Member,
            _ => Role::Value,
        };
        let (h, rt) = (self.a.heap, self.a.rt);
        let mut path = String::new();
        let n = steps.len();
        for (k, s) in steps.into_iter().enumerate() {
            let last = k + 1 == n;
            match s {
                Step::Root => {}
                Step::Index(i) => path.push_str(&format!("[{i}]")),
                Step::Value(key) => path.push_str(&format!("[{}]", repr::short(h, key, rt))),
                Step::Key(key) if !last => {
                    path.push_str(&format!("<key {}>", repr::short(h, key, rt)))
                }
                Step::Member(m) if !last => {
                    path.push_str(&format!("<member {}>", repr::short(h, m, rt)))
                }
                Step::Key(_) | Step::Member(_) => {}
                Step::Attr(name) => {
                    path.push('.');
                    path.push_str(name);
                }
                Step::AttrOf(key) => match h.get(key) {
                    Node::Text(t) | Node::Bytes(t)
                        if !t.is_empty()
                            && t.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_') =>
                    {
                        path.push('.');
                        path.push_str(&String::from_utf8_lossy(t));
                    }
                    _ => path.push_str(&format!(".__dict__[{}]", repr::short(h, key, rt))),
                },
            }
        }
        Box::new(Change {
            path,
            role,
            kind,
            a: self.a.rt,
            b: self.b.rt,
            via: None,
        })
    }

    /// A class or function as the other side's runtime knows it: across py2 and py3 a py2 name
    /// goes through the py3 runtime's `_compat_pickle` mapping (`__builtin__.int` is
    /// `builtins.int`, `exceptions.ValueError` is `builtins.ValueError`).
    fn portable_name(&self, g: &Global, side_a: bool) -> (String, String) {
        let (me, other) = if side_a {
            (self.a.rt, self.b.rt)
        } else {
            (self.b.rt, self.a.rt)
        };
        if self.opts.portable && me.is_py2() && !other.is_py2() {
            let compat = crate::runtime::generated::compat_tables(&other.to_string())
                .or_else(|| crate::runtime::generated::compat_tables("3.13"));
            if let Some(c) = compat {
                if let Some((m, n)) = c.name(&g.module, &g.name) {
                    return (m.to_string(), n.to_string());
                }
                if let Some(m) = c.import(&g.module) {
                    return (m.to_string(), g.name.clone());
                }
            }
        }
        // `os.path` is `posixpath` (the rendering's `qualified`).
        let module = if g.module == "os.path" {
            "posixpath".to_string()
        } else {
            g.module.clone()
        };
        (module, g.name.clone())
    }

    fn same_global(&self, g: &Global, h: &Global) -> bool {
        if self.portable_name(g, true) != self.portable_name(h, false) {
            return false;
        }
        render::global_predictable(g) == render::global_predictable(h)
    }

    /// Classes as the canonical rendering names them (the module `__module__` says), across
    /// versions as [`Walk::portable_name`] maps them.
    fn same_class(&self, c: &Global, k: &Global) -> bool {
        render::class_key(c) == render::class_key(k)
            || self.portable_name(c, true) == self.portable_name(k, false)
    }

    /// Whether a node counts as text on its side (after the equivalences).
    fn is_text(&self, n: &Node, side_a: bool) -> bool {
        let ascii_is_text = if side_a {
            self.a_text_ascii
        } else {
            self.b_text_ascii
        };
        match n {
            Node::Text(_) => true,
            Node::Bytes(b) => ascii_is_text && b.is_ascii(),
            _ => false,
        }
    }

    /// Compare the heads of `x` and `y`; the pairs of parts to compare go to `kids`.
    fn node(&mut self, x: Id, y: Id, f: u32, kids: &mut Vec<(Id, Id, Step)>) -> W<()> {
        let (ah, bh) = (self.a.heap, self.b.heap);
        let (art, brt) = (self.a.rt, self.b.rt);
        let (nx, ny) = (ah.get(x), bh.get(y));
        let differs = |w: &Self| {
            w.stop(
                f,
                Kind::Differs {
                    a_repr: repr::short(ah, x, art),
                    b_repr: repr::short(bh, y, brt),
                },
            )
        };
        match (nx, ny) {
            (Node::Text(p) | Node::Bytes(p), Node::Text(q) | Node::Bytes(q)) => {
                meter::ops((p.len() / 64) as u64);
                let (tx, ty) = (self.is_text(nx, true), self.is_text(ny, false));
                if tx == ty && p == q {
                    return Ok(());
                }
                Err(self.string_change(f, nx, ny))
            }
            (Node::Int(p) | Node::Long(p), Node::Int(q) | Node::Long(q)) => {
                let same_type = std::mem::discriminant(nx) == std::mem::discriminant(ny);
                if p != q {
                    return Err(differs(self));
                }
                let long_on_py2 = matches!((nx, ny), (Node::Int(_), Node::Long(_)))
                    && brt.is_py2()
                    && i64::try_from(p).is_ok();
                if same_type {
                    return Ok(());
                }
                if self.opts.portable {
                    if long_on_py2 && self.opts.written && !art.is_py2() && self.soft.is_none() {
                        self.soft = Some(self.change(
                            f,
                            Kind::IntBecameLong {
                                n: p.to_string(),
                                writer: Some(art),
                            },
                        ));
                    }
                    return Ok(());
                }
                if long_on_py2 {
                    // A round trip between py2 ends: the py3 runtime in the middle wrote the LONG.
                    return Err(self.stop(
                        f,
                        Kind::IntBecameLong {
                            n: p.to_string(),
                            writer: None,
                        },
                    ));
                }
                Err(self.stop(
                    f,
                    Kind::TypeChange {
                        a_type: type_name(nx, art.is_py2()),
                        b_type: type_name(ny, brt.is_py2()),
                        hint: ": the same number, of another type (type(x) and repr differ)",
                    },
                ))
            }
            (Node::None, Node::None) => Ok(()),
            (Node::Bool(p), Node::Bool(q)) if p == q => Ok(()),
            (Node::Float(p), Node::Float(q)) if same_float(*p, *q) => Ok(()),
            (Node::Complex(p, i), Node::Complex(q, j))
                if same_float(*p, *q) && same_float(*i, *j) =>
            {
                Ok(())
            }
            (Node::ByteArray(p), Node::ByteArray(q)) if p == q => Ok(()),
            (Node::Date(p), Node::Date(q)) if p == q => Ok(()),
            (Node::Timedelta(p), Node::Timedelta(q)) if p == q => Ok(()),
            (Node::Decimal(p), Node::Decimal(q)) if p == q => Ok(()),
            (Node::Range(p), Node::Range(q)) if p == q => Ok(()),
            (Node::Global(g), Node::Global(h)) if self.same_global(g, h) => Ok(()),
            (Node::MemoryView(_), Node::MemoryView(_)) => Ok(()),
            (Node::List(p), Node::List(q)) | (Node::Tuple(p), Node::Tuple(q)) => {
                self.in_order(f, nx, p, q, kids)
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
            ) => {
                if m != n {
                    return Err(differs(self));
                }
                self.in_order(f, nx, p, q, kids)
            }
            (Node::Set(p), Node::Set(q)) | (Node::FrozenSet(p), Node::FrozenSet(q)) => {
                let pa: Vec<(Id, Option<Id>)> = p.iter().map(|&k| (k, None)).collect();
                let pb: Vec<(Id, Option<Id>)> = q.iter().map(|&k| (k, None)).collect();
                self.by_key(f, nx, &pa, &pb, false, Member, kids)
            }
            (Node::Dict(p), Node::Dict(q)) => {
                self.by_key(f, nx, &items(p), &items(q), false, Item, kids)
            }
            (Node::OrderedDict(p), Node::OrderedDict(q)) => {
                self.by_key(f, nx, &items(p), &items(q), true, Item, kids)
            }
            (
                Node::DefaultDict {
                    factory: g,
                    items: p,
                },
                Node::DefaultDict {
                    factory: h,
                    items: q,
                },
            ) => {
                self.by_key(f, nx, &items(p), &items(q), false, Item, kids)?;
                kids.insert(0, (*g, *h, Step::Attr("default_factory")));
                Ok(())
            }
            (
                Node::Datetime {
                    fields: p,
                    tz: t,
                    fold: d,
                },
                Node::Datetime {
                    fields: q,
                    tz: u,
                    fold: e,
                },
            ) => {
                if p != q || d != e {
                    return Err(differs(self));
                }
                self.optional(f, *t, *u, "tzinfo", kids)
            }
            (
                Node::Time {
                    fields: p,
                    tz: t,
                    fold: d,
                },
                Node::Time {
                    fields: q,
                    tz: u,
                    fold: e,
                },
            ) => {
                if p != q || d != e {
                    return Err(differs(self));
                }
                self.optional(f, *t, *u, "tzinfo", kids)
            }
            (Node::Timezone { offset: o, name: m }, Node::Timezone { offset: p, name: n }) => {
                kids.push((*o, *p, Step::Attr("utcoffset")));
                self.optional(f, *m, *n, "tzname", kids)
            }
            (Node::ZoneInfo { key: k, .. }, Node::ZoneInfo { key: l, .. }) => {
                kids.push((*k, *l, Step::Attr("key")));
                Ok(())
            }
            (
                Node::Exception {
                    class: c, args: p, ..
                },
                Node::Exception {
                    class: k, args: q, ..
                },
            ) if self.same_class(c, k) => {
                kids.push((*p, *q, Step::Attr("args")));
                Ok(())
            }
            (Node::Instance { class: c, dict: p }, Node::Instance { class: k, dict: q })
                if self.same_class(c, k) =>
            {
                if c.module == "uuid" && c.name == "UUID" {
                    // A UUID is its 128-bit int (`__eq__`, `__hash__`, the 3.8+ slots); the
                    // other attributes (`is_safe`) are not part of the value.
                    match (uuid_int(ah, p), uuid_int(bh, q)) {
                        (Some(i), Some(j)) => {
                            kids.push((i, j, Step::Attr("int")));
                            return Ok(());
                        }
                        (None, None) => {}
                        _ => return Err(differs(self)),
                    }
                }
                self.by_key(f, nx, &items(p), &items(q), false, Attr, kids)
            }
            (
                Node::Opaque {
                    class: c,
                    reduce: r,
                },
                Node::Opaque {
                    class: k,
                    reduce: s,
                },
            ) if self.same_class(c, k) => match (r, s) {
                (None, None) => Ok(()),
                (Some(r), Some(s)) if r.newobj == s.newobj => self.reduce(f, r, s, kids),
                _ => Err(differs(self)),
            },
            _ => {
                if std::mem::discriminant(nx) == std::mem::discriminant(ny) {
                    // Same type, other contents (or another class of the same kind).
                    let same_kind_other_class = matches!(
                        (nx, ny),
                        (Node::Exception { .. }, Node::Exception { .. })
                            | (Node::Instance { .. }, Node::Instance { .. })
                            | (Node::Opaque { .. }, Node::Opaque { .. })
                    );
                    if !same_kind_other_class {
                        return Err(differs(self));
                    }
                }
                Err(self.stop(
                    f,
                    Kind::TypeChange {
                        a_type: type_name(nx, art.is_py2()),
                        b_type: type_name(ny, brt.is_py2()),
                        hint: type_hint(nx, ny),
                    },
                ))
            }
        }
    }

    fn reduce(&self, _f: u32, r: &Reduce, s: &Reduce, kids: &mut Vec<(Id, Id, Step)>) -> W<()> {
        kids.push((r.func, s.func, Step::Attr("__reduce__()[0]")));
        kids.push((r.args, s.args, Step::Attr("__reduce__()[1]")));
        match (r.state, s.state) {
            (None, None) => Ok(()),
            (Some(p), Some(q)) => {
                kids.push((p, q, Step::Attr("__reduce__()[2]")));
                Ok(())
            }
            _ => Err(self.stop(
                _f,
                Kind::Differs {
                    a_repr: "an object built with a state".into(),
                    b_repr: "one without".into(),
                },
            )),
        }
    }

    fn optional(
        &self,
        f: u32,
        p: Option<Id>,
        q: Option<Id>,
        name: &'static str,
        kids: &mut Vec<(Id, Id, Step)>,
    ) -> W<()> {
        match (p, q) {
            (None, None) => Ok(()),
            (Some(p), Some(q)) => {
                kids.push((p, q, Step::Attr(name)));
                Ok(())
            }
            (p, q) => {
                let show = |v: Option<Id>, h: &Heap, rt| match v {
                    Some(i) => repr::short(h, i, rt),
                    None => "None".to_string(),
                };
                Err(self.stop(
                    f,
                    Kind::Differs {
                        a_repr: format!(".{name} {}", show(p, self.a.heap, self.a.rt)),
                        b_repr: show(q, self.b.heap, self.b.rt),
                    },
                ))
            }
        }
    }

    fn in_order(
        &self,
        f: u32,
        nx: &Node,
        p: &[Id],
        q: &[Id],
        kids: &mut Vec<(Id, Id, Step)>,
    ) -> W<()> {
        if p.len() != q.len() {
            return Err(self.stop(
                f,
                Kind::Length {
                    a_type: type_name(nx, self.a.rt.is_py2()),
                    a_len: p.len(),
                    b_len: q.len(),
                },
            ));
        }
        kids.extend(
            p.iter()
                .zip(q)
                .enumerate()
                .map(|(i, (&x, &y))| (x, y, Step::Index(i))),
        );
        Ok(())
    }
}

/// The value of a UUID instance's `int` attribute.
fn uuid_int(h: &Heap, dict: &[(Id, Id)]) -> Option<Id> {
    dict.iter()
        .find(|&&(k, _)| matches!(h.get(k), Node::Text(t) | Node::Bytes(t) if t == b"int"))
        .map(|&(_, v)| v)
}
