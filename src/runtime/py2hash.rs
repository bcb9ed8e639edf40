//! CPython 2.7's hashes and its dict and set tables, so that the py2 dump writes dicts and sets
//! in the order a 2.7 process iterates them (its pickler walks `PyDict_Next` / `iter(set)`: the
//! table's slot order, which follows the keys' hashes, the insertion history and the resizes).
//!
//! Assumes a 64-bit Linux build (C `long` and `size_t` are 64 bits, 30-bit long digits, UCS4
//! `unicode`) with hash randomization off (2.7's default without `-R`: `_Py_HashSecret` prefix
//! and suffix are 0). What hashes by address (None, classes, functions, instances without their
//! own `__hash__`) differs from process to process: not predictable, said so.
//!
//! Held against the real 2.7.18 by `tests/py2_order.rs` and `tests/dump.rs`.

use super::codec;
use super::value::{Heap, Id, Node};
use crate::fasthash::{self, Map};
use num_bigint::{BigInt, Sign};
use num_traits::FromPrimitive;

/// Why a key's 2.7 hash (and so a table's order) cannot be predicted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpredictable(pub String);

type H<T> = Result<T, Unpredictable>;

fn not_known(what: &str) -> Unpredictable {
    Unpredictable(format!("py2 hash of {what}"))
}

/// `string_hash` (Objects/stringobject.c) and `unicode_hash` (Objects/unicodeobject.c): the same
/// loop over bytes or UCS4 code units, prefix and suffix 0, the empty string 0.
pub fn string_hash(units: impl IntoIterator<Item = u32>) -> i64 {
    let mut it = units.into_iter().peekable();
    let Some(&first) = it.peek() else {
        return 0;
    };
    let mut x: i64 = 0;
    x ^= (first as i64) << 7;
    let mut len: i64 = 0;
    for c in it {
        x = x.wrapping_mul(1_000_003) ^ c as i64;
        len += 1;
    }
    x ^= len;
    if x == -1 { -2 } else { x }
}

/// `int_hash` (Objects/intobject.c) and `long_hash` (Objects/longobject.c, 30-bit digits: the
/// value modulo `ULONG_MAX`, signed, -1 made -2), which agree wherever both apply.
pub fn long_hash(v: &BigInt) -> i64 {
    if let Ok(small) = i64::try_from(v) {
        // For |v| < 2**63 long_hash's loop gives |v| itself, times the sign.
        return if small == -1 { -2 } else { small };
    }
    let (sign, mag) = v.to_u64_digits();
    // The 30-bit digits, most significant first.
    let bits = mag.len() * 64;
    let ndigits = bits.div_ceil(30);
    let bit = |i: usize| -> u64 { (mag[i / 64] >> (i % 64)) & 1 };
    let digit = |d: usize| -> u64 {
        let mut out = 0u64;
        for b in (0..30).rev() {
            let i = d * 30 + b;
            if i < bits {
                out = (out << 1) | bit(i);
            } else {
                out <<= 1;
            }
        }
        out
    };
    let mut x: u64 = 0;
    for d in (0..ndigits).rev() {
        let dv = digit(d);
        x = x.rotate_left(30);
        x = x.wrapping_add(dv);
        if x < dv {
            x = x.wrapping_add(1);
        }
    }
    if sign == Sign::Minus {
        x = x.wrapping_neg();
    }
    if x == u64::MAX {
        x = u64::MAX - 1;
    }
    x as i64
}

/// C `frexp` for a finite non-zero double: (m, e) with 0.5 <= |m| < 1 and v == m * 2**e.
fn frexp(v: f64) -> (f64, i32) {
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(v * 2f64.powi(64));
        return (m, e - 64);
    }
    let m = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (m, exp - 1022)
}

/// `_Py_HashDouble` (Objects/object.c, 2.7): an integral value hashes as the equal int or long;
/// infinities +-314159/-271828, NaN 0; otherwise the frexp mantissa in two 31-bit halves plus
/// the exponent shifted by 15.
pub fn hash_double(v: f64) -> i64 {
    if !v.is_finite() {
        if v.is_infinite() {
            return if v < 0.0 { -271_828 } else { 314_159 };
        }
        return 0;
    }
    let intpart = v.trunc();
    if v - intpart == 0.0 {
        let half = (i64::MAX / 2) as f64;
        if intpart > half || -intpart > half {
            return match BigInt::from_f64(v) {
                Some(b) => long_hash(&b),
                None => 0,
            };
        }
        let x = intpart as i64;
        return if x == -1 { -2 } else { x };
    }
    let (m, expo) = frexp(v);
    let mut w = m * 2_147_483_648.0;
    let hipart = w as i64;
    w = (w - hipart as f64) * 2_147_483_648.0;
    let x = hipart
        .wrapping_add(w as i64)
        .wrapping_add(i64::from(expo) << 15);
    if x == -1 { -2 } else { x }
}

