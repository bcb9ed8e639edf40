//! Objects: instances, exceptions and values built by REDUCE/NEWOBJ, written back as their classes'
//! `__reduce_ex__` gives them (OrderedDict, defaultdict, deque, Counter, xrange, slice, Fraction,
//! ...).

#![allow(clippy::wildcard_imports)]
use super::*;

impl<'a> Pickler<'a> {
    pub(super) fn save_instance(
        &mut self,
        id: Id,
        class: &Global,
        dict: &[(Id, Id)],
        extra: u32,
    ) -> D<()> {
        let uuid_state;
        let dict = if self.facts.uuid_setstate && class.module == "uuid" && class.name == "UUID" {
            uuid_state = self.uuid_state(dict)?;
            &uuid_state[..]
        } else {
            dict
        };
        if !matches!(
            class.known,
            Known::AppClass | Known::ClassicClass | Known::Object
        ) {
            return Err(DumpError::Unmodelled(format!(
                "instances of {}.{}",
                class.module, class.name
            )));
        }
        let dict = self.py2_dict_order(dict, Filled::FromState)?;
        let dict = &dict[..];
        let ident = self.ident(id);
        if class.known == Known::ClassicClass {
            // cPickle save_inst: INST at protocol 0, the class then OBJ from protocol 1; the
            // state is `__dict__` (refcount 2: the instance and getattr's reference).
            self.write(&[code::MARK]);
            if self.proto == 0 {
                let (m, n) = self.global_name(&class.module, &class.name);
                self.write(format!("i{m}\n{n}\n").as_bytes());
            } else {
                self.save_global(&class.module, &class.name, None)?;
                self.write(&[code::OBJ]);
            }
            self.py2_put(id, extra);
            if self.proto >= 1 {
                self.write(&[code::EMPTY_DICT]);
            } else {
                self.write(b"(d");
            }
            self.memo_put(Ident::Tagged(Tag::Dict, id));
            self.attr_items(dict)?;
            self.write(&[code::BUILD]);
            return Ok(());
        }
        if self.proto >= 2 {
            self.save_global(&class.module, &class.name, None)?;
            self.write(&[code::EMPTY_TUPLE]);
            self.write(&[code::NEWOBJ]);
        } else {
            self.save_global("copyreg", "_reconstructor", None)?;
            self.write(&[code::MARK]);
            self.save_global(&class.module, &class.name, None)?;
            self.save_global("builtins", "object", None)?;
            self.write(b"N");
            self.write(&[code::TUPLE]);
            if !self.py2() {
                self.memo_put(Ident::Tagged(Tag::Args, id));
            }
            self.write(&[code::REDUCE]);
        }
        // py2 too: the bound __reduce_ex__ holds the instance, so `put` memoizes it.
        let _ = extra;
        self.memo_put(ident);
        // py2's reduce_2 (protocol 2) passes the __dict__ as the state even when it is empty;
        // copy_reg._reduce_ex (below 2) only a non-empty one; `object()` has no __dict__.
        let empty_state = self.py2() && self.proto >= 2 && class.known != Known::Object;
        if !dict.is_empty() || empty_state {
            // The state is the instance's __dict__ itself (refcount 2 on py2: the instance and
            // the reduce tuple).
            if self.proto >= 1 {
                self.write(&[code::EMPTY_DICT]);
            } else {
                self.write(b"(d");
            }
            self.memo_put(Ident::Tagged(Tag::Dict, id));
            self.attr_items(dict)?;
            self.write(&[code::BUILD]);
        }
        Ok(())
    }

