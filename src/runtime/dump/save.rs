//! `save`: the pickler's dispatch on each node, as each runtime's pickler (`Modules/_pickle.c`,
//! cPickle, pickle.py) orders its type checks.

#![allow(clippy::wildcard_imports)]
use super::*;

impl<'a> Pickler<'a> {
    // ----- save ---------------------------------------------------------------------------

    /// `extra`: references the caller holds while saving (cPickle's iterators), for py2's memo.
    pub(super) fn save(&mut self, id: Id, extra: u32) -> D<()> {
        if !crate::meter::ops(1) {
            return Err(DumpError::Unmodelled("over the verdict budget".into()));
        }
        self.depth += 1;
        if self.depth > self.max_depth {
            // `recursion_precheck` said what the real pickler does past its limit; this only
            // bounds the model's own (recursive) walk.
            return Err(DumpError::Unmodelled(
                "nesting deeper than the model follows".into(),
            ));
        }
        let r = self.save_inner(id, extra);
        self.depth -= 1;
        r
    }

    pub(super) fn save_inner(&mut self, id: Id, extra: u32) -> D<()> {
        if !self.py2() {
            self.boundary();
        }
        let heap = self.heap;
        let node: &'a Node = heap.get(id);
        match node {
            Node::None => {
                self.write(b"N");
                return Ok(());
            }
            Node::Bool(b) => {
                self.save_bool(*b);
                return Ok(());
            }
            Node::Int(v) => return self.save_int(v, false),
            Node::Long(v) => return self.save_int(v, true),
            Node::Float(f) => {
                self.save_float(*f);
                return Ok(());
            }
            _ => {}
        }
        let ident = self.ident(id);
        if let Some(i) = self.memo.get(ident) {
            self.write_get(i);
            return Ok(());
        }
        match node {
            Node::Bytes(b) => {
                if self.py2() {
                    self.save_py2_str(b);
                    if b.len() > 1 {
                        self.py2_put(id, extra);
                    }
                    Ok(())
                } else {
                    self.save_bytes(b, Some(ident))
                }
            }
            Node::Text(t) => {
                self.save_text(t);
                if self.py2() {
                    if !at_most_one_char(t) {
                        self.py2_put(id, extra);
                    }
                } else {
                    self.memo_put(ident);
                }
                Ok(())
            }
            Node::List(items) => {
                if self.proto >= 1 {
                    self.write(&[code::EMPTY_LIST]);
                } else {
                    self.write(b"(l");
                }
                self.put_container(id, ident, extra, !items.is_empty());
                self.batch_appends(items)
            }
            Node::Dict(kv) => {
                if self.proto >= 1 {
                    self.write(&[code::EMPTY_DICT]);
                } else {
                    self.write(b"(d");
                }
                self.put_container(id, ident, extra, !kv.is_empty());
                let kv = self.py2_dict_order(kv, Filled::Inserted)?;
                self.batch_setitems(&kv, self.py2() && self.proto == 0)
            }
            Node::Tuple(items) => self.save_tuple(id, items, extra),
            Node::Set(items) if self.proto >= 4 => {
                self.write(&[code::EMPTY_SET]);
                self.memo_put(ident);
                for chunk in items.chunks(BATCHSIZE) {
                    self.write(&[code::MARK]);
                    for &it in chunk {
                        self.save(it, 0)?;
                    }
                    self.write(&[code::ADDITEMS]);
                }
                Ok(())
            }
            Node::FrozenSet(items) if self.proto >= 4 => {
                self.write(&[code::MARK]);
                for &it in items {
                    self.save(it, 0)?;
                }
                if let Some(i) = self.memo.get(ident) {
                    // Recursive: pop what was written, fetch the memoized one.
                    self.write(&[code::POP_MARK]);
                    self.write_get(i);
                    return Ok(());
                }
                self.write(&[code::FROZENSET]);
                self.memo_put(ident);
                Ok(())
            }
            Node::Set(items) | Node::FrozenSet(items) => {
                let g = if matches!(node, Node::Set(_)) {
                    "set"
                } else {
                    "frozenset"
                };
                let items = self.py2_set_order(items)?;
                let list = V::List(items.iter().map(|&i| V::Node(i)).collect());
                self.save_reduce(id, ("builtins", g), V::Tuple(vec![list]), None, extra)
            }
            Node::ByteArray(b) => self.save_bytearray(id, b, extra),
            Node::Global(g) if !crate::runtime::render::global_predictable(g) => {
                // A dunder or dotted attribute the models do not know: what it is, and so how
                // it pickles, is not known.
                Err(DumpError::Unmodelled(format!(
                    "pickling {}.{}",
                    g.module, g.name
                )))
            }
            Node::Global(g) => self.save_global(&g.module, &g.name, Some(ident)),
            Node::Datetime {
                fields: f,
                tz,
                fold,
            } => {
                let fold = if self.proto > 3 { *fold } else { 0 };
                let mut st = vec![
                    (f[0] >> 8) as u8,
                    f[0] as u8,
                    f[1] as u8 | (fold << 7),
                    f[2] as u8,
                    f[3] as u8,
                    f[4] as u8,
                    f[5] as u8,
                ];
                st.extend_from_slice(&[(f[6] >> 16) as u8, (f[6] >> 8) as u8, f[6] as u8]);
                let mut args = vec![V::Bytes(st)];
                if let Some(t) = tz {
                    args.push(V::Node(*t));
                }
                self.save_reduce(id, ("datetime", "datetime"), V::Tuple(args), None, extra)
            }
            Node::Date(f) => {
                let st = vec![(f[0] >> 8) as u8, f[0] as u8, f[1] as u8, f[2] as u8];
                self.save_reduce(
                    id,
                    ("datetime", "date"),
                    V::Tuple(vec![V::Bytes(st)]),
                    None,
                    extra,
                )
            }
            Node::Time {
                fields: f,
                tz,
                fold,
            } => {
                let fold = if self.proto > 3 { *fold } else { 0 };
                let st = vec![
                    f[0] as u8 | (fold << 7),
                    f[1] as u8,
                    f[2] as u8,
                    (f[3] >> 16) as u8,
                    (f[3] >> 8) as u8,
                    f[3] as u8,
                ];
                let mut args = vec![V::Bytes(st)];
                if let Some(t) = tz {
                    args.push(V::Node(*t));
                }
                self.save_reduce(id, ("datetime", "time"), V::Tuple(args), None, extra)
            }
            Node::Timedelta(f) => {
                let args = V::Tuple(f.iter().map(|&x| V::Int(BigInt::from(x))).collect());
                self.save_reduce(id, ("datetime", "timedelta"), args, None, extra)
            }
            Node::Timezone { offset, name } => {
                let mut args = vec![V::Node(*offset)];
                if let Some(n) = name {
                    args.push(V::Node(*n));
                }
                self.save_reduce(id, ("datetime", "timezone"), V::Tuple(args), None, extra)
            }
            Node::ZoneInfo { key, from_cache } => {
                // ZoneInfo.__reduce__ is (ZoneInfo._unpickle, (key, from_cache)); the bound
                // method pickles as getattr(ZoneInfo, '_unpickle') (a fresh object, memoized).
                self.save_global("builtins", "getattr", None)?;
                self.save_tuple_v(
                    &[V::Global("zoneinfo", "ZoneInfo"), V::Interned("_unpickle")],
                    0,
                )?;
                self.write(&[code::REDUCE]);
                let m = Ident::Tagged(Tag::Method, self.out.len());
                self.memo_put(m);
                self.save_tuple_v(&[V::Node(*key), V::Int(BigInt::from(*from_cache))], 0)?;
                self.write(&[code::REDUCE]);
                self.memo_put(ident);
                Ok(())
            }
            Node::Decimal(s) => {
                let arg = if self.py2() && matches!(s.as_str(), "NaN" | "sNaN" | "Infinity") {
                    // py2 Decimal.__str__ returns these as the code's constants (refcount > 1).
                    V::Py2Shared(s.clone().into_bytes())
                } else if self.py2() {
                    V::Bytes(s.clone().into_bytes())
                } else {
                    V::Text(s)
                };
                let args = V::Tuple(vec![arg]);
                self.save_reduce(id, ("decimal", "Decimal"), args, None, extra)
            }
            Node::Complex(re, im) => {
                let args = V::Tuple(vec![V::Float(*re), V::Float(*im)]);
                self.save_reduce(id, ("builtins", "complex"), args, None, extra)
            }
            Node::OrderedDict(kv) if !self.py2() => self.save_reduce_with_items(
                id,
                ("collections", "OrderedDict"),
                V::Tuple(vec![]),
                Items::Dict(kv),
                extra,
            ),
            Node::DefaultDict { factory, items } if !self.py2() => {
                // defdict_reduce: no arguments when the factory is None.
                let args = if matches!(self.heap.get(*factory), Node::None) {
                    V::Tuple(vec![])
                } else {
                    V::Tuple(vec![V::Node(*factory)])
                };
                self.save_reduce_with_items(
                    id,
                    ("collections", "defaultdict"),
                    args,
                    Items::Dict(items),
                    extra,
                )
            }
            Node::Deque { items, maxlen } if !self.py2() => {
                let args = match maxlen {
                    Some(m) => V::Tuple(vec![V::Tuple(vec![]), V::Int(BigInt::from(*m))]),
                    None => V::Tuple(vec![]),
                };
                self.save_reduce_with_items(
                    id,
                    ("collections", "deque"),
                    args,
                    Items::List(items),
                    extra,
                )
            }
            Node::OrderedDict(kv) => {
                // 2.7 collections.py: __reduce__ returns (cls, ([[k, v], ...],)) (plus the
                // instance dict when it has more than the class's own links, which a load
                // never sets).
                self.save_global("collections", "OrderedDict", None)?;
                self.py2_args_open(1);
                self.py2_fresh_list(kv.len(), |p| {
                    p.py2_batch(kv, |p, &(k, v)| {
                        // [k, v]: a fresh list, so memoized; k and v held by it and the list
                        // iterator besides the OrderedDict.
                        p.py2_fresh_list(2, |p| {
                            if p.proto == 0 {
                                p.save(k, 2)?;
                                p.write(&[code::APPEND]);
                                p.save(v, 2)?;
                                p.write(&[code::APPEND]);
                            } else {
                                p.write(&[code::MARK]);
                                p.save(k, 2)?;
                                p.save(v, 2)?;
                                p.write(&[code::APPENDS]);
                            }
                            Ok(())
                        })
                    })
                })?;
                self.py2_args_close(1);
                self.write(&[code::REDUCE]);
                self.py2_memo_reduced(ident);
                Ok(())
            }
            Node::DefaultDict { factory, items } => {
                // defdict_reduce: (type, () or (factory,), None, None, iteritems()).
                self.save_global("collections", "defaultdict", None)?;
                if matches!(self.heap.get(*factory), Node::None) {
                    self.write(if self.proto >= 1 { b")" } else { b"(t" });
                } else {
                    self.py2_args_open(1);
                    self.save(*factory, 1)?;
                    self.py2_args_close(1);
                }
                self.write(&[code::REDUCE]);
                if self.py2_memo_reduced(ident) {
                    let items = self.py2_dict_order(items, Filled::Inserted)?;
                    self.batch_setitems_mode(&items, 1, false)?;
                }
                Ok(())
            }
            Node::Deque { items, maxlen } => {
                // deque_reduce: (type, (list(d),)) or (type, (list(d), maxlen)).
                let n = if maxlen.is_some() { 2 } else { 1 };
                self.save_global("collections", "deque", None)?;
                self.py2_args_open(n);
                self.py2_fresh_list(items.len(), |p| p.py2_batch(items, |p, &it| p.save(it, 2)))?;
                if let Some(m) = maxlen {
                    self.save_int(&BigInt::from(*m), false)?;
                }
                self.py2_args_close(n);
                self.write(&[code::REDUCE]);
                self.py2_memo_reduced(ident);
                Ok(())
            }
            Node::Range([start, stop, step]) if self.py2() => {
                // range_reduce: (xrange, (start, start + len * step, step)), built with C ints
                // ("(O(iii))"): values beyond 32 bits would be truncated, so not modelled.
                let len = if step.is_positive() && start < stop {
                    (stop - start - 1) / step + 1
                } else if step.is_negative() && start > stop {
                    (start - stop - 1) / -step + 1
                } else {
                    BigInt::zero()
                };
                let end = start + &len * step;
                let fits = |v: &BigInt| v.to_i32().is_some();
                if ![start, stop, step, &end].into_iter().all(fits) {
                    return Err(DumpError::Unmodelled(
                        "py2: an xrange beyond C int (range_reduce's \"i\" format)".into(),
                    ));
                }
                self.save_global("builtins", "xrange", None)?;
                self.py2_args_open(3);
                for v in [start, &end, step] {
                    self.save_int(v, false)?;
                }
                self.py2_args_close(3);
                self.write(&[code::REDUCE]);
                self.py2_memo_reduced(ident);
                Ok(())
            }
            Node::Range([start, stop, step]) => {
                // range_reduce: (range, (start, stop, step)) as constructed.
                let args = V::Tuple(vec![
                    V::Int(start.clone()),
                    V::Int(stop.clone()),
                    V::Int(step.clone()),
                ]);
                self.save_reduce(id, ("builtins", "range"), args, None, extra)
            }
            Node::Opaque {
                reduce: Some(r), ..
            } if self.py2() && self.py2_slice_args(r).is_some() => {
                // slice_reduce: (slice, (start, stop, step)), the parts held by the slice.
                let parts = self.py2_slice_args(r).unwrap_or_default();
                self.save_global("builtins", "slice", None)?;
                self.py2_args_open(3);
                for part in parts {
                    match part {
                        Some(x) => self.save(x, 1)?,
                        None => self.write(b"N"),
                    }
                }
                self.py2_args_close(3);
                self.write(&[code::REDUCE]);
                self.py2_memo_reduced(ident);
                Ok(())
            }
            Node::Opaque {
                reduce: Some(r), ..
            } if self.py2() && self.py2_fraction_str(r).is_some() => {
                // 2.7 fractions.py: __reduce__ returns (cls, (str(self),)), a fresh str.
                let text = self.py2_fraction_str(r).unwrap_or_default();
                self.save_global("fractions", "Fraction", None)?;
                self.py2_args_open(1);
                self.save_py2_str(text.as_bytes());
                self.py2_args_close(1);
                self.write(&[code::REDUCE]);
                self.py2_memo_reduced(ident);
                Ok(())
            }
            Node::Opaque {
                reduce: Some(r), ..
            } if self.py2() && self.py2_counter_items(r).is_some() => {
                // 2.7 collections.py: Counter.__reduce__ returns (cls, (dict(self),)); the
                // Counter holds what its one argument held (dict.update into an empty Counter).
                let kv = self.py2_counter_items(r).unwrap_or(&[]);
                let kv = self.py2_dict_order(kv, Filled::CounterCopy)?;
                self.save_global("collections", "Counter", None)?;
                self.py2_args_open(1);
                self.write(if self.proto >= 1 { b"}" } else { b"(d" });
                if !kv.is_empty() {
                    // A fresh container (put2), keyed by its output offset.
                    self.memo_put(Ident::Tagged(Tag::List, self.out.len()));
                }
                // Keys and values are held by the Counter and the fresh dict.
                // dict(self) is an exact dict.
                self.batch_setitems_mode(&kv, 1 + u32::from(self.proto == 0), true)?;
                self.py2_args_close(1);
                self.write(&[code::REDUCE]);
                self.py2_memo_reduced(ident);
                Ok(())
            }
            Node::Exception { class, args, dict } => {
                // BaseException.__reduce__ returns (type, self.args[, self.__dict__]): the args
                // tuple is shared with the exception (refcount 2 on py2), and py2's exceptions
                // keep a second reference to some arguments as attributes: `message` (a single
                // argument), EnvironmentError's errno/strerror/filename, the Unicode errors'
                // fields.
                let (m, n) = (class.module.clone(), class.name.clone());
                self.save_global(&m, &n, None)?;
                let args = *args;
                let items: &'a [Id] = match heap.get(args) {
                    Node::Tuple(v) => v,
                    _ => &[],
                };
                let attrs = self.py2()
                    && (items.len() == 1
                        || (matches!(n.as_str(), "OSError" | "IOError" | "EnvironmentError")
                            && (2..=3).contains(&items.len()))
                        || (n.starts_with("Unicode")
                            && n.ends_with("Error")
                            && (4..=5).contains(&items.len())));
                if attrs {
                    let op = match (self.proto >= 2, items.len()) {
                        (true, 1) => Some(code::TUPLE1),
                        (true, 2) => Some(code::TUPLE2),
                        (true, 3) => Some(code::TUPLE3),
                        _ => None,
                    };
                    if op.is_none() {
                        self.write(&[code::MARK]);
                    }
                    for &it in items {
                        self.save(it, 1)?;
                    }
                    self.write(&[op.unwrap_or(code::TUPLE)]);
                    self.py2_put(args, 1);
                } else {
                    self.save(args, 1)?;
                }
                self.write(&[code::REDUCE]);
                // py2 too: the bound __reduce_ex__ holds the exception, so `put` memoizes it.
                let _ = extra;
                let ident = self.ident(id);
                self.memo_put(ident);
                if !dict.is_empty() {
                    // The state is the exception's __dict__ (refcount 2 on py2: the exception
                    // and the reduce tuple); its keys went through setattr, which interns them.
                    self.write(if self.proto >= 1 { b"}" } else { b"(d" });
                    self.memo_put(Ident::Tagged(Tag::Dict, id));
                    let dict = self.py2_dict_order(dict, Filled::FromState)?;
                    self.attr_items(&dict)?;
                    self.write(&[code::BUILD]);
                }
                Ok(())
            }
            Node::Instance { class, dict } => self.save_instance(id, class, dict, extra),
            Node::Opaque {
                class,
                reduce: Some(r),
            } if !self.py2() && class.known == Known::AppClass => self.save_reduced(id, class, r),
            other => Err(DumpError::Unmodelled(format!(
                "pickling {} is not modelled",
                crate::runtime::load::type_name(other, self.py2())
            ))),
        }
    }
}