/// `tuplehash` (Objects/tupleobject.c, 2.7).
pub fn tuple_hash(items: &[i64]) -> i64 {
    let mut x: i64 = 0x345678;
    let mut mult: i64 = 1_000_003;
    let mut len = items.len() as i64;
    for &y in items {
        len -= 1;
        x = (x ^ y).wrapping_mul(mult);
        mult = mult.wrapping_add(82_520 + len + len);
    }
    x = x.wrapping_add(97_531);
    if x == -1 { -2 } else { x }
}

/// `frozenset_hash` (Objects/setobject.c, 2.7): order-independent.
pub fn frozenset_hash(items: &[i64]) -> i64 {
    let mut hash: i64 = 1_927_868_237;
    hash = hash.wrapping_mul(items.len() as i64 + 1);
    for &h in items {
        hash ^= (h ^ (h.wrapping_shl(16)) ^ 89_869_747).wrapping_mul(3_644_798_167);
    }
    hash = hash.wrapping_mul(69_069).wrapping_add(907_133_923);
    if hash == -1 { 590_923_713 } else { hash }
}

/// `complex_hash` (Objects/complexobject.c, 2.7).
pub fn complex_hash(re: f64, im: f64) -> i64 {
    let x = hash_double(re).wrapping_add(hash_double(im).wrapping_mul(1_000_003));
    if x == -1 { -2 } else { x }
}

/// The 2.7 hashes of the nodes of one heap, each computed once (CPython caches str, unicode and
/// frozenset hashes; tuples it recomputes, which a shared tuple would make exponential here).
#[derive(Default)]
pub struct Hasher {
    cache: Map<Id, i64>,
}

impl Hasher {
    pub fn new() -> Hasher {
        Hasher {
            cache: fasthash::map(),
        }
    }

    /// `PyObject_Hash` of a node as 2.7 computes it, without recursion (tuples and frozensets
    /// nested a million deep are walked with a stack of their own).
    pub fn hash(&mut self, heap: &Heap, id: Id) -> H<i64> {
        match heap.get(id) {
            // Cheap leaves: computed each time (short strings, small ints, floats, ...).
            Node::Bytes(b) | Node::Text(b) if b.len() <= 64 => return self.compose(heap, id),
            Node::Tuple(_) | Node::FrozenSet(_) | Node::Bytes(_) | Node::Text(_) => {}
            Node::Int(_) | Node::Long(_) => {}
            _ => return self.compose(heap, id),
        }
        if let Some(&h) = self.cache.get(&id) {
            return Ok(h);
        }
        // (node, its children were pushed)
        let mut todo: Vec<(Id, bool)> = vec![(id, false)];
        let mut open: fasthash::Set<Id> = fasthash::Set::default();
        while let Some((n, expanded)) = todo.pop() {
            if self.cache.contains_key(&n) {
                continue;
            }
            let kids: &[Id] = match heap.get(n) {
                Node::Tuple(v) | Node::FrozenSet(v) => v,
                Node::Datetime { tz: Some(_), .. } | Node::Time { tz: Some(_), .. } => {
                    // utcoffset() of a tzinfo is application code on 2.7.
                    return Err(not_known("an aware datetime or time"));
                }
                _ => &[],
            };
            if kids.is_empty() || expanded {
                let h = self.compose(heap, n)?;
                open.remove(&n);
                self.cache.insert(n, h);
                continue;
            }
            if !open.insert(n) {
                return Err(not_known("a cyclic tuple"));
            }
            todo.push((n, true));
            for &k in kids {
                if !self.cache.contains_key(&k) {
                    todo.push((k, false));
                }
            }
        }
        self.cache
            .get(&id)
            .copied()
            .ok_or_else(|| not_known("a value"))
    }