    /// An application object the models could not evaluate, written back as the stream built
    /// it: the class's own `__reduce__` gave `(func, args[, state])` (REDUCE), or the default
    /// `__reduce_ex__` gave `copyreg.__newobj__` (NEWOBJ from protocol 2; `copyreg.
    /// _reconstructor(cls, object, None)` below it). Assumes the class pickles the same way on
    /// the writing side (3.x only: py2's memo follows refcounts the stream does not show).
    pub(super) fn save_reduced(&mut self, id: Id, class: &Global, r: &Reduce) -> D<()> {
        if r.newobj {
            let no_args = matches!(self.heap.get(r.args), Node::Tuple(v) if v.is_empty());
            if self.proto >= 2 {
                self.save(r.func, 0)?;
                self.save(r.args, 0)?;
                self.write(&[code::NEWOBJ]);
            } else if no_args
                && !matches!(r.state.map(|s| self.heap.get(s)), Some(Node::Tuple(t)) if t.len() == 2)
            {
                self.save_global("copyreg", "_reconstructor", None)?;
                self.write(&[code::MARK]);
                self.save_global(&class.module, &class.name, None)?;
                self.save_global("builtins", "object", None)?;
                self.write(b"N");
                self.write(&[code::TUPLE]);
                self.memo_put(Ident::Tagged(Tag::Args, id));
                self.write(&[code::REDUCE]);
            } else {
                return Err(DumpError::Unmodelled(
                    "__new__ arguments or __slots__ below protocol 2 (copyreg._reduce_ex)".into(),
                ));
            }
        } else {
            self.save(r.func, 0)?;
            self.save(r.args, 0)?;
            self.write(&[code::REDUCE]);
        }
        let ident = self.ident(id);
        if let Some(i) = self.memo.get(ident) {
            // Reached again while saving its own arguments.
            self.write(&[code::POP]);
            self.write_get(i);
            return Ok(());
        }
        self.memo_put(ident);
        if let Some(st) = r.state {
            self.save(st, 0)?;
            self.write(&[code::BUILD]);
        }
        Ok(())
    }

    pub(super) fn save_reduce(
        &mut self,
        id: Id,
        func: (&str, &str),
        args: V<'_>,
        state: Option<V<'_>>,
        extra: u32,
    ) -> D<()> {
        self.save_reduce_with_items(id, func, args, Items::None, extra)?;
        if let Some(s) = state {
            self.save_v(&s, 0)?;
            self.write(&[code::BUILD]);
        }
        Ok(())
    }

    pub(super) fn save_reduce_with_items(
        &mut self,
        id: Id,
        func: (&str, &str),
        args: V<'_>,
        items: Items<'_>,
        extra: u32,
    ) -> D<()> {
        self.save_global(func.0, func.1, None)?;
        self.save_v(&args, 0)?;
        self.write(&[code::REDUCE]);
        let ident = self.ident(id);
        if let Some(i) = self.memo.get(ident) {
            self.write(&[code::POP]);
            self.write_get(i);
            return Ok(());
        }
        // py2: the bound __reduce_ex__ (or the pickler's argument tuple, for a copy_reg
        // dispatch_table entry) holds the object while it is saved, so `put` always memoizes.
        let _ = extra;
        self.memo_put(ident);
        match items {
            Items::None => Ok(()),
            Items::List(v) => self.batch_appends_mode(v, false),
            Items::Dict(kv) => self.batch_setitems_mode(kv, 0, false),
        }
    }

    /// cPickle's save_reduce after REDUCE: an object its own arguments already memoized (it is
    /// recursive) is popped and fetched, and its items are not written (false); otherwise
    /// memoized (`put`: the bound __reduce_ex__ holds it, so its refcount is at least 2).
    pub(super) fn py2_memo_reduced(&mut self, ident: Ident<'_>) -> bool {
        if let Some(i) = self.memo.get(ident) {
            self.write(&[code::POP]);
            self.write_get(i);
            return false;
        }
        self.memo_put(ident);
        true
    }

    /// start, stop and step (None where absent) of a py2 slice the stream built as
    /// `slice(*args)` (REDUCE of the builtin, one to three arguments, no state).
    pub(super) fn py2_slice_args(&self, r: &Reduce) -> Option<[Option<Id>; 3]> {
        let Node::Global(g) = self.heap.get(r.func) else {
            return None;
        };
        let builtin = matches!(g.module.as_str(), "__builtin__" | "builtins");
        if !builtin || g.name != "slice" || r.newobj || r.state.is_some() {
            return None;
        }
        let Node::Tuple(args) = self.heap.get(r.args) else {
            return None;
        };
        match args[..] {
            [stop] => Some([None, Some(stop), None]),
            [start, stop] => Some([Some(start), Some(stop), None]),
            [start, stop, step] => Some([Some(start), Some(stop), Some(step)]),
            _ => None,
        }
    }

