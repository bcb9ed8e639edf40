//! pickle.py (2.7, `2.7-pickle`): the stack as a Python list with its MARK object, readline on cut
//! lines, string-keyed memo.

#![allow(clippy::wildcard_imports)]
use super::*;

impl<'a> Vm<'a> {
    // ----- pickle.py (2.7): the stack as a Python list, the MARK an object on it -----------

    pub(super) fn index_error(msg: &str) -> Fail {
        Fail::Py(PyError::new("IndexError", msg))
    }

    /// `self.stack[k]` (negative k from the end).
    pub(super) fn pure_at(&self, k: isize) -> R<Id> {
        let n = self.stack.len() as isize;
        let i = if k < 0 { n + k } else { k };
        if i < 0 || i >= n {
            return Err(Self::index_error("list index out of range"));
        }
        Ok(self.stack[i as usize])
    }

    pub(super) fn pure_pop(&mut self) -> R<Id> {
        self.stack
            .pop()
            .ok_or_else(|| Self::index_error("pop from empty list"))
    }

    /// `marker()`: the last MARK object's position; without one the loop runs off the front
    /// of the list (IndexError).
    pub(super) fn pure_marker(&self) -> R<usize> {
        let mark = self.mark_obj;
        self.stack
            .iter()
            .rposition(|&id| Some(id) == mark)
            .ok_or_else(|| Self::index_error("list index out of range"))
    }

    pub(super) fn pure_mark(&mut self) -> R<Id> {
        if let Some(m) = self.mark_obj {
            return Ok(m);
        }
        let g = Global {
            module: "__builtin__".into(),
            name: "object".into(),
            known: Known::Object,
        };
        let m = self.new_node(
            Node::Instance {
                class: g,
                dict: Vec::new(),
            },
            code::MARK,
        )?;
        self.mark_obj = Some(m);
        Ok(m)
    }

    /// Python truthiness, where the models know it (unknown objects count as true).
    pub(super) fn falsy(&self, id: Id) -> bool {
        match self.heap.get(id) {
            Node::None => true,
            Node::Bool(b) => !b,
            Node::Int(v) | Node::Long(v) => v.is_zero(),
            Node::Float(f) => *f == 0.0,
            Node::Bytes(v) | Node::Text(v) | Node::ByteArray(v) => v.is_empty(),
            Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => v.is_empty(),
            Node::Dict(kv) | Node::OrderedDict(kv) => kv.is_empty(),
            _ => false,
        }
    }

    /// Whether `f(*x)` can unpack x (what pickles put there: tuples, lists, sets, dicts,
    /// strings).
    pub(super) fn iterable(&self, x: Id) -> bool {
        matches!(
            self.heap.get(x),
            Node::Tuple(_)
                | Node::List(_)
                | Node::Set(_)
                | Node::FrozenSet(_)
                | Node::Dict(_)
                | Node::Bytes(_)
                | Node::Text(_)
                | Node::ByteArray(_)
                | Node::Deque { .. }
                | Node::OrderedDict(_)
        )
    }

    /// py2's `f(*args)` with args not iterable (ceval ext_do_call: PyEval_GetFuncName and
    /// PyEval_GetFuncDesc: "name()" for a function, "Name constructor" for a classic class,
    /// otherwise the type's name and " object", so "type object" for a new-style class).
    pub(super) fn star_args_error(&self, f: Id, args: Id, newobj: bool) -> Fail {
        let t = self.type_name(args);
        let who = if newobj {
            "__new__()".to_string()
        } else {
            match self.heap.get(f) {
                Node::Global(g) if g.known == Known::ClassicClass => {
                    format!("{} constructor", g.name)
                }
                Node::Global(g) if is_type(g) => "type object".to_string(),
                Node::Global(g) => format!("{}()", g.name),
                _ => format!("{} object", self.type_name(f)),
            }
        };
        Fail::Py(PyError::new(
            "TypeError",
            format!("{who} argument after * must be an iterable, not {t}"),
        ))
    }

    /// The arguments as a tuple node (pickle.py passes `*args`, so a list works too).
    pub(super) fn as_args_tuple(&mut self, args: Id) -> R<Id> {
        match self.heap.get(args).clone() {
            Node::Tuple(_) => Ok(args),
            Node::List(v) => self.new_node(Node::Tuple(v), code::REDUCE),
            _ => Err(Fail::Unknown(Unmodelled::Feature(
                "unpacking a non-sequence as arguments".into(),
            ))),
        }
    }