    /// The hash of `n`, its children's hashes cached.
    fn compose(&self, heap: &Heap, n: Id) -> H<i64> {
        let kid = |k: &Id| {
            self.cache
                .get(k)
                .copied()
                .ok_or_else(|| not_known("a value"))
        };
        Ok(match heap.get(n) {
            Node::Bool(b) => i64::from(*b),
            Node::Int(v) | Node::Long(v) => long_hash(v),
            Node::Float(f) => hash_double(*f),
            Node::Complex(re, im) => complex_hash(*re, *im),
            Node::Bytes(b) => bytes_hash(b),
            Node::Text(t) => string_hash(codec::code_points(t)),
            Node::Tuple(v) => {
                let hs = v.iter().map(kid).collect::<H<Vec<i64>>>()?;
                tuple_hash(&hs)
            }
            Node::FrozenSet(v) => {
                let hs = v.iter().map(kid).collect::<H<Vec<i64>>>()?;
                frozenset_hash(&hs)
            }
            // date_hash (Modules/datetimemodule.c): the hash of date_getstate's tuple `(data,)`,
            // data the packed bytes `__reduce__` writes; datetime_hash and time_hash (naive):
            // generic_hash, the str hash of the data itself.
            Node::Date([y, m, d]) => {
                let data = [(*y >> 8) as u8, *y as u8, *m as u8, *d as u8];
                state_hash(&data)
            }
            Node::Datetime {
                fields: f,
                tz: None,
                ..
            } => {
                let us = f[6];
                let data = [
                    (f[0] >> 8) as u8,
                    f[0] as u8,
                    f[1] as u8,
                    f[2] as u8,
                    f[3] as u8,
                    f[4] as u8,
                    f[5] as u8,
                    (us >> 16) as u8,
                    (us >> 8) as u8,
                    us as u8,
                ];
                bytes_hash(&data)
            }
            Node::Time {
                fields: f,
                tz: None,
                ..
            } => {
                let us = f[3];
                let data = [
                    f[0] as u8,
                    f[1] as u8,
                    f[2] as u8,
                    (us >> 16) as u8,
                    (us >> 8) as u8,
                    us as u8,
                ];
                bytes_hash(&data)
            }
            // delta_hash: the hash of (days, seconds, microseconds).
            Node::Timedelta(t) => tuple_hash(&[
                long_hash(&BigInt::from(t[0])),
                long_hash(&BigInt::from(t[1])),
                long_hash(&BigInt::from(t[2])),
            ]),
            // _Py_HashPointer: the object's address, which ASLR moves per process.
            Node::None => return Err(not_known("None (its address)")),
            Node::Global(_) => return Err(not_known("a class or function (its address)")),
            other => {
                return Err(not_known(&format!(
                    "a {}",
                    super::load::type_name(other, true)
                )));
            }
        })
    }
}

fn bytes_hash(data: &[u8]) -> i64 {
    string_hash(data.iter().map(|&c| u32::from(c)))
}

fn state_hash(data: &[u8]) -> i64 {
    tuple_hash(&[bytes_hash(data)])
}

const MINSIZE: usize = 8;
const PERTURB_SHIFT: u32 = 5;

/// A 2.7 dict or set table (`PyDictObject` / `PySetObject`) of entries that are all distinct
/// keys (the loads merged equal keys), none ever deleted: so `fill == used`, no dummies.
/// Entries are numbered by the caller; the table holds their numbers.
pub struct Table {
    /// Slot -> entry number + 1 (0: empty).
    slots: Vec<usize>,
    hashes: Vec<i64>,
    used: usize,
    /// Probe steps left (a bound on the cost: keys that collide on purpose would take CPython
    /// quadratic time too).
    budget: usize,
}

