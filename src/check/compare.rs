//! Whether two runtimes got the same value, and if not, the first difference: one walk over both
//! values at once, linear in their size (shared references and cycles included: each pair of
//! nodes is visited once), charged to the verdict's meter. The cross-version equivalences (a py2
//! `long` is an `int`, a py2 ASCII `str` is text, every NaN is NaN) are applied while walking.
//!
//! "Same" is the canonical rendering's equality (corpora/README.md): mutable objects are matched
//! one to one (the same sharing), dicts, sets and instance dicts by their keys whatever the order,
//! and everything else in order; exceptions compare by class and `args`, zoneinfo by key.

use super::change::{Change, Kind, Role};
use crate::meter;
use crate::runtime::codec;
use crate::runtime::load::type_name;
use crate::runtime::repr;
use crate::runtime::value::{Global, Heap, Id, Node, Reduce};
use crate::runtime::{Runtime, render};
use num_bigint::BigInt;
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};

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

/// Key fingerprints: `exact` tells keys apart as the compared values must match them (types
/// included, after the equivalences), `loose` as Python's equality would (1 == 1.0 == True, a str
/// and bytes of the same content), to explain what became of a key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Fp {
    exact: (u64, u64),
    loose: (u64, u64),
}

fn hash_states() -> &'static [foldhash::quality::RandomState; 2] {
    static S: std::sync::OnceLock<[foldhash::quality::RandomState; 2]> = std::sync::OnceLock::new();
    S.get_or_init(Default::default)
}

struct H2(
    foldhash::quality::FoldHasher<'static>,
    foldhash::quality::FoldHasher<'static>,
);

impl H2 {
    fn new(tag: u8) -> H2 {
        let s = hash_states();
        let mut h = H2(s[0].build_hasher(), s[1].build_hasher());
        h.u8(tag);
        h
    }
    fn u8(&mut self, b: u8) {
        self.0.write_u8(b);
        self.1.write_u8(b);
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.write(b);
        self.1.write(b);
        self.0.write_usize(b.len());
        self.1.write_usize(b.len());
    }
    fn pair(&mut self, p: (u64, u64)) {
        self.0.write_u64(p.0);
        self.1.write_u64(p.1);
    }
    fn finish(&self) -> (u64, u64) {
        (self.0.finish(), self.1.finish())
    }
}

fn int_fp(v: &BigInt) -> (u64, u64) {
    let mut h = H2::new(b'n');
    match i64::try_from(v) {
        Ok(x) => h.bytes(&x.to_le_bytes()),
        Err(_) => h.bytes(&v.to_signed_bytes_le()),
    }
    h.finish()
}

/// Canonical bits of a float (every NaN alike).
fn float_bits(f: f64) -> u64 {
    if f.is_nan() {
        f64::NAN.to_bits()
    } else {
        f.to_bits()
    }
}

