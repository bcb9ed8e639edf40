//! Keys: fingerprints that tell dict keys and set members apart as the walk must match them,
//! and the matching of two containers' items by key whatever their order, each key hashed once.

use super::{Kind, Node, Step, Stop, W, Walk, meter, type_name};
use crate::runtime::value::Id;
use num_bigint::BigInt;
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};

/// Key fingerprints: `exact` tells keys apart as the compared values must match them (types
/// included, after the equivalences), `loose` as Python's equality would (1 == 1.0 == True, a str
/// and bytes of the same content), to explain what became of a key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Fp {
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
pub(super) fn float_bits(f: f64) -> u64 {
    if f.is_nan() {
        f64::NAN.to_bits()
    } else {
        f.to_bits()
    }
}

pub(super) fn same_float(p: f64, q: f64) -> bool {
    p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan())
}

#[derive(Clone, Copy)]
pub(super) enum Keyed {
    Member,
    Item,
    Attr,
}

pub(super) fn items(kv: &[(Id, Id)]) -> Vec<(Id, Option<Id>)> {
    kv.iter().map(|&(k, v)| (k, Some(v))).collect()
}

impl Walk<'_> {
    /// Match items by key (in order first; by fingerprint where the order differs) and queue
    /// each matched key and value. `ordered`: another order is itself a change.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn by_key(
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
    pub(super) fn fp(&mut self, side_a: bool, id: Id) -> W<Fp> {
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
}