    /// The opcodes whose pickle.py code touches the stack in ways the C loaders do not (the
    /// MARK object, Python list indexing and its IndexErrors); `None`: the shared code applies.
    pub(super) fn step_pure(&mut self, op: &Op) -> Option<R<Option<Id>>> {
        const HANDLED: &[u8] = &[
            code::MARK,
            code::STOP,
            code::POP,
            code::POP_MARK,
            code::DUP,
            code::TUPLE,
            code::LIST,
            code::TUPLE1,
            code::TUPLE2,
            code::TUPLE3,
            code::DICT,
            code::INST,
            code::OBJ,
            code::REDUCE,
            code::NEWOBJ,
            code::BUILD,
            code::APPEND,
            code::APPENDS,
            code::SETITEM,
            code::SETITEMS,
        ];
        let c = op.code;
        if !HANDLED.contains(&c) {
            return None;
        }
        Some(self.step_pure_stack(op))
    }

    pub(super) fn step_pure_stack(&mut self, op: &Op) -> R<Option<Id>> {
        let c = op.code;
        {
            match (c, &op.arg) {
                (code::MARK, _) => {
                    if self.stack.len() >= self.cfg.budget.max_marks {
                        return Err(Fail::Unknown(Unmodelled::Budget("marks")));
                    }
                    let m = self.pure_mark()?;
                    self.push(m)?;
                }
                (code::STOP, _) => return Ok(Some(self.pure_pop()?)),
                (code::POP, _) if self.stack.pop().is_none() => {
                    return Err(Self::index_error("list assignment index out of range"));
                }
                (code::POP_MARK, _) => {
                    let k = self.pure_marker()?;
                    self.stack.truncate(k);
                }
                (code::DUP, _) => {
                    let t = self.pure_at(-1)?;
                    self.push(t)?;
                }
                (code::TUPLE | code::LIST, _) => {
                    let k = self.pure_marker()?;
                    let items = self.stack.split_off(k + 1);
                    self.stack.truncate(k);
                    let node = if c == code::TUPLE {
                        Node::Tuple(items)
                    } else {
                        Node::List(items)
                    };
                    self.push_new(node, c)?;
                }
                (code::TUPLE1 | code::TUPLE2 | code::TUPLE3, _) => {
                    let n = (c - code::TUPLE1 + 1) as isize;
                    let mut items = Vec::new();
                    for k in (1..=n).rev() {
                        items.push(self.pure_at(-k)?);
                    }
                    let len = self.stack.len() - n as usize;
                    self.stack.truncate(len);
                    self.push_new(Node::Tuple(items), c)?;
                }
                (code::DICT, _) => {
                    let k = self.pure_marker()?;
                    let items = self.stack[k + 1..].to_vec();
                    let d = self.new_node(Node::Dict(Vec::new()), c)?;
                    for pair in items.chunks(2) {
                        let [key, v] = pair else {
                            return Err(Self::index_error("list index out of range"));
                        };
                        self.dict_set(d, *key, *v)?;
                    }
                    self.stack.truncate(k);
                    self.push(d)?;
                }
                (code::INST, Arg::Line2(m, n)) => {
                    let (m, n) = (self.slice(m), self.slice(n));
                    let g = self.global_from_lines(m, n)?;
                    let k = self.pure_marker()?;
                    let args = self.stack.split_off(k + 1);
                    self.stack.truncate(k);
                    let v = self.instantiate(g, args)?;
                    self.push(v)?;
                }
                (code::OBJ, _) => {
                    let k = self.pure_marker()?;
                    if k + 1 >= self.stack.len() {
                        return Err(Self::index_error("pop index out of range"));
                    }
                    let cls = self.stack.remove(k + 1);
                    let args = self.stack.split_off(k + 1);
                    self.stack.truncate(k);
                    let Node::Global(g) = self.heap.get(cls).clone() else {
                        return Err(Fail::Unknown(Unmodelled::Feature(
                            "OBJ with a class object that is not a global".into(),
                        )));
                    };
                    let v = self.instantiate(g, args)?;
                    self.push(v)?;
                }
                (code::REDUCE, _) => {
                    let args = self.pure_pop()?;
                    let f = self.pure_at(-1)?;
                    if !self.iterable(args) {
                        return Err(self.star_args_error(f, args, false));
                    }
                    let t = self.as_args_tuple(args)?;
                    let v = self.call(f, t)?;
                    if let Some(top) = self.stack.last_mut() {
                        *top = v;
                    }
                }
                (code::NEWOBJ, _) => {
                    let args = self.pure_pop()?;
                    let cls = self.pure_at(-1)?;
                    let v = match self.heap.get(cls).clone() {
                        Node::Global(g) if is_type(&g) => {
                            if !self.iterable(args) {
                                return Err(self.star_args_error(cls, args, true));
                            }
                            let t = self.as_args_tuple(args)?;
                            let before = self.heap.len();
                            let v = self.newobj(cls, t, None)?;
                            self.record_reduce(v, before, &g, cls, t, true);
                            v
                        }
                        Node::Global(_) => {
                            let t = self.as_args_tuple(args)?;
                            self.newobj(cls, t, None)?
                        }
                        n => {
                            if !self.iterable(args) {
                                return Err(self.star_args_error(cls, args, true));
                            }
                            // `x.__new__` of a non-class is its type's __new__ (object's for
                            // None and plain objects), which wants a type.
                            let t = self.type_name(cls);
                            let owner = match n {
                                Node::Int(_) | Node::Bool(_) => "int",
                                Node::None | Node::Instance { .. } => "object",
                                _ => {
                                    return Err(Fail::Unknown(Unmodelled::Feature(format!(
                                        "NEWOBJ on a {t}"
                                    ))));
                                }
                            };
                            return Err(Fail::Py(PyError::new(
                                "TypeError",
                                format!("{owner}.__new__(X): X is not a type object ({t})"),
                            )));
                        }
                    };
                    if let Some(top) = self.stack.last_mut() {
                        *top = v;
                    }
                }
                (code::BUILD, _) => {
                    let state = self.pure_pop()?;
                    let inst = self.pure_at(-1)?;
                    // load_build: no __setstate__ on a builtin value, and `if state:` /
                    // `if slotstate:` skip falsy parts, so BUILD with an empty state is a no-op.
                    let builtin = !matches!(
                        self.heap.get(inst),
                        Node::Instance { .. } | Node::Opaque { .. } | Node::Exception { .. }
                    );
                    let parts = match self.heap.get(state) {
                        Node::Tuple(t) if t.len() == 2 => t.clone(),
                        _ => vec![state],
                    };
                    if builtin && parts.iter().all(|&p| self.falsy(p)) {
                        return Ok(None);
                    }
                    self.build(inst, state)?;
                }
                (code::APPEND, _) => {
                    let v = self.pure_pop()?;
                    let target = self.pure_at(-1)?;
                    self.extend(target, vec![v])?;
                }
                (code::APPENDS, _) => {
                    let k = self.pure_marker()?;
                    let target = self.pure_at(k as isize - 1)?;
                    let items = self.stack[k + 1..].to_vec();
                    let extends = match self.heap.get(target) {
                        Node::List(_) | Node::Deque { .. } | Node::Opaque { .. } => true,
                        Node::Instance { class, .. } => class.known == Known::AppClass,
                        _ => false,
                    };
                    if !extends {
                        let t = self.type_name(target);
                        return Err(Fail::Py(PyError::new(
                            "AttributeError",
                            format!("'{t}' object has no attribute 'extend'"),
                        )));
                    }
                    self.extend(target, items)?;
                    self.stack.truncate(k);
                }
                (code::SETITEM, _) => {
                    let v = self.pure_pop()?;
                    let key = self.pure_pop()?;
                    let d = self.pure_at(-1)?;
                    self.setitem(d, key, v)?;
                }
                (code::SETITEMS, _) => {
                    let k = self.pure_marker()?;
                    let d = self.pure_at(k as isize - 1)?;
                    let items = self.stack[k + 1..].to_vec();
                    for pair in items.chunks(2) {
                        let [key, v] = pair else {
                            return Err(Self::index_error("list index out of range"));
                        };
                        self.setitem(d, *key, *v)?;
                    }
                    self.stack.truncate(k);
                }
                _ => {}
            }
            Ok(None)
        }
    }

