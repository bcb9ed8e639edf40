//! Containers: lists, tuples, dicts and sets, with dict keys merged as Python's equality merges
//! them (a keyed digest per key).

#![allow(clippy::wildcard_imports)]
use super::*;

impl<'a> Vm<'a> {
    // ----- containers ---------------------------------------------------------------------

    /// A dict key's identity under Python's equality, as a keyed 128-bit digest (two SipHash
    /// states seeded at random per load, so crafted collisions are not possible), computed once
    /// per node: a big string used as a key a million times is hashed once.
    pub(super) fn key_of(&mut self, id: Id) -> R<Key> {
        if let Some(k) = self.key_cache.get(&id) {
            return Ok(k.clone());
        }
        let mut budget = 10_000usize;
        let k = self.key_of_bounded(id, &mut budget, 0)?;
        // Cached where hashing again costs more than the cache: tuples (whose items would be
        // visited, and counted against the budget, again) and long payloads.
        let worth = match self.heap.get(id) {
            Node::Text(b) | Node::Bytes(b) => b.len() > 256,
            Node::Int(_) | Node::Long(_) | Node::Bool(_) | Node::Float(_) | Node::None => false,
            _ => true,
        };
        if worth {
            self.key_cache.insert(id, k.clone());
        }
        Ok(k)
    }

    pub(super) fn digest(&self, tag: u8, parts: &[&[u8]]) -> Key {
        let mut h = self.hash_keys.hasher();
        h.write_u8(tag);
        for p in parts {
            h.write(p);
        }
        h.finish(tag)
    }

    /// The digest of an integral value (int, long, bool, integral float): equal values give equal
    /// digests whatever their node type.
    pub(super) fn int_digest(&self, v: &BigInt) -> Key {
        match v.to_i64() {
            Some(x) => self.digest(1, &[&x.to_le_bytes()]),
            // Outside i64 the minimal two's complement form is longer than 8 bytes (the
            // lengths are hashed, so the two forms never meet).
            None => self.digest(1, &[&v.to_signed_bytes_le()]),
        }
    }

    /// A key too deep or too large to hash within the budget is a finding: CPython hashes every
    /// element of a tuple key (tuple hashes are not cached), so a doubling bomb as a key never
    /// finishes loading there.
    pub(super) fn key_of_bounded(&mut self, id: Id, budget: &mut usize, depth: usize) -> R<Key> {
        if *budget == 0 || depth > 200 {
            return Err(Fail::Unknown(Unmodelled::Budget(
                "dict key or set item too large to hash",
            )));
        }
        *budget -= 1;
        if let Some(k) = self.key_cache.get(&id) {
            return Ok(k.clone());
        }
        let node = self.heap.get(id);
        Ok(match node {
            Node::None => Key::None,
            Node::Bool(b) => self.digest(1, &[&i64::from(*b).to_le_bytes()]),
            Node::Int(v) | Node::Long(v) => self.int_digest(v),
            Node::Float(f) => {
                if f.is_finite() && f.fract() == 0.0 {
                    // An integral float is the key of the int of the same value (1.0 == 1,
                    // 1e300 == int(1e300)): the exact integer, at any magnitude.
                    if f.abs() < 9.0e18 {
                        self.digest(1, &[&(*f as i64).to_le_bytes()])
                    } else {
                        match num_traits::FromPrimitive::from_f64(*f) {
                            Some(b) => self.int_digest(&b),
                            None => self.digest(2, &[&f.to_bits().to_le_bytes()]),
                        }
                    }
                } else if f.is_nan() {
                    Key::Identity(id)
                } else {
                    self.digest(2, &[&f.to_bits().to_le_bytes()])
                }
            }
            Node::Text(t) => self.digest(3, &[t]),
            Node::Bytes(b) => {
                // py2: an ASCII str equals the same unicode.
                let tag = if self.py2() && b.is_ascii() { 3 } else { 4 };
                self.digest(tag, &[b])
            }
            Node::Tuple(items) | Node::FrozenSet(items) => {
                let frozen = matches!(node, Node::FrozenSet(_));
                let items = items.clone();
                let mut ks = Vec::with_capacity(items.len());
                for i in items {
                    let k = self.key_of_bounded(i, budget, depth + 1)?;
                    ks.push(match k {
                        Key::None => [0u8; 17],
                        Key::Digest(t, a, b) => {
                            let mut x = [0u8; 17];
                            x[0] = t;
                            x[1..9].copy_from_slice(&a.to_le_bytes());
                            x[9..].copy_from_slice(&b.to_le_bytes());
                            x
                        }
                        Key::Identity(i) => {
                            let mut x = [0xffu8; 17];
                            x[1..9].copy_from_slice(&(i as u64).to_le_bytes());
                            x
                        }
                    });
                }
                if frozen {
                    ks.sort_unstable();
                }
                let tag = if frozen { 6 } else { 5 };
                let mut h = self.hash_keys.hasher();
                h.write_u8(tag);
                h.write(ks.as_flattened());
                h.finish(tag)
            }
            Node::List(_)
            | Node::Dict(_)
            | Node::Set(_)
            | Node::ByteArray(_)
            | Node::OrderedDict(_)
            | Node::DefaultDict { .. }
            | Node::Deque { .. } => {
                let t = self.type_name(id);
                return Err(Fail::Py(PyError::new(
                    "TypeError",
                    format!("unhashable type: '{t}'"),
                )));
            }
            Node::Decimal(s) => self.digest(7, &[s.as_bytes()]),
            _ => Key::Identity(id),
        })
    }

