//! Containers: tuples (with their memo rules), lists and dicts in batches of 1000 (`batch_appends`,
//! `batch_setitems`), instance state.

#![allow(clippy::wildcard_imports)]
use super::*;

impl<'a> Pickler<'a> {
    pub(super) fn save_tuple(&mut self, id: Id, items: &[Id], extra: u32) -> D<()> {
        if items.is_empty() {
            self.write(if self.proto >= 1 { b")" } else { b"(t" });
            return Ok(());
        }
        let ident = self.ident(id);
        let n = items.len();
        if n <= 3 && self.proto >= 2 {
            for &it in items {
                self.save(it, 0)?;
            }
            if let Some(i) = self.memo.get(ident) {
                for _ in 0..n {
                    self.write(&[code::POP]);
                }
                self.write_get(i);
                return Ok(());
            }
            self.write(&[code::TUPLE1 + n as u8 - 1]);
        } else {
            self.write(&[code::MARK]);
            for &it in items {
                self.save(it, 0)?;
            }
            if let Some(i) = self.memo.get(ident) {
                if self.proto >= 1 {
                    self.write(&[code::POP_MARK]);
                } else {
                    for _ in 0..=n {
                        self.write(&[code::POP]);
                    }
                }
                self.write_get(i);
                return Ok(());
            }
            self.write(&[code::TUPLE]);
        }
        if self.py2() {
            self.py2_put(id, extra);
        } else {
            self.memo_put(ident);
        }
        Ok(())
    }

    /// The 3.x C pickler's exact list path puts every batch under MARK, a last batch of one
    /// too, up to 3.14 (`Facts::pickler_last_single_plain`: 3.15 writes it plain).
    pub(super) fn exact_batches(&self) -> bool {
        !self.py2() && !self.facts.pickler_last_single_plain
    }

    pub(super) fn batch_appends(&mut self, items: &[Id]) -> D<()> {
        self.batch_appends_mode(items, self.exact_batches())
    }

    /// `exact`: the 3.x C pickler's path for an exact list (every batch under MARK); otherwise
    /// the generic iterator path, whose last batch of a single item is a plain APPEND.
    pub(super) fn batch_appends_mode(&mut self, items: &[Id], exact: bool) -> D<()> {
        if self.proto == 0 {
            for &it in items {
                self.save(it, 1)?;
                self.write(&[code::APPEND]);
            }
            return Ok(());
        }
        if items.len() == 1 {
            self.save(items[0], 1)?;
            self.write(&[code::APPEND]);
            return Ok(());
        }
        for chunk in items.chunks(BATCHSIZE) {
            if chunk.len() == 1 && !exact {
                self.save(chunk[0], 1)?;
                self.write(&[code::APPEND]);
                continue;
            }
            self.write(&[code::MARK]);
            for &it in chunk {
                self.save(it, 1)?;
            }
            self.write(&[code::APPENDS]);
        }
        Ok(())
    }

    /// The items of an instance's or exception's `__dict__`: as `batch_setitems`, except that on
    /// py2 an attribute name (a `str` of two or more characters; shorter ones are never memoized)
    /// is interned, and so held by the code that names it as well: memoized.
    pub(super) fn attr_items(&mut self, kv: &[(Id, Id)]) -> D<()> {
        if !self.py2() {
            return self.batch_setitems(kv, false);
        }
        let iter = u32::from(self.proto == 0);
        let one = |p: &mut Self, k: Id, v: Id| -> D<()> {
            let interned = matches!(p.heap.get(k), Node::Bytes(b) if b.len() >= 2);
            p.save(k, iter + u32::from(interned))?;
            p.save(v, iter)
        };
        if self.proto == 0 || kv.len() == 1 {
            for &(k, v) in kv {
                one(self, k, v)?;
                self.write(&[code::SETITEM]);
            }
            return Ok(());
        }
        // The __dict__ is an exact dict: batch_dict_exact (see batch_setitems_mode).
        for chunk in kv.chunks(BATCHSIZE) {
            self.write(&[code::MARK]);
            for &(k, v) in chunk {
                one(self, k, v)?;
            }
            self.write(&[code::SETITEMS]);
        }
        if !kv.is_empty() && kv.len().is_multiple_of(BATCHSIZE) {
            self.write(&[code::MARK, code::SETITEMS]);
        }
        Ok(())
    }