fn same_float(p: f64, q: f64) -> bool {
    p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan())
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

    /// Match items by key (in order first; by fingerprint where the order differs) and queue
    /// each matched key and value. `ordered`: another order is itself a change.
    #[allow(clippy::too_many_arguments)]
    fn by_key(
        &mut self,
        f: u32,
        nx: &Node,
        p: &[(Id, Option<Id>)],
        q: &[(Id, Option<Id>)],
        ordered: bool,
        how: Keyed,
        kids: &mut Vec<(Id, Id, Step)>,
    ) -> W<()> {
        let py2 = self.a.rt.is_py2();
        let a_type = || type_name(nx, py2);
        if p.len() != q.len() {
            return Err(self.stop(
                f,
                Kind::Length {
                    a_type: a_type(),
                    a_len: p.len(),
                    b_len: q.len(),
                },
            ));
        }
        let mut in_order = true;
        for (&(k, _), &(l, _)) in p.iter().zip(q) {
            let same = match self.leaf_key_eq(k, l) {
                Some(same) => same,
                None => self.fp(true, k)?.exact == self.fp(false, l)?.exact,
            };
            if !same {
                in_order = false;
                break;
            }
        }
        let matched: Vec<(usize, usize)> = if in_order {
            (0..p.len()).map(|i| (i, i)).collect()
        } else {
            let m = self.match_keys(p, q)?;
            if ordered {
                return Err(self.stop(f, Kind::Ordering { a_type: a_type() }));
            }
            m
        };
        for (i, j) in matched {
            let ((k, v), (l, w)) = (p[i], q[j]);
            match how {
                Keyed::Member => kids.push((k, l, Step::Member(k))),
                Keyed::Item => kids.push((k, l, Step::Key(k))),
                Keyed::Attr => kids.push((k, l, Step::Key(k))),
            }
            if let (Some(v), Some(w)) = (v, w) {
                let step = match how {
                    Keyed::Attr => Step::AttrOf(k),
                    _ => Step::Value(k),
                };
                kids.push((v, w, step));
            }
        }
        Ok(())
    }

    /// Pair the keys of `p` and `q` (same length) whatever their order: by exact fingerprint, then
    /// what is left by Python's equality; a key left over is a change.
    fn match_keys(
        &mut self,
        p: &[(Id, Option<Id>)],
        q: &[(Id, Option<Id>)],
    ) -> W<Vec<(usize, usize)>> {
        let mut exact: crate::fasthash::Map<(u64, u64), VecDeque<usize>> = crate::fasthash::map();
        for (j, &(l, _)) in q.iter().enumerate() {
            exact
                .entry(self.fp(false, l)?.exact)
                .or_default()
                .push_back(j);
        }
        let mut out = Vec::with_capacity(p.len());
        let mut left = Vec::new();
        for (i, &(k, _)) in p.iter().enumerate() {
            match exact
                .get_mut(&self.fp(true, k)?.exact)
                .and_then(VecDeque::pop_front)
            {
                Some(j) => out.push((i, j)),
                None => left.push(i),
            }
        }
        if left.is_empty() {
            return Ok(out);
        }
        let mut rest: Vec<usize> = exact.into_values().flatten().collect();
        rest.sort_unstable();
        let mut loose: crate::fasthash::Map<(u64, u64), VecDeque<usize>> = crate::fasthash::map();
        for &j in &rest {
            loose
                .entry(self.fp(false, q[j].0)?.loose)
                .or_default()
                .push_back(j);
        }
        let mut unmatched = Vec::new();
        for i in left {
            match loose
                .get_mut(&self.fp(true, p[i].0)?.loose)
                .and_then(VecDeque::pop_front)
            {
                Some(j) => out.push((i, j)),
                None => unmatched.push(i),
            }
        }
        // What is left was changed into another key (mojibake, another number): paired in
        // order, so that the walk says what each became.
        let mut others: Vec<usize> = loose.into_values().flatten().collect();
        others.sort_unstable();
        out.extend(unmatched.into_iter().zip(others));
        out.sort_unstable();
        Ok(out)
    }

    /// Whether two scalar keys are the same key as [`Fp::exact`] tells them apart, without
    /// hashing them (the common case: keys in the same order on both sides); `None` for keys
    /// that need their fingerprint (tuples, frozensets, objects).
    fn leaf_key_eq(&self, k: Id, l: Id) -> Option<bool> {
        let (nk, nl) = (self.a.heap.get(k), self.b.heap.get(l));
        Some(match (nk, nl) {
            (Node::Text(p) | Node::Bytes(p), Node::Text(q) | Node::Bytes(q)) => {
                p == q && self.is_text(nk, true) == self.is_text(nl, false)
            }
            (Node::Int(p), Node::Int(q)) | (Node::Long(p), Node::Long(q)) => p == q,
            (Node::Int(p) | Node::Long(p), Node::Int(q) | Node::Long(q)) => {
                self.opts.portable && p == q
            }
            (Node::None, Node::None) => true,
            (Node::Bool(p), Node::Bool(q)) => p == q,
            (Node::Float(p), Node::Float(q)) => float_bits(*p) == float_bits(*q),
            _ => return None,
        })
    }

    /// The fingerprint of a key on side `a` (`side_a`) or `b`, computed once per node.
    fn fp(&mut self, side_a: bool, id: Id) -> W<Fp> {
        let s = usize::from(!side_a);
        if let Some(fp) = self.fps[s].get(&id) {
            return Ok(*fp);
        }
        let fp = self.fp_at(side_a, id, 0)?;
        self.fps[s].insert(id, fp);
        Ok(fp)
    }

    fn fp_at(&mut self, side_a: bool, id: Id, depth: usize) -> W<Fp> {
        if !meter::ops(1) {
            return Err(Stop::Budget);
        }
        let v = if side_a { self.a } else { self.b };
        let n = v.heap.get(id);
        let same = |h: H2| {
            let x = h.finish();
            Fp { exact: x, loose: x }
        };
        let portable = self.opts.portable;
        Ok(match n {
            Node::None => same(H2::new(0)),
            Node::Bool(b) => {
                let mut e = H2::new(b'b');
                e.u8(u8::from(*b));
                Fp {
                    exact: e.finish(),
                    loose: int_fp(&BigInt::from(u8::from(*b))),
                }
            }
            Node::Int(x) | Node::Long(x) => {
                let mut e = H2::new(if portable || matches!(n, Node::Int(_)) {
                    b'i'
                } else {
                    b'l'
                });
                e.bytes(&x.to_signed_bytes_le());
                Fp {
                    exact: e.finish(),
                    loose: int_fp(x),
                }
            }
            Node::Float(x) => {
                let mut e = H2::new(b'f');
                e.bytes(&float_bits(*x).to_le_bytes());
                let loose = if x.is_finite() && x.fract() == 0.0 {
                    match num_traits::FromPrimitive::from_f64(*x) {
                        Some(b) => int_fp(&b),
                        None => e.finish(),
                    }
                } else {
                    e.finish()
                };
                Fp {
                    exact: e.finish(),
                    loose,
                }
            }
            Node::Text(t) | Node::Bytes(t) => {
                meter::ops((t.len() / 64) as u64);
                let mut e = H2::new(if self.is_text(n, side_a) { b't' } else { b'y' });
                e.bytes(t);
                let mut l = H2::new(b's');
                l.bytes(t);
                Fp {
                    exact: e.finish(),
                    loose: l.finish(),
                }
            }
            Node::Tuple(items) | Node::FrozenSet(items) if depth < 256 => {
                let frozen = matches!(n, Node::FrozenSet(_));
                let mut parts = Vec::with_capacity(items.len());
                for &i in items.iter() {
                    let fp = match self.fps[usize::from(!side_a)].get(&i) {
                        Some(fp) => *fp,
                        None => {
                            let fp = self.fp_at(side_a, i, depth + 1)?;
                            self.fps[usize::from(!side_a)].insert(i, fp);
                            fp
                        }
                    };
                    parts.push(fp);
                }
                if frozen {
                    parts.sort_unstable_by_key(|p| (p.exact, p.loose));
                }
                let tag = if frozen { b'F' } else { b'T' };
                let (mut e, mut l) = (H2::new(tag), H2::new(tag));
                let mut loose: Vec<(u64, u64)> = parts.iter().map(|p| p.loose).collect();
                if frozen {
                    loose.sort_unstable();
                }
                for p in &parts {
                    e.pair(p.exact);
                }
                for p in loose {
                    l.pair(p);
                }
                Fp {
                    exact: e.finish(),
                    loose: l.finish(),
                }
            }
            Node::Decimal(s) => {
                let mut e = H2::new(b'D');
                e.bytes(s.as_bytes());
                same(e)
            }
            Node::Date(x) | Node::Timedelta(x) => {
                let mut e = H2::new(if matches!(n, Node::Date(_)) {
                    b'd'
                } else {
                    b'T'
                });
                for v in x {
                    e.bytes(&v.to_le_bytes());
                }
                same(e)
            }
            Node::Datetime { fields, .. } => {
                let mut e = H2::new(b'W');
                for v in fields {
                    e.bytes(&v.to_le_bytes());
                }
                same(e)
            }
            Node::Time { fields, .. } => {
                let mut e = H2::new(b'h');
                for v in fields {
                    e.bytes(&v.to_le_bytes());
                }
                same(e)
            }
            Node::Global(g) => {
                let (m, name) = self.portable_name(g, side_a);
                let mut e = H2::new(b'G');
                e.bytes(m.as_bytes());
                e.bytes(name.as_bytes());
                same(e)
            }
            _ => {
                // Hashed by identity in Python (instances) or too deep to follow: by type, and
                // items of one type are paired in order.
                let mut e = H2::new(b'?');
                e.bytes(type_name(n, v.rt.is_py2()).as_bytes());
                same(e)
            }
        })
    }

    /// The change where two strings differ (their types or contents), named as a developer
    /// knows it: mojibake, str -> bytes, text -> py2 str, str -> unicode, bytes -> py2 str.
    fn string_change(&self, f: u32, nx: &Node, ny: &Node) -> Stop {
        let (art, brt) = (self.a.rt, self.b.rt);
        let kind = match (nx, ny) {
            (Node::Bytes(p), Node::Text(t)) if art.is_py2() && !p.is_ascii() => {
                let latin1 = codec::decode_latin1(p);
                let (a_repr, b_repr) = (repr::bytes(p, true), repr::text(t, brt.is_py2()));
                if &latin1 == t && std::str::from_utf8(p).is_ok() {
                    Kind::Mojibake { a_repr, b_repr }
                } else {
                    Kind::Py2StrDecoded { a_repr, b_repr }
                }
            }
            (Node::Text(t), Node::Bytes(p)) if brt.is_py2() && !art.is_py2() => {
                Kind::TextBecamePy2Str {
                    a_repr: repr::text(t, false),
                    b_repr: repr::bytes(p, true),
                }
            }
            (Node::Bytes(p), Node::Bytes(q)) if art.is_py2() && !brt.is_py2() && p == q => {
                Kind::StrBecameBytes {
                    a_repr: repr::bytes(p, true),
                    b_repr: repr::bytes(p, false),
                    text_repr: repr::text(p, false),
                    encoding_bytes: self.opts.bytes_enc,
                }
            }
            (Node::Bytes(p), Node::Text(t)) if art.is_py2() && brt.is_py2() && p == t => {
                Kind::StrBecameUnicode {
                    a_repr: repr::bytes(p, true),
                    b_repr: repr::text(t, true),
                }
            }
            (Node::Bytes(p), Node::Bytes(q)) if !art.is_py2() && brt.is_py2() && p == q => {
                Kind::BytesBecamePy2Str {
                    a_repr: repr::bytes(p, false),
                    b_repr: repr::bytes(p, true),
                }
            }
            _ => {
                let same_kind = std::mem::discriminant(nx) == std::mem::discriminant(ny);
                let same_content = match (nx, ny) {
                    (Node::Text(p) | Node::Bytes(p), Node::Text(q) | Node::Bytes(q)) => p == q,
                    _ => false,
                };
                if same_kind || !same_content {
                    Kind::Differs {
                        a_repr: show(nx, art),
                        b_repr: show(ny, brt),
                    }
                } else {
                    Kind::TypeChange {
                        a_type: type_name(nx, art.is_py2()),
                        b_type: type_name(ny, brt.is_py2()),
                        hint: "",
                    }
                }
            }
        };
        self.stop(f, kind)
    }
}

/// The repr of a string node.
fn show(n: &Node, rt: Runtime) -> String {
    match n {
        Node::Text(t) => repr::text(t, rt.is_py2()),
        Node::Bytes(b) => repr::bytes(b, rt.is_py2()),
        _ => String::new(),
    }
}

#[derive(Clone, Copy)]
enum Keyed {
    Member,
    Item,
    Attr,
}
use Keyed::{Attr, Item, Member};

fn items(kv: &[(Id, Id)]) -> Vec<(Id, Option<Id>)> {
    kv.iter().map(|&(k, v)| (k, Some(v))).collect()
}

/// The value of a UUID instance's `int` attribute.
fn uuid_int(h: &Heap, dict: &[(Id, Id)]) -> Option<Id> {
    dict.iter()
        .find(|&&(k, _)| matches!(h.get(k), Node::Text(t) | Node::Bytes(t) if t == b"int"))
        .map(|&(_, v)| v)
}

fn type_hint(nx: &Node, ny: &Node) -> &'static str {
    match (nx, ny) {
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
    }
}