    pub(super) fn pure_memo_get(&mut self, key: &[u8]) -> R<()> {
        match self.text_memo.get(key) {
            Some(&id) => self.push(id),
            None => Err(Fail::Py(PyError::new(
                "KeyError",
                crate::runtime::repr::py2_repr(key),
            ))),
        }
    }

    pub(super) fn pure_memo_put(&mut self, key: Vec<u8>) -> R<()> {
        let t = self.top()?;
        if self.text_memo.len() >= self.cfg.budget.max_memo && !self.text_memo.contains_key(&key) {
            return Err(Fail::Unknown(Unmodelled::Budget("memo")));
        }
        self.text_memo.insert(key, t);
        Ok(())
    }

    pub(super) fn memo_put(&mut self, idx: u64) -> R<()> {
        let t = self.top()?;
        if !self.py2() && (6..=13).contains(&self.rt.minor) && idx >= C_MEMO_ALLOC_LIMIT {
            // _pickle.c (3.6-3.13) keeps the memo as a dense array and resizes it to twice the
            // index: a PUT at index 2**31-1 asks for 32 GiB and raises MemoryError (observed under
            // a 4 GB address-space limit; on a bigger machine it may succeed slowly). 3.14 keeps
            // sparse indices in a dict (gh-115952); 2.7's cPickle always did.
            return Err(Fail::Py(PyError::new("MemoryError", "")));
        }
        if self.memo.len() >= self.cfg.budget.max_memo && self.memo.get(idx).is_none() {
            return Err(Fail::Unknown(Unmodelled::Budget("memo")));
        }
        self.memo.insert(idx, t);
        Ok(())
    }
}
