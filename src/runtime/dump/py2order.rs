//! Python 2's own order: dicts and sets written in the order CPython 2.7's tables iterate them
//! (`py2hash`), and cPickle's argument tuples and batches.

#![allow(clippy::wildcard_imports)]
use super::*;

impl<'a> Pickler<'a> {
    /// py2: the 2.7 hashes of `keys`, or why they cannot be known.
    pub(super) fn py2_hashes(&mut self, keys: impl Iterator<Item = Id>) -> D<Vec<i64>> {
        let heap = self.heap;
        keys.map(|k| {
            self.hasher
                .hash(heap, k)
                .map_err(|e| DumpError::Unmodelled(e.0))
        })
        .collect()
    }

    /// py2: the items of a dict in the order 2.7 iterates it (its table's slot order, which
    /// `filled` decides; see `py2hash`). Other runtimes, and dicts of at most one item, keep
    /// their order.
    pub(super) fn py2_dict_order<'k>(
        &mut self,
        kv: &'k [(Id, Id)],
        filled: Filled,
    ) -> D<Cow<'k, [(Id, Id)]>> {
        if !self.py2() || kv.len() < 2 {
            return Ok(Cow::Borrowed(kv));
        }
        let hashes = self.py2_hashes(kv.iter().map(|&(k, _)| k))?;
        let un = |e: py2hash::Unpredictable| DumpError::Unmodelled(e.0);
        let table = py2hash::insertion_table(&hashes).map_err(un)?;
        let order = match filled {
            Filled::Inserted => table.order(),
            Filled::FromState => {
                let first = table.order();
                let again: Vec<i64> = first.iter().map(|&e| hashes[e]).collect();
                let second = py2hash::insertion_order(&again).map_err(un)?;
                second.into_iter().map(|j| first[j]).collect()
            }
            Filled::CounterCopy => table
                .merged_copy()
                .and_then(|t| t.merged_copy())
                .map_err(un)?
                .order(),
        };
        Ok(Cow::Owned(order.into_iter().map(|e| kv[e]).collect()))
    }

    /// py2: the items of a set or frozenset (built by `set(list)` / `frozenset(list)`, in list
    /// order) in the order 2.7 iterates it.
    pub(super) fn py2_set_order<'k>(&mut self, items: &'k [Id]) -> D<Cow<'k, [Id]>> {
        if !self.py2() || items.len() < 2 {
            return Ok(Cow::Borrowed(items));
        }
        let hashes = self.py2_hashes(items.iter().copied())?;
        let order = py2hash::insertion_order(&hashes).map_err(|e| DumpError::Unmodelled(e.0))?;
        Ok(Cow::Owned(order.into_iter().map(|e| items[e]).collect()))
    }

    /// The items of a py2 `collections.Counter` that the stream built as `Counter(d)` for a dict
    /// `d` (REDUCE, no state, no items set after), when its write-back is predictable: `d` is
    /// non-empty (put2) or referenced by the Counter's arguments alone (an empty dict's memo
    /// follows its refcount, which the arguments, gone after the load, would change).
    pub(super) fn py2_counter_items(&self, r: &Reduce) -> Option<&'a [(Id, Id)]> {
        let heap: &'a Heap = self.heap;
        let Node::Global(g) = heap.get(r.func) else {
            return None;
        };
        if g.module != "collections" || g.name != "Counter" || r.newobj || r.state.is_some() {
            return None;
        }
        let Node::Tuple(args) = heap.get(r.args) else {
            return None;
        };
        let [d] = args[..] else {
            return None;
        };
        let Node::Dict(kv) = heap.get(d) else {
            return None;
        };
        let sole = self.refs.as_ref().is_some_and(|refs| refs.get(d) == 1);
        (!kv.is_empty() || sole).then_some(&kv[..])
    }

    /// py2: the start of a fresh `n`-tuple of reduce arguments (1 <= n <= 3): MARK below
    /// protocol 2.
    pub(super) fn py2_args_open(&mut self, n: usize) {
        if self.proto < 2 || n > 3 {
            self.write(&[code::MARK]);
        }
    }

    /// py2: the end of a fresh tuple of reduce arguments (refcount 1: never memoized).
    pub(super) fn py2_args_close(&mut self, n: usize) {
        if self.proto < 2 || n > 3 {
            self.write(&[code::TUPLE]);
        } else {
            self.write(&[code::TUPLE1 + n as u8 - 1]);
        }
    }

    /// py2: a list the pickler's reduce made (refcount 1): `put2` memoizes it when non-empty;
    /// `body` writes its items.
    pub(super) fn py2_fresh_list(
        &mut self,
        len: usize,
        body: impl FnOnce(&mut Self) -> D<()>,
    ) -> D<()> {
        self.write(if self.proto >= 1 { b"]" } else { b"(l" });
        if len > 0 {
            self.memo_put(Ident::Tagged(Tag::List, self.out.len()));
        }
        body(self)
    }

    /// cPickle's batch_list over `items` (each written by `one`): APPEND each at protocol 0;
    /// else batches of BATCHSIZE under MARK ... APPENDS, a batch of one as a plain APPEND.
    pub(super) fn py2_batch<T>(
        &mut self,
        items: &[T],
        one: impl Fn(&mut Self, &T) -> D<()>,
    ) -> D<()> {
        if self.proto == 0 {
            for it in items {
                one(self, it)?;
                self.write(&[code::APPEND]);
            }
            return Ok(());
        }
        for chunk in items.chunks(BATCHSIZE) {
            if chunk.len() == 1 {
                one(self, &chunk[0])?;
                self.write(&[code::APPEND]);
                continue;
            }
            self.write(&[code::MARK]);
            for it in chunk {
                one(self, it)?;
            }
            self.write(&[code::APPENDS]);
        }
        Ok(())
    }
}
