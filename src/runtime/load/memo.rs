//! The memo: PUT/GET/MEMOIZE as each runtime keys and bounds them (a dense array, a map for sparse
//! indices).

#![allow(clippy::wildcard_imports)]
use super::*;

/// The integer memo: a dense array for the indices picklers write (0, 1, 2, ...), a map for
/// sparse or huge ones (`LONG_BINPUT 4000000000`), so that a hostile index costs no memory.
#[derive(Default)]
pub(super) struct Memo {
    /// `NO_ID` where empty.
    dense: Vec<Id>,
    /// Indices beyond the dense array when they were put.
    sparse: Map<u64, Id>,
    /// Number of distinct indices held (`len(memo)`).
    len: usize,
}

pub(super) const NO_ID: Id = Id::MAX;

impl Memo {
    /// Indices below this always go to the dense array.
    const DENSE_MIN: u64 = 1 << 16;

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn get(&self, idx: u64) -> Option<Id> {
        if let Some(&id) = usize::try_from(idx).ok().and_then(|i| self.dense.get(i))
            && id != NO_ID
        {
            return Some(id);
        }
        if self.sparse.is_empty() {
            return None;
        }
        self.sparse.get(&idx).copied()
    }

    pub(super) fn insert(&mut self, idx: u64, id: Id) {
        // The dense array grows to at most twice the larger of DENSE_MIN and 2 * len + 16.
        let limit = Self::DENSE_MIN.max(2 * self.len as u64 + 16);
        let i = match usize::try_from(idx) {
            Ok(i) if i < self.dense.len() || idx < limit => i,
            _ => {
                if self.sparse.insert(idx, id).is_none() {
                    self.len += 1;
                }
                return;
            }
        };
        if i >= self.dense.len() {
            self.dense.resize((i + 1).next_power_of_two(), NO_ID);
        }
        if self.dense[i] == NO_ID && (self.sparse.is_empty() || self.sparse.remove(&idx).is_none())
        {
            self.len += 1;
        }
        self.dense[i] = id;
    }
}

impl<'a> Vm<'a> {
    // ----- memo ---------------------------------------------------------------------------

    pub(super) fn memo_index_line(&self, line: &[u8]) -> R<i64> {
        let s = String::from_utf8_lossy(line);
        match parse_c_long(&s) {
            Some(v) => Ok(v),
            None => Err(Fail::Py(PyError::new(
                "ValueError",
                format!(
                    "invalid literal for {}() with base 10: {}",
                    if self.py2() { "long" } else { "int" },
                    py_str_repr_text(&format!("{s}\n"))
                ),
            ))),
        }
    }

    pub(super) fn memo_get(&mut self, idx: i64) -> R<()> {
        match (idx >= 0).then(|| self.memo.get(idx as u64)).flatten() {
            Some(id) => self.push(id),
            _ => Err(match self.facts.memo_missing {
                MemoMissing::NotFound => {
                    self.unpickling_error(format!("Memo value not found at index {idx}"))
                }
                MemoMissing::KeyError => Fail::Py(PyError::new("KeyError", idx.to_string())),
                MemoMissing::BadPickleGet => {
                    Fail::Py(PyError::new("cPickle.BadPickleGet", idx.to_string()))
                }
            }),
        }
    }
}