    /// `iter_refs`: py2 protocol 0 walks `iteritems()`, whose tuples hold a reference to each key
    /// and value; the binary protocols use PyDict_Next (borrowed).
    pub(super) fn batch_setitems(&mut self, kv: &[(Id, Id)], iter_refs: bool) -> D<()> {
        // An exact dict: batch_dict_exact at the binary protocols, in cPickle and in 3.x's C
        // pickler alike: every batch under MARK in cPickle and the 3.x C pickler up to 3.14; 3.15
        // writes a last batch of one plain (`Facts::pickler_last_single_plain`).
        let exact = !self.facts.pickler_last_single_plain;
        self.batch_setitems_mode(kv, u32::from(iter_refs), exact)
    }

    /// cPickle's/pickle.py's batch_setitems over `kv`, each key and value saved with `extra`
    /// references held besides the model's count: SETITEM each at protocol 0; else batches under
    /// MARK ... SETITEMS; a single item as a plain SETITEM, and (unless `exact`) a last batch of
    /// one too. `exact`: `batch_dict_exact` of an exact dict (cPickle and CPython 3's C
    /// pickler), whose loop runs once more after a full batch: a dict of 1000*k items ends with
    /// an empty MARK SETITEMS (what real 2.7 and 3.8 write for `{i: i for i in range(1000)}`).
    pub(super) fn batch_setitems_mode(
        &mut self,
        kv: &[(Id, Id)],
        extra: u32,
        exact: bool,
    ) -> D<()> {
        if self.proto == 0 {
            for &(k, v) in kv {
                self.save(k, extra)?;
                self.save(v, extra)?;
                self.write(&[code::SETITEM]);
            }
            return Ok(());
        }
        if kv.len() == 1 {
            self.save(kv[0].0, extra)?;
            self.save(kv[0].1, extra)?;
            self.write(&[code::SETITEM]);
            return Ok(());
        }
        for chunk in kv.chunks(BATCHSIZE) {
            if chunk.len() == 1 && !exact {
                self.save(chunk[0].0, extra)?;
                self.save(chunk[0].1, extra)?;
                self.write(&[code::SETITEM]);
                continue;
            }
            self.write(&[code::MARK]);
            for &(k, v) in chunk {
                self.save(k, extra)?;
                self.save(v, extra)?;
            }
            self.write(&[code::SETITEMS]);
        }
        if exact && !kv.is_empty() && kv.len().is_multiple_of(BATCHSIZE) {
            self.write(&[code::MARK, code::SETITEMS]);
        }
        Ok(())
    }

    /// `uuid.UUID.__getstate__` (3.7+): `{'int': self.int}`, plus `'is_safe': value` unless it
    /// is SafeUUID.unknown (3.7 keeps the member in its __dict__, 3.8+ the value).
    pub(super) fn uuid_state(&self, dict: &[(Id, Id)]) -> D<Vec<(Id, Id)>> {
        let text = |k: Id, name: &[u8]| matches!(self.heap.get(k), Node::Text(t) if t == name);
        let int = dict
            .iter()
            .find(|&&(k, _)| text(k, b"int"))
            .copied()
            .ok_or_else(|| DumpError::Unmodelled("a UUID without its int".into()))?;
        let mut out = vec![int];
        if let Some(&(k, v)) = dict.iter().find(|&&(k, _)| text(k, b"is_safe")) {
            let value = match self.heap.get(v) {
                Node::Instance { dict: member, .. } => member
                    .iter()
                    .find(|&&(mk, _)| text(mk, b"_value_"))
                    .map(|&(_, mv)| mv),
                _ => Some(v),
            };
            if let Some(val) = value
                && !matches!(self.heap.get(val), Node::None)
            {
                out.push((k, val));
            }
        }
        Ok(out)
    }
}