    pub(super) fn index_of(&mut self, container: Id) -> R<&mut Map<Key, usize>> {
        if !self.index.contains_key(&container) {
            let keys: Vec<Id> = match self.heap.get(container) {
                Node::Dict(kv) | Node::OrderedDict(kv) | Node::Instance { dict: kv, .. } => {
                    kv.iter().map(|&(k, _)| k).collect()
                }
                Node::DefaultDict { items, .. } => items.iter().map(|&(k, _)| k).collect(),
                Node::Set(v) | Node::FrozenSet(v) => v.clone(),
                _ => Vec::new(),
            };
            let mut map = fasthash::map();
            map.reserve(keys.len());
            for (i, k) in keys.into_iter().enumerate() {
                map.insert(self.key_of(k)?, i);
            }
            self.index.insert(container, map);
        }
        Ok(self.index.get_mut(&container).expect("inserted above"))
    }

    /// `key_of` for an insertion: 3.14+ dicts and sets name the role of the unhashable object in
    /// the TypeError (`cannot use 'list' as a dict key (unhashable type: 'list')`); an
    /// OrderedDict hashes the key itself first (the plain message).
    pub(super) fn key_for(&mut self, container: Id, k: Id) -> R<Key> {
        match self.key_of(k) {
            Err(Fail::Py(e)) if e.ty == "TypeError" && self.facts.unhashable_names_role => {
                let role = match self.heap.get(container) {
                    Node::Dict(_) | Node::Instance { .. } | Node::DefaultDict { .. } => {
                        "a dict key"
                    }
                    Node::Set(_) | Node::FrozenSet(_) => "a set element",
                    _ => return Err(Fail::Py(e)),
                };
                let t = self.type_name(k);
                Err(Fail::Py(PyError::new(
                    "TypeError",
                    format!("cannot use '{t}' as {role} ({})", e.msg),
                )))
            }
            r => r,
        }
    }

    pub(super) fn dict_set(&mut self, d: Id, k: Id, v: Id) -> R<()> {
        use std::collections::hash_map::Entry;
        let key = self.key_for(d, k)?;
        self.index_of(d)?;
        let (Some(index), items) = (
            self.index.get_mut(&d),
            match self.heap.get_mut(d) {
                Node::Dict(kv) | Node::OrderedDict(kv) | Node::Instance { dict: kv, .. } => kv,
                Node::DefaultDict { items, .. } => items,
                _ => return Ok(()),
            },
        ) else {
            return Ok(());
        };
        match index.entry(key) {
            Entry::Occupied(e) => items[*e.get()].1 = v,
            Entry::Vacant(e) => {
                items.push((k, v));
                e.insert(items.len() - 1);
            }
        }
        Ok(())
    }

    /// Room for `n` more items in a dict about to take them (SETITEMS, DICT): saves the
    /// regrowth of its items and of its key index. Changes nothing else.
    pub(super) fn reserve_items(&mut self, d: Id, n: usize) {
        let items = match self.heap.get_mut(d) {
            Node::Dict(kv) | Node::OrderedDict(kv) => kv,
            Node::DefaultDict { items, .. } => items,
            _ => return,
        };
        items.reserve(n);
        let empty = items.is_empty();
        match self.index.get_mut(&d) {
            Some(index) => index.reserve(n),
            // The index an empty dict would build (no keys to hash), with room.
            None if empty => {
                let mut index = fasthash::map();
                index.reserve(n);
                self.index.insert(d, index);
            }
            None => {}
        }
    }