impl Table {
    /// A fresh table (`PyDict_New`, `make_new_set`: the 8-slot small table) for up to `n`
    /// entries.
    pub fn new(n: usize) -> Table {
        Table {
            slots: vec![0; MINSIZE],
            hashes: Vec::with_capacity(n),
            used: 0,
            budget: 64 * (n + MINSIZE),
        }
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// `insertdict_clean` / `set_insert_clean` and the probe of `lookdict` / `set_lookkey` for a
    /// key not in the table: the first empty slot of the perturbed probe sequence.
    fn place(&mut self, entry: usize) -> H<()> {
        let hash = self.hashes[entry];
        let mask = self.mask();
        let mut i = (hash as u64 as usize) & mask;
        let mut perturb = hash as u64 as usize;
        while self.slots[i & mask] != 0 {
            if self.budget == 0 {
                return Err(Unpredictable(
                    "py2 order of a table whose keys collide beyond the model's probe budget"
                        .into(),
                ));
            }
            self.budget -= 1;
            i = (i << 2)
                .wrapping_add(i)
                .wrapping_add(perturb)
                .wrapping_add(1);
            perturb >>= PERTURB_SHIFT;
        }
        self.slots[i & mask] = entry + 1;
        Ok(())
    }

    /// `dictresize` / `set_table_resize`: the smallest power of two above `minused` (at least
    /// 8), the entries reinserted in old slot order.
    fn resize(&mut self, minused: usize) -> H<()> {
        let mut newsize = MINSIZE;
        while newsize <= minused {
            newsize <<= 1;
        }
        let old = std::mem::replace(&mut self.slots, vec![0; newsize]);
        for e in old.into_iter().filter(|&s| s != 0) {
            self.place(e - 1)?;
        }
        Ok(())
    }

    /// `PyDict_SetItem` (Objects/dictobject.c) and `set_add_key` (Objects/setobject.c), 2.7,
    /// for a new key: insert, then grow when `fill*3 >= (mask+1)*2` to `used*4` (`used*2`
    /// above 50,000 entries).
    pub fn insert(&mut self, hash: i64) -> H<()> {
        let e = self.hashes.len();
        self.hashes.push(hash);
        self.place(e)?;
        self.used += 1;
        if self.used * 3 >= self.slots.len() * 2 {
            let factor = if self.used > 50_000 { 2 } else { 4 };
            self.resize(factor * self.used)?;
        }
        Ok(())
    }

    /// The entry numbers in iteration order (`PyDict_Next`, `set_next`: slot order).
    pub fn order(&self) -> Vec<usize> {
        self.slots
            .iter()
            .filter(|&&s| s != 0)
            .map(|&s| s - 1)
            .collect()
    }

    /// `PyDict_Merge(a, b, 1)` (Objects/dictobject.c, 2.7) into a fresh dict `a` from this table:
    /// one resize up front to `(used_a + used_b)*2` when `(fill_a + used_b)*3 >= (mask_a+1)*2`,
    /// then `insertdict` of b's entries in b's slot order, with no further resize. Entry numbers
    /// are kept.
    pub fn merged_copy(&self) -> H<Table> {
        let mut t = Table::new(self.used);
        t.hashes = self.hashes.clone();
        let order = self.order();
        if order.is_empty() {
            return Ok(t);
        }
        if order.len() * 3 >= t.slots.len() * 2 {
            t.resize(order.len() * 2)?;
        }
        for e in order {
            t.place(e)?;
            t.used += 1;
        }
        Ok(t)
    }
}

/// The iteration order of a 2.7 dict or set a process built by inserting keys with these hashes
/// one by one into a fresh table (all distinct): indexes into `hashes`.
pub fn insertion_table(hashes: &[i64]) -> H<Table> {
    let mut t = Table::new(hashes.len());
    for &h in hashes {
        t.insert(h)?;
    }
    Ok(t)
}

/// `insertion_table(hashes).order()`.
pub fn insertion_order(hashes: &[i64]) -> H<Vec<usize>> {
    Ok(insertion_table(hashes)?.order())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values printed by the real 2.7.18 (`python2.7 -c 'print hash(x)'`, 64-bit Linux).
    #[test]
    fn hashes_follow_python_2_7() {
        let b = |s: &[u8]| string_hash(s.iter().map(|&c| u32::from(c)));
        assert_eq!(b(b""), 0);
        assert_eq!(b(b"\x07\xe4\x01\x02"), -7_811_447_233_317_187_472);
        assert_eq!(
            string_hash(codec::code_points("\u{1f600}".as_bytes())),
            16_449_585_346_049
        );
        assert_eq!(long_hash(&BigInt::from(-1i64)), -2);
        assert_eq!(long_hash(&(BigInt::from(1u8) << 64u32)), 1);
        assert_eq!(long_hash(&(BigInt::from(1u8) << 63u32)), i64::MIN);
        assert_eq!(long_hash(&-(BigInt::from(1u8) << 63u32)), i64::MIN);
        assert_eq!(long_hash(&((BigInt::from(1u8) << 64u32) - 1u8)), -2);
        assert_eq!(long_hash(&-((BigInt::from(1u8) << 64u32) - 1u8)), 1);
        assert_eq!(hash_double(1.5), 1_610_645_504);
        assert_eq!(hash_double(1e300), 8_474_648_701_417_850_880);
        assert_eq!(hash_double(f64::NAN), 0);
        assert_eq!(hash_double(f64::INFINITY), 314_159);
        assert_eq!(hash_double(f64::NEG_INFINITY), -271_828);
        assert_eq!(hash_double(-0.0), 0);
        assert_eq!(complex_hash(1.5, 2.5), 1_342_248_453_373_952);
        assert_eq!(frozenset_hash(&[]), 133_156_838_395_276);
        assert_eq!(frozenset_hash(&[1, 2]), -1_834_016_341_293_975_159);
        assert_eq!(tuple_hash(&[]), 3_527_539);
        assert_eq!(state_hash(&[0x07, 0xe4, 1, 2]), 6_024_537_427_530_981_651);
        assert_eq!(tuple_hash(&[1, 2, 3]), 2_528_502_973_977_326_415);
    }

    #[test]
    fn colliding_keys_stop_at_the_budget() {
        // Every key the same hash: each insert probes past all the others.
        let hashes = vec![7i64; 20_000];
        assert!(insertion_order(&hashes).is_err());
        // Random-looking hashes fit comfortably.
        let hashes: Vec<i64> = (0..100_000i64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15u64 as i64))
            .collect();
        let order = insertion_order(&hashes).expect("order");
        assert_eq!(order.len(), 100_000);
    }
}
