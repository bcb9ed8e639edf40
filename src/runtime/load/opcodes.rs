//! One opcode at a time: the dispatch from each opcode to what the runtime does with it.

#![allow(clippy::wildcard_imports)]
use super::*;

impl<'a> Vm<'a> {
    // ----- the opcodes --------------------------------------------------------------------

    pub(super) fn slice(&self, r: &std::ops::Range<usize>) -> &'a [u8] {
        &self.data[r.clone()]
    }

    pub(super) fn step(&mut self, op: &Op) -> R<Option<Id>> {
        if !crate::meter::ops(1) {
            return Err(Fail::Unknown(Unmodelled::Budget("verdict")));
        }
        let c = op.code;
        if !self.known_opcode(c) {
            return Err(self.invalid_load_key(c));
        }
        if self.rt.pure
            && let Some(r) = self.step_pure(op)
        {
            return r;
        }
        match (c, &op.arg) {
            (code::PROTO, Arg::Int(p)) => {
                let p = *p as u8;
                if p > self.facts.highest_protocol {
                    return Err(Fail::Py(PyError::new(
                        "ValueError",
                        format!("unsupported pickle protocol: {p}"),
                    )));
                }
                self.proto = p;
            }
            (code::FRAME, Arg::U64(n)) => {
                let remaining = (self.data.len() - (self.pos + 9)) as u64;
                if *n > i64::MAX as u64 {
                    return Err(Fail::Py(PyError::new(
                        "OverflowError",
                        "FRAME length exceeds system's maximum of 9223372036854775807 bytes",
                    )));
                }
                if *n > remaining {
                    return Err(self.truncated());
                }
            }
            (code::STOP, _) => {
                let v = self.pop_or_bad()?;
                return Ok(Some(v));
            }
            (code::MARK, _) => {
                if self.marks.len() >= self.cfg.budget.max_marks {
                    return Err(Fail::Unknown(Unmodelled::Budget("marks")));
                }
                self.marks.push(self.stack.len());
            }
            (code::POP, _) => {
                // _pickle.c load_pop / cPickle.c load_pop: at an open MARK, POP discards the mark.
                if self.marks.last() == Some(&self.stack.len()) {
                    self.marks.pop();
                } else if self.stack.len() > self.fence() {
                    self.stack.pop();
                } else if !self.py2() && !self.marks.is_empty() {
                    self.marks.pop();
                } else {
                    return Err(self.underflow());
                }
            }
            (code::POP_MARK, _) => {
                let m = self.marker()?;
                self.stack.truncate(m);
            }
            (code::DUP, _) => {
                let t = self.top()?;
                self.push(t)?;
            }
            (code::NONE, _) => self.push_new(Node::None, c)?,
            (code::NEWTRUE, _) => self.push_new(Node::Bool(true), c)?,
            (code::NEWFALSE, _) => self.push_new(Node::Bool(false), c)?,
            (code::BININT | code::BININT1 | code::BININT2, Arg::Int(v)) => {
                self.push_new(Node::Int(BigInt::from(*v)), c)?
            }
            (code::INT, Arg::Line(r)) if self.rt.pure => {
                // readline() keeps the newline (absent when the stream ends in the line).
                let mut data = self.slice(r).to_vec();
                if self.data.get(r.end) == Some(&b'\n') {
                    data.push(b'\n');
                }
                let n = self.pure_load_int(&data)?;
                self.push_new(n, c)?
            }
            (code::INT, Arg::Line(r)) => {
                let n = self.load_int_line(self.slice(r))?;
                self.push_new(n, c)?
            }
            (code::LONG, Arg::Line(r)) => {
                let n = self.load_long_line(self.slice(r))?;
                self.push_new(n, c)?
            }
            (code::LONG1 | code::LONG4, Arg::Bytes(r)) => {
                let b = self.slice(r);
                if b.len() > self.cfg.budget.max_digits {
                    return Err(Fail::Unknown(Unmodelled::Budget("digits")));
                }
                let v = BigInt::from_signed_bytes_le(b);
                let node = if self.py2() {
                    Node::Long(v)
                } else {
                    Node::Int(v)
                };
                self.push_new(node, c)?
            }
            (code::FLOAT, Arg::Line(r)) => {
                let f = self.load_float_line(self.slice(r))?;
                self.push_new(Node::Float(f), c)?
            }
            (code::BINFLOAT, Arg::Float(f)) => self.push_new(Node::Float(*f), c)?,
            (code::STRING, Arg::Line(r)) => {
                let raw = self.load_string_line(self.slice(r))?;
                let node = self.py2_str(raw)?;
                self.push_new(node, c)?
            }
            (code::BINSTRING | code::SHORT_BINSTRING, Arg::Bytes(r)) => {
                let raw = self.slice(r).to_vec();
                self.charge_bytes(raw.len())?;
                let node = self.py2_str(raw)?;
                self.push_new(node, c)?
            }
            (code::BINBYTES | code::SHORT_BINBYTES | code::BINBYTES8, Arg::Bytes(r)) => {
                self.charge_bytes(r.len())?;
                let b = self.slice(r).to_vec();
                self.push_new(Node::Bytes(b), c)?
            }
            (code::BYTEARRAY8, Arg::Bytes(r)) => {
                self.charge_bytes(r.len())?;
                let b = self.slice(r).to_vec();
                self.push_new(Node::ByteArray(b), c)?
            }
            (code::UNICODE, Arg::Line(r)) => {
                let raw = self.slice(r);
                self.charge_bytes(raw.len() * 2)?;
                let t = codec::decode_raw_unicode_escape(raw, self.py2())
                    .map_err(|e| Fail::Py(PyError::new("UnicodeDecodeError", e.message())))?;
                self.push_new(Node::Text(t), c)?
            }
            (code::BINUNICODE | code::SHORT_BINUNICODE | code::BINUNICODE8, Arg::Bytes(r)) => {
                let raw = self.slice(r);
                self.charge_bytes(raw.len())?;
                let name = if self.py2() { "utf8" } else { "utf-8" };
                let t = match codec::decode_utf8(raw, Handler::SurrogatePass, name) {
                    Ok(t) => t,
                    Err(Failure::Decode(e)) => {
                        return Err(Fail::Py(PyError::new("UnicodeDecodeError", e.message())));
                    }
                    Err(Failure::UnknownHandler(h)) => {
                        return Err(Fail::Unknown(Unmodelled::Feature(h)));
                    }
                };
                self.push_new(Node::Text(t), c)?
            }
            (code::EMPTY_LIST, _) => self.push_new(Node::List(Vec::new()), c)?,
            (code::EMPTY_TUPLE, _) => self.push_new(Node::Tuple(Vec::new()), c)?,
            (code::EMPTY_DICT, _) => self.push_new(Node::Dict(Vec::new()), c)?,
            (code::EMPTY_SET, _) => self.push_new(Node::Set(Vec::new()), c)?,
            (code::LIST, _) => {
                let m = self.marker()?;
                let items = self.stack.split_off(m.min(self.stack.len()));
                self.push_new(Node::List(items), c)?
            }
            (code::TUPLE, _) => {
                let m = self.marker()?;
                let items = self.stack.split_off(m.min(self.stack.len()));
                self.push_new(Node::Tuple(items), c)?
            }
            (code::TUPLE1 | code::TUPLE2 | code::TUPLE3, _) => {
                let n = (c - code::TUPLE1 + 1) as usize;
                if self.stack.len() < self.fence() + n {
                    return Err(self.underflow());
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.push_new(Node::Tuple(items), c)?
            }
            (code::FROZENSET, _) => {
                let m = self.marker()?;
                let items = self.stack.split_off(m.min(self.stack.len()));
                let set = self.new_node(Node::FrozenSet(Vec::new()), c)?;
                for it in items {
                    self.set_add(set, it)?;
                }
                self.push(set)?
            }
            (code::DICT, _) => {
                let m = self.marker()?;
                let items = self.stack.split_off(m.min(self.stack.len()));
                if !items.len().is_multiple_of(2) && !self.py2() {
                    return Err(self.unpickling_error("odd number of items for DICT"));
                }
                let d = self.new_node(Node::Dict(Vec::new()), c)?;
                self.reserve_items(d, items.len() / 2);
                for kv in items.chunks_exact(2) {
                    self.dict_set(d, kv[0], kv[1])?;
                }
                self.push(d)?
            }
            (code::APPEND, _) => {
                let len = self.stack.len();
                if len < 2 || len - 1 <= self.fence() {
                    return Err(self.underflow());
                }
                let v = self.stack.pop().ok_or_else(|| self.underflow())?;
                let target = self.top()?;
                self.extend(target, vec![v])?;
            }
            (code::APPENDS, _) => {
                let m = self.marker()?;
                if m == 0 || m > self.stack.len() || (!self.py2() && m <= self.fence()) {
                    return Err(self.underflow());
                }
                let items = self.stack.split_off(m);
                let target = self.stack[m - 1];
                self.extend(target, items)?;
            }
            (code::SETITEM, _) => {
                let len = self.stack.len();
                if len < 3 || len - 2 <= self.fence() {
                    return Err(self.underflow());
                }
                let v = self.stack.pop().ok_or_else(|| self.underflow())?;
                let k = self.stack.pop().ok_or_else(|| self.underflow())?;
                let d = self.top()?;
                self.setitem(d, k, v)?;
            }
            (code::SETITEMS, _) => {
                let m = self.marker()?;
                if m == 0 || m > self.stack.len() || (!self.py2() && m <= self.fence()) {
                    return Err(self.underflow());
                }
                let items = self.stack.split_off(m);
                if !items.len().is_multiple_of(2) && !self.rt.pure {
                    return Err(self.unpickling_error("odd number of items for SETITEMS"));
                }
                let d = self.stack[m - 1];
                self.reserve_items(d, items.len() / 2);
                for kv in items.chunks_exact(2) {
                    self.setitem(d, kv[0], kv[1])?;
                }
            }
            (code::ADDITEMS, _) => {
                let m = self.marker()?;
                if m == 0 || m > self.stack.len() || (!self.py2() && m <= self.fence()) {
                    return Err(self.underflow());
                }
                let items = self.stack.split_off(m);
                let s = self.stack[m - 1];
                match self.heap.get(s) {
                    Node::Set(_) => {
                        for it in items {
                            self.set_add(s, it)?;
                        }
                    }
                    Node::Opaque { .. } => self.drop_reduce(s),
                    Node::Instance { .. } => self.not_plain(s),
                    _ => {
                        let t = self.type_name(s);
                        return Err(Fail::Py(PyError::new(
                            "AttributeError",
                            format!("'{t}' object has no attribute 'add'"),
                        )));
                    }
                }
            }
            // pickle.py (2.7) keys its memo by strings: the PUT/GET line as it is, and repr(i)
            // for the binary forms (so `p-1`, `px` and a LONG_BINPUT of 2**31 are all fine).
            (code::GET, Arg::Line(r)) if self.rt.pure => self.pure_memo_get(self.slice(r))?,
            (code::BINGET | code::LONG_BINGET, Arg::Int(i)) if self.rt.pure => {
                self.pure_memo_get((*i as u32 as i32).to_string().as_bytes())?
            }
            (code::PUT, Arg::Line(r)) if self.rt.pure => {
                let key = self.slice(r).to_vec();
                self.pure_memo_put(key)?
            }
            (code::BINPUT | code::LONG_BINPUT, Arg::Int(i)) if self.rt.pure => {
                self.pure_memo_put((*i as u32 as i32).to_string().into_bytes())?
            }
            (code::GET, Arg::Line(r)) if self.py2() && !self.rt.pure => {
                let key = self.slice(r);
                match self.text_memo.get(key) {
                    Some(&id) => self.push(id)?,
                    None => {
                        let shown: String = key.iter().map(|&b| char::from(b)).collect();
                        return Err(Fail::Py(PyError::new("cPickle.BadPickleGet", shown)));
                    }
                }
            }
            (code::PUT, Arg::Line(r)) if self.py2() && !self.rt.pure => {
                let t = self.top()?;
                self.text_memo.insert(self.slice(r).to_vec(), t);
            }
            (code::GET, Arg::Line(r)) => {
                let idx = self.memo_index_line(self.slice(r))?;
                self.memo_get(idx)?
            }
            (code::BINGET | code::LONG_BINGET, Arg::Int(i)) => self.memo_get(*i)?,
            (code::PUT, Arg::Line(r)) => {
                let idx = self.memo_index_line(self.slice(r))?;
                if idx < 0 {
                    return Err(Fail::Py(PyError::new(
                        "ValueError",
                        "negative PUT argument",
                    )));
                }
                self.memo_put(idx as u64)?
            }
            (code::BINPUT | code::LONG_BINPUT, Arg::Int(i)) => self.memo_put(*i as u64)?,
            (code::MEMOIZE, _) => {
                let idx = self.memo.len() as u64;
                self.memo_put(idx)?
            }
            (code::GLOBAL, Arg::Line2(m, n)) => {
                let (m, n) = (self.slice(m), self.slice(n));
                let g = self.global_from_lines(m, n)?;
                self.push_new(Node::Global(g), c)?
            }
            (code::STACK_GLOBAL, _) => {
                // _pickle.c: an underflow here is reported as "requires str" too.
                let (name, module) = if self.facts.stack_global_reports_underflow {
                    (Some(self.pop()?), Some(self.pop()?))
                } else {
                    (self.pop().ok(), self.pop().ok())
                };
                let (Some(Node::Text(m)), Some(Node::Text(n))) = (
                    module.map(|m| self.heap.get(m)),
                    name.map(|n| self.heap.get(n)),
                ) else {
                    return Err(self.unpickling_error("STACK_GLOBAL requires str"));
                };
                if m.is_empty() {
                    return Err(Fail::Py(PyError::new("ValueError", "Empty module name")));
                }
                let (m, n) = (text_lossy(m), text_lossy(n));
                let g = self.find_class(&m, &n)?;
                self.push_new(Node::Global(g), c)?
            }
            (code::INST, Arg::Line2(m, n)) => {
                // load_inst looks for the MARK before it reads the class name.
                let mk = self.marker()?;
                let (m, n) = (self.slice(m), self.slice(n));
                let g = self.global_from_lines(m, n)?;
                let args = self.stack.split_off(mk.min(self.stack.len()));
                let v = self.instantiate(g, args)?;
                self.push(v)?
            }
            (code::OBJ, _) => {
                let mk = self.marker()?;
                if mk >= self.stack.len() {
                    return Err(self.underflow());
                }
                let mut args = self.stack.split_off(mk);
                let cls = args.remove(0);
                let Node::Global(g) = self.heap.get(cls).clone() else {
                    return Err(Fail::Unknown(Unmodelled::Feature(
                        "OBJ with a class object that is not a global".into(),
                    )));
                };
                let v = self.instantiate(g, args)?;
                self.push(v)?
            }
            (code::REDUCE, _) => {
                let args = self.pop_or_bad()?;
                let f = self.pop_or_bad()?;
                let v = self.call(f, args)?;
                self.push(v)?
            }
            (code::NEWOBJ, _) => {
                let args = self.pop_or_bad()?;
                let cls = self.pop_or_bad()?;
                let before = self.heap.len();
                let v = self.newobj(cls, args, None)?;
                if let Node::Global(g) = self.heap.get(cls).clone() {
                    self.record_reduce(v, before, &g, cls, args, true);
                }
                self.push(v)?
            }
            (code::NEWOBJ_EX, _) => {
                let kwargs = self.pop()?;
                let args = self.pop()?;
                let cls = self.pop()?;
                let v = self.newobj(cls, args, Some(kwargs))?;
                self.push(v)?
            }
            (code::BUILD, _) => {
                if self.stack.len() < self.fence() + 2 {
                    return Err(self.underflow());
                }
                let state = self.pop()?;
                let inst = self.top()?;
                self.build(inst, state)?;
            }
            (code::PERSID | code::BINPERSID, arg) => {
                if c == code::BINPERSID {
                    self.pop()?;
                }
                if let (true, Arg::Line(r)) = (self.facts.persid_ascii_check, arg)
                    && !self.slice(r).is_ascii()
                {
                    return Err(
                        self.unpickling_error("persistent IDs in protocol 0 must be ASCII strings")
                    );
                }
                return Err(self.no_persistent_load());
            }
            (code::EXT1 | code::EXT2 | code::EXT4, Arg::Int(i)) => {
                if *i <= 0 && !self.rt.pure {
                    return Err(self.unpickling_error("EXT specifies code <= 0"));
                }
                return Err(Fail::Py(PyError::new(
                    "ValueError",
                    format!("unregistered extension code {i}"),
                )));
            }
            (code::NEXT_BUFFER, _) => {
                return Err(self.unpickling_error(
                    "pickle stream refers to out-of-band data but no *buffers* argument was given",
                ));
            }
            (code::READONLY_BUFFER, _) => {
                let t = self.top()?;
                match self.heap.get(t) {
                    Node::Bytes(_) | Node::MemoryView(_) => {}
                    Node::ByteArray(_) => {
                        let mv = self.new_node(Node::MemoryView(t), c)?;
                        self.stack.pop();
                        self.push(mv)?;
                    }
                    _ => {
                        let tn = self.type_name(t);
                        return Err(Fail::Py(PyError::new(
                            "TypeError",
                            format!("memoryview: a bytes-like object is required, not '{tn}'"),
                        )));
                    }
                }
            }
            _ => {
                return Err(Fail::Unknown(Unmodelled::Feature(format!(
                    "opcode {:#04x} with an unexpected argument",
                    c
                ))));
            }
        }
        Ok(None)
    }

    pub(super) fn no_persistent_load(&self) -> Fail {
        if self.py2() {
            if self.rt.pure {
                return Fail::Py(PyError::new(
                    "AttributeError",
                    "Unpickler instance has no attribute 'persistent_load'",
                ));
            }
            return self.unpickling_error("A load persistent id instruction was encountered,\nbut no persistent_load function was specified.");
        }
        let sep = if self.facts.persid_msg_space {
            " "
        } else {
            "\n"
        };
        self.unpickling_error(format!(
            "A load persistent id instruction was encountered,{sep}but no persistent_load function was specified."
        ))
    }
}