    pub(super) fn set_add(&mut self, s: Id, item: Id) -> R<()> {
        let key = self.key_for(s, item)?;
        if self.index_of(s)?.contains_key(&key) {
            return Ok(());
        }
        let n = match self.heap.get_mut(s) {
            Node::Set(v) | Node::FrozenSet(v) => {
                v.push(item);
                v.len() - 1
            }
            _ => return Ok(()),
        };
        self.index_of(s)?.insert(key, n);
        Ok(())
    }

    pub(super) fn setitem(&mut self, d: Id, k: Id, v: Id) -> R<()> {
        match self.heap.get(d) {
            Node::Dict(_) | Node::OrderedDict(_) | Node::DefaultDict { .. } => {
                self.dict_set(d, k, v)
            }
            Node::Opaque { .. } => {
                self.drop_reduce(d);
                Ok(())
            }
            Node::Instance { class, .. } if class.known == Known::AppClass => {
                // Pickle writes items only for dict subclasses: the class is not plain.
                self.not_plain(d);
                Ok(())
            }
            _ => {
                let t = self.type_name(d);
                Err(Fail::Py(PyError::new(
                    "TypeError",
                    format!("'{t}' object does not support item assignment"),
                )))
            }
        }
    }

    pub(super) fn extend(&mut self, target: Id, items: Vec<Id>) -> R<()> {
        match self.heap.get_mut(target) {
            Node::List(v) => v.extend(items),
            Node::Deque { items: v, maxlen } => {
                v.extend(items);
                if let Some(m) = maxlen {
                    let m = (*m).max(0) as usize;
                    if v.len() > m {
                        v.drain(..v.len() - m);
                    }
                }
            }
            Node::Opaque { .. } => self.drop_reduce(target),
            Node::Instance { class, .. } if class.known == Known::AppClass => {
                // Pickle writes items only for list subclasses: the class is not plain.
                self.not_plain(target);
            }
            _ => {
                let t = self.type_name(target);
                return Err(Fail::Py(PyError::new(
                    "AttributeError",
                    format!("'{t}' object has no attribute 'append'"),
                )));
            }
        }
        Ok(())
    }

    /// An application instance the stream shows not to be plain (items of a list or dict
    /// subclass, a state only its own `__setstate__` takes, slots, `__new__` arguments): it loads
    /// (the class is assumed importable), but its value is not modelled.
    pub(super) fn not_plain(&mut self, id: Id) {
        self.not_plain_with_state(id, None);
    }

    /// `not_plain` for an instance whose BUILD state the models cannot apply: it was made by
    /// `cls.__new__(cls)` and handed that state.
    pub(super) fn not_plain_with_state(&mut self, id: Id, state: Option<Id>) {
        if let (Node::Instance { class, dict }, Some(st)) = (self.heap.get(id).clone(), state)
            && dict.is_empty()
            && let Ok(func) = self.new_node(Node::Global(class.clone()), code::BUILD)
            && let Ok(args) = self.new_node(Node::Tuple(Vec::new()), code::BUILD)
        {
            *self.heap.get_mut(id) = Node::Opaque {
                class,
                reduce: Some(Reduce {
                    func,
                    args,
                    newobj: true,
                    state: Some(st),
                }),
            };
            self.index.remove(&id);
            self.key_cache.remove(&id);
            return;
        }
        if let Node::Instance { class, .. } = self.heap.get(id) {
            let class = class.clone();
            *self.heap.get_mut(id) = Node::Opaque {
                class,
                reduce: None,
            };
            self.index.remove(&id);
            self.key_cache.remove(&id);
        }
    }

    /// Items were added to an opaque object (a list, dict or set subclass): what built it no
    /// longer says what it holds.
    pub(super) fn drop_reduce(&mut self, id: Id) {
        if let Node::Opaque { reduce, .. } = self.heap.get_mut(id) {
            *reduce = None;
        }
    }

    /// The Python type name of a node in this runtime (for error messages).
    pub(super) fn type_name(&self, id: Id) -> String {
        type_name(self.heap.get(id), self.py2())
    }
}