    /// `str()` of a py2 `fractions.Fraction` the stream built as `Fraction(s)` from a string
    /// already in the form `str()` gives (`n/d` in lowest terms with d > 1, or `n`), which is then
    /// that string; any other spelling (spaces, decimals, exponents, unreduced) is not modelled.
    pub(super) fn py2_fraction_str(&self, r: &Reduce) -> Option<String> {
        let Node::Global(g) = self.heap.get(r.func) else {
            return None;
        };
        if g.module != "fractions" || g.name != "Fraction" || r.newobj || r.state.is_some() {
            return None;
        }
        let Node::Tuple(args) = self.heap.get(r.args) else {
            return None;
        };
        let [a] = args[..] else {
            return None;
        };
        let (Node::Text(b) | Node::Bytes(b)) = self.heap.get(a) else {
            return None;
        };
        let text = std::str::from_utf8(b).ok()?;
        let digits = |t: &str| {
            !t.is_empty()
                && t.bytes().all(|c| c.is_ascii_digit())
                && (t == "0" || !t.starts_with('0'))
        };
        let (num, den) = text.split_once('/').unwrap_or((text, "1"));
        let magnitude = num.strip_prefix('-').unwrap_or(num);
        if !digits(magnitude) || magnitude == "0" && num.starts_with('-') || !digits(den) {
            return None;
        }
        let (n, d): (BigInt, BigInt) = (num.parse().ok()?, den.parse().ok()?);
        let (mut x, mut y) = (n.abs(), d.clone());
        while !y.is_zero() {
            let t = &x % &y;
            x = std::mem::replace(&mut y, t);
        }
        let lowest = x == BigInt::from(1);
        let canonical = if text.contains('/') {
            d > BigInt::from(1) && lowest
        } else {
            true
        };
        canonical.then(|| text.to_string())
    }

    pub(super) fn save_tuple_v(&mut self, items: &[V<'_>], _extra: u32) -> D<()> {
        let n = items.len();
        if n == 0 {
            self.write(if self.proto >= 1 { b")" } else { b"(t" });
            return Ok(());
        }
        if n <= 3 && self.proto >= 2 {
            for it in items {
                self.save_v(it, 0)?;
            }
            self.write(&[code::TUPLE1 + n as u8 - 1]);
        } else {
            self.write(&[code::MARK]);
            for it in items {
                self.save_v(it, 0)?;
            }
            self.write(&[code::TUPLE]);
        }
        // A fresh tuple: memoized by the C pickler of 3.x, never by cPickle (refcount 1).
        if !self.py2() {
            let k = Ident::Tagged(Tag::Tuple, self.out.len());
            self.memo_put(k);
        }
        Ok(())
    }

    pub(super) fn save_v(&mut self, v: &V<'_>, extra: u32) -> D<()> {
        match v {
            V::Node(id) => self.save(*id, extra),
            V::Int(i) => self.save_int(i, false),
            V::Global(m, n) => self.save_global(m, n, None),
            V::Float(f) => {
                self.save_float(*f);
                Ok(())
            }
            V::Text(t) => {
                self.save_text(t.as_bytes());
                if !self.py2() {
                    let k = Ident::Tagged(Tag::Text, self.out.len());
                    self.memo_put(k);
                }
                Ok(())
            }
            V::Interned(t) => {
                let key = if at_most_one_char(t.as_bytes()) {
                    Ident::SmallText(t.as_bytes())
                } else {
                    Ident::Interned(t)
                };
                if let Some(i) = self.memo.get(key) {
                    self.write_get(i);
                    return Ok(());
                }
                self.save_text(t.as_bytes());
                if !self.py2() {
                    self.memo_put(key);
                }
                Ok(())
            }
            V::Bytes(b) => {
                if self.py2() {
                    self.save_py2_str(b);
                    Ok(())
                } else {
                    let k = if b.len() <= 1 {
                        Ident::SmallBytes(b.first().copied())
                    } else {
                        Ident::Tagged(Tag::Bytes, self.out.len())
                    };
                    if let Some(i) = self.memo.get(k) {
                        self.write_get(i);
                        return Ok(());
                    }
                    self.save_bytes(b, Some(k))
                }
            }
            V::Py2Shared(b) => {
                self.save_py2_str(b);
                if b.len() >= 2 {
                    self.memo_put(Ident::Tagged(Tag::Shared, self.out.len()));
                }
                Ok(())
            }
            V::Tuple(items) => self.save_tuple_v(items, extra),
            V::List(items) => {
                if self.proto >= 1 {
                    self.write(&[code::EMPTY_LIST]);
                } else {
                    self.write(b"(l");
                }
                if !self.py2() || !items.is_empty() {
                    // py2: a fresh list (refcount 1), memoized by put2 when non-empty.
                    let k = Ident::Tagged(Tag::List, self.out.len());
                    self.memo_put(k);
                }
                let ids: Vec<Id> = items
                    .iter()
                    .filter_map(|v| if let V::Node(i) = v { Some(*i) } else { None })
                    .collect();
                self.batch_appends(&ids)
            }
        }
    }
}
