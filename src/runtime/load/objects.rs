//! Objects: REDUCE, NEWOBJ, INST/OBJ and BUILD of the callables and classes the models know; the
//! rest kept opaque with what built them.

#![allow(clippy::wildcard_imports)]
use super::*;

impl<'a> Vm<'a> {
    // ----- objects ------------------------------------------------------------------------

    pub(super) fn tuple_items(&self, args: Id) -> R<Vec<Id>> {
        match self.heap.get(args) {
            Node::Tuple(items) => Ok(items.clone()),
            _ => Err(Fail::Py(PyError::new(
                "TypeError",
                "argument list must be a tuple",
            ))),
        }
    }

    pub(super) fn opaque(&mut self, g: Global) -> R<Id> {
        self.new_node(
            Node::Opaque {
                class: g,
                reduce: None,
            },
            code::REDUCE,
        )
    }

    pub(super) fn call(&mut self, f: Id, args: Id) -> R<Id> {
        if let Node::Opaque { class, .. } = self.heap.get(f) {
            // The result of a call the models do not follow (e.g. `getattr(ZoneInfo,
            // '_unpickle')`): assumed callable, its result not modelled either.
            let class = class.clone();
            self.tuple_items(args)?;
            return self.opaque(class);
        }
        let Node::Global(g) = self.heap.get(f) else {
            if !matches!(self.heap.get(args), Node::Tuple(_)) {
                return Err(Fail::Py(PyError::new(
                    "TypeError",
                    "argument list must be a tuple",
                )));
            }
            let t = self.type_name(f);
            return Err(Fail::Py(PyError::new(
                "TypeError",
                format!("'{t}' object is not callable"),
            )));
        };
        let g = g.clone();
        let a = self.tuple_items(args)?;
        let before = self.heap.len();
        let res = self.call_known(g.clone(), a)?;
        self.record_reduce(res, before, &g, f, args, false);
        Ok(res)
    }

    /// A call the models could not evaluate made a fresh opaque object of this class: keep
    /// what built it.
    pub(super) fn record_reduce(
        &mut self,
        res: Id,
        before: usize,
        g: &Global,
        func: Id,
        args: Id,
        newobj: bool,
    ) {
        if res >= before
            && let Node::Opaque { class, reduce } = self.heap.get_mut(res)
            && reduce.is_none()
            && class.module == g.module
            && class.name == g.name
        {
            *reduce = Some(Reduce {
                func,
                args,
                newobj,
                state: None,
            });
        }
    }

    pub(super) fn call_known(&mut self, g: Global, a: Vec<Id>) -> R<Id> {
        let r = code::REDUCE;
        match g.known {
            Known::Set | Known::FrozenSet => {
                let node = if g.known == Known::Set {
                    Node::Set(Vec::new())
                } else {
                    Node::FrozenSet(Vec::new())
                };
                let s = self.new_node(node, r)?;
                if let Some(&src) = a.first() {
                    for it in self.iter_items(src)? {
                        self.set_add(s, it)?;
                    }
                }
                Ok(s)
            }
            Known::Bytes if a.is_empty() => self.new_node(Node::Bytes(Vec::new()), r),
            Known::ByteArray => {
                let bytes = match a.as_slice() {
                    [] => Vec::new(),
                    [x] => match self.heap.get(*x) {
                        Node::Bytes(b) | Node::ByteArray(b) => b.clone(),
                        _ => return self.opaque(g),
                    },
                    [t, e] => match (self.heap.get(*t).clone(), self.heap.get(*e).clone()) {
                        (Node::Text(t), Node::Text(e)) => self.encode(&t, &e)?,
                        (Node::Text(t), Node::Bytes(e)) if self.py2() => self.encode(&t, &e)?,
                        (Node::Bytes(b), Node::Bytes(_)) if self.py2() => b,
                        (_, Node::Bytes(_)) => {
                            return Err(Fail::Py(PyError::new(
                                "TypeError",
                                self.bytearray_encoding_type_error(),
                            )));
                        }
                        _ => return self.opaque(g),
                    },
                    _ => return self.opaque(g),
                };
                self.new_node(Node::ByteArray(bytes), r)
            }
            Known::CodecsEncode => match a.as_slice() {
                [t, e] => match (self.heap.get(*t), self.heap.get(*e)) {
                    (Node::Text(t), Node::Text(e)) => {
                        let b = self.encode(t, e)?;
                        self.new_node(Node::Bytes(b), r)
                    }
                    (Node::Bytes(t), Node::Text(e)) if self.py2() => {
                        // py2: encoding a str first decodes it as ASCII.
                        match codec::decode_ascii(t, Handler::Strict) {
                            Ok(text) => {
                                let b = self.encode(&text, e)?;
                                self.new_node(Node::Bytes(b), r)
                            }
                            Err(Failure::Decode(d)) => {
                                Err(Fail::Py(PyError::new("UnicodeDecodeError", d.message())))
                            }
                            Err(_) => self.opaque(g),
                        }
                    }
                    _ => self.opaque(g),
                },
                _ => self.opaque(g),
            },
            Known::Complex => {
                let mut parts = [0.0f64; 2];
                for (i, &x) in a.iter().take(2).enumerate() {
                    parts[i] = match self.heap.get(x) {
                        Node::Float(f) => *f,
                        Node::Int(v) | Node::Long(v) => v.to_f64().unwrap_or(f64::INFINITY),
                        Node::Bool(b) => *b as u8 as f64,
                        _ => return self.opaque(g),
                    };
                }
                self.new_node(Node::Complex(parts[0], parts[1]), r)
            }
            Known::Range => {
                let mut v = Vec::new();
                for &x in &a {
                    match self.heap.get(x) {
                        Node::Int(i) | Node::Long(i) => v.push(i.clone()),
                        _ => return self.opaque(g),
                    }
                }
                let (start, stop, step) = match v.len() {
                    1 => (BigInt::zero(), v[0].clone(), BigInt::from(1)),
                    2 => (v[0].clone(), v[1].clone(), BigInt::from(1)),
                    3 => (v[0].clone(), v[1].clone(), v[2].clone()),
                    _ => return self.opaque(g),
                };
                if step.is_zero() {
                    return self.opaque(g);
                }
                self.new_node(Node::Range([start, stop, step]), r)
            }
            Known::Reconstructor => {
                // copyreg._reconstructor(cls, base, state)
                let [cls, base, _state] = a.as_slice() else {
                    return self.opaque(g);
                };
                let (Node::Global(c), Node::Global(b)) =
                    (self.heap.get(*cls).clone(), self.heap.get(*base).clone())
                else {
                    return self.opaque(g);
                };
                if b.known == Known::Object {
                    if c.known == Known::ClassicClass {
                        return Err(Fail::Py(PyError::new(
                            "TypeError",
                            "object.__new__(X): X is not a type object (classobj)",
                        )));
                    }
                    self.new_instance(c)
                } else {
                    self.opaque(c)
                }
            }
            Known::NewObj => {
                // copyreg.__newobj__(cls, *args)
                let Some((&cls, rest)) = a.split_first() else {
                    return self.opaque(g);
                };
                let t = self.new_node(Node::Tuple(rest.to_vec()), r)?;
                self.newobj(cls, t, None)
            }
            Known::Datetime | Known::Date | Known::Time => self.datetime_call(g, a),
            Known::Timedelta => {
                let mut v = [0i64; 3];
                for (i, &x) in a.iter().take(3).enumerate() {
                    match self.heap.get(x) {
                        Node::Int(n) | Node::Long(n) => v[i] = n.to_i64().unwrap_or(i64::MAX),
                        _ => return self.opaque(g),
                    }
                }
                match normalize_timedelta(v) {
                    Some(t) => self.new_node(Node::Timedelta(t), r),
                    None => self.opaque(g),
                }
            }
            Known::Timezone => match a.as_slice() {
                [off] if matches!(self.heap.get(*off), Node::Timedelta(_)) => {
                    // `timezone(timedelta(0))` is the one `timezone.utc` object.
                    let zero = matches!(self.heap.get(*off), Node::Timedelta(t) if *t == [0, 0, 0]);
                    if zero && let Some(u) = self.utc {
                        return Ok(u);
                    }
                    let tz = self.new_node(
                        Node::Timezone {
                            offset: *off,
                            name: None,
                        },
                        r,
                    )?;
                    if zero {
                        self.utc = Some(tz);
                    }
                    Ok(tz)
                }
                [off, name]
                    if matches!(self.heap.get(*off), Node::Timedelta(_))
                        && matches!(self.heap.get(*name), Node::Text(_)) =>
                {
                    self.new_node(
                        Node::Timezone {
                            offset: *off,
                            name: Some(*name),
                        },
                        r,
                    )
                }
                _ => self.opaque(g),
            },
            Known::Decimal => match a.as_slice() {
                [] => self.new_node(Node::Decimal("0".into()), r),
                [x] => match self.heap.get(*x).clone() {
                    Node::Text(t) => match decimal_str(&String::from_utf8_lossy(&t)) {
                        Some(s) => self.new_node(Node::Decimal(s), r),
                        None => self.opaque(g),
                    },
                    Node::Bytes(b) if self.py2() => match decimal_str(&String::from_utf8_lossy(&b))
                    {
                        Some(s) => self.new_node(Node::Decimal(s), r),
                        None => self.opaque(g),
                    },
                    Node::Bytes(_) => Err(Fail::Py(PyError::new(
                        "TypeError",
                        "conversion from bytes to Decimal is not supported",
                    ))),
                    Node::Int(v) | Node::Long(v) => self.new_node(Node::Decimal(v.to_string()), r),
                    _ => self.opaque(g),
                },
                _ => self.opaque(g),
            },
            Known::OrderedDict => {
                let d = self.new_node(Node::OrderedDict(Vec::new()), r)?;
                if let Some(&src) = a.first() {
                    for pair in self.iter_items(src)? {
                        let kv = self.iter_items(pair)?;
                        if kv.len() != 2 {
                            return self.opaque(g);
                        }
                        self.dict_set(d, kv[0], kv[1])?;
                    }
                }
                Ok(d)
            }
            Known::DefaultDict => {
                let factory = match a.first() {
                    Some(&f) => f,
                    None => self.new_node(Node::None, r)?,
                };
                self.new_node(
                    Node::DefaultDict {
                        factory,
                        items: Vec::new(),
                    },
                    r,
                )
            }
            Known::Deque => {
                let items = match a.first() {
                    Some(&src) => self.iter_items(src)?,
                    None => Vec::new(),
                };
                let maxlen = match a.get(1).map(|&m| self.heap.get(m)) {
                    None | Some(Node::None) => None,
                    Some(Node::Int(m)) => m.to_i64(),
                    _ => return self.opaque(g),
                };
                let dq = self.new_node(
                    Node::Deque {
                        items: Vec::new(),
                        maxlen,
                    },
                    r,
                )?;
                self.extend(dq, items)?;
                Ok(dq)
            }
            Known::Exception => self.exception(g, a, true),
            Known::Array => self.array_call(g, a),
            Known::Fraction => match a.as_slice() {
                [x] if matches!(self.heap.get(*x), Node::Bytes(_)) && !self.py2() => {
                    Err(Fail::Py(PyError::new(
                        "TypeError",
                        if self.facts.fraction_error_names_ratio {
                            "argument should be a string or a Rational instance or have the as_integer_ratio() method"
                        } else {
                            "argument should be a string or a Rational instance"
                        },
                    )))
                }
                _ => self.opaque(g),
            },
            Known::Object if a.is_empty() => self.new_instance(g),
            Known::Getattr => {
                // getattr(zoneinfo.ZoneInfo, '_unpickle'): how ZoneInfo instances pickle.
                if let [cls, attr] = a.as_slice()
                    && let (Node::Global(c), Node::Text(t)) =
                        (self.heap.get(*cls), self.heap.get(*attr))
                    && c.module == "zoneinfo"
                    && c.name == "ZoneInfo"
                    && t == b"_unpickle"
                {
                    let m = Global {
                        module: "zoneinfo".into(),
                        name: "ZoneInfo._unpickle".into(),
                        known: Known::ZoneInfoUnpickle,
                    };
                    return self.new_node(Node::Global(m), r);
                }
                self.opaque(g)
            }
            Known::ZoneInfoUnpickle => match a.as_slice() {
                [k, f] if matches!(self.heap.get(*k), Node::Text(_)) => {
                    let from_cache = match self.heap.get(*f) {
                        Node::Int(v) => v.to_i64().unwrap_or(1),
                        Node::Bool(b) => *b as i64,
                        _ => return self.opaque(g),
                    };
                    // `ZoneInfo(key)` (from_cache) returns one object per key.
                    let key = match self.heap.get(*k) {
                        Node::Text(t) => [b"zoneinfo:".as_slice(), t].concat(),
                        _ => Vec::new(),
                    };
                    if from_cache != 0
                        && let Some(&z) = self.singletons.get(&key)
                    {
                        return Ok(z);
                    }
                    let z = self.new_node(
                        Node::ZoneInfo {
                            key: *k,
                            from_cache,
                        },
                        r,
                    )?;
                    if from_cache != 0 {
                        self.singletons.insert(key, z);
                    }
                    Ok(z)
                }
                _ => self.opaque(g),
            },
            Known::List if a.len() <= 1 => {
                let items = match a.first() {
                    Some(&s) => self.iter_items(s)?,
                    None => Vec::new(),
                };
                self.new_node(Node::List(items), r)
            }
            Known::Tuple if a.len() <= 1 => {
                let items = match a.first() {
                    Some(&s) => self.iter_items(s)?,
                    None => Vec::new(),
                };
                self.new_node(Node::Tuple(items), r)
            }
            _ => self.opaque(g),
        }
    }

    pub(super) fn bytearray_encoding_type_error(&self) -> String {
        if self.facts.clinic_names_args {
            "bytearray() argument 'encoding' must be str, not bytes".into()
        } else {
            "bytearray() argument 2 must be str, not bytes".into()
        }
    }

    /// The items of a list/tuple/set/frozenset (what iterating it gives).
    pub(super) fn iter_items(&self, id: Id) -> R<Vec<Id>> {
        match self.heap.get(id) {
            Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => Ok(v.clone()),
            Node::Deque { items, .. } => Ok(items.clone()),
            _ => Err(Fail::Unknown(Unmodelled::Feature(format!(
                "iterating a {}",
                self.type_name(id)
            )))),
        }
    }

    /// `text.encode(encoding)` for the latin-1 family (what `_codecs.encode` and `bytearray`
    /// receive from protocol 0-2 pickles of bytes).
    pub(super) fn encode(&self, text: &[u8], encoding: &[u8]) -> R<Vec<u8>> {
        let enc = String::from_utf8_lossy(encoding);
        match codec::lookup(&enc) {
            Ok(Codec::Latin1) => {}
            Ok(Codec::Utf8) => {
                // Text without lone surrogates is its own UTF-8.
                if std::str::from_utf8(text).is_ok() {
                    return Ok(text.to_vec());
                }
                // Lone surrogates cannot be encoded strictly.
                let ok: String = codec::code_points(text)
                    .map(|c| char::from_u32(c).unwrap_or('\u{fffd}'))
                    .collect();
                return Ok(ok.into_bytes());
            }
            _ => {
                return Err(Fail::Unknown(Unmodelled::Feature(format!(
                    "encoding text with {enc:?}"
                ))));
            }
        }
        if text.is_ascii() {
            return Ok(text.to_vec());
        }
        // Code points below 256 are one byte or two (lead 0xc2/0xc3); anything else goes the
        // long way below, from the start, for its error.
        let mut out = Vec::with_capacity(text.len());
        let mut k = 0;
        while k < text.len() {
            match (text[k], text.get(k + 1)) {
                (b @ 0..0x80, _) => {
                    out.push(b);
                    k += 1;
                }
                (b @ (0xc2 | 0xc3), Some(&n)) => {
                    out.push(((b & 0x1f) << 6) | (n & 0x3f));
                    k += 2;
                }
                _ => break,
            }
        }
        if k == text.len() {
            return Ok(out);
        }
        out.clear();
        for (i, cp) in codec::code_points(text).enumerate() {
            if cp > 0xff {
                let ch = py_char_escape(cp, self.py2());
                let codec_name = "latin-1";
                return Err(Fail::Py(PyError::new(
                    "UnicodeEncodeError",
                    format!(
                        "'{codec_name}' codec can't encode character {ch} in position {i}: ordinal not in range(256)"
                    ),
                )));
            }
            out.push(cp as u8);
        }
        Ok(out)
    }

    pub(super) fn new_instance(&mut self, g: Global) -> R<Id> {
        if matches!(
            g.known,
            Known::AppClass | Known::ClassicClass | Known::Object
        ) {
            self.new_node(
                Node::Instance {
                    class: g,
                    dict: Vec::new(),
                },
                code::REDUCE,
            )
        } else {
            self.opaque(g)
        }
    }

    /// INST / OBJ: `cls(*args)` (or `cls.__new__(cls)` for classic classes without init args).
    pub(super) fn instantiate(&mut self, g: Global, args: Vec<Id>) -> R<Id> {
        match g.known {
            Known::AppClass | Known::ClassicClass if args.is_empty() => self.new_instance(g),
            Known::AppClass | Known::ClassicClass | Known::Other => self.opaque(g),
            _ => self.call_known(g, args),
        }
    }

    pub(super) fn newobj(&mut self, cls: Id, args: Id, kwargs: Option<Id>) -> R<Id> {
        let class = match self.heap.get(cls) {
            Node::Global(g) if is_type(g) => Some(g.clone()),
            _ => None,
        };
        let detailed = kwargs.is_some() || self.facts.newobj_detailed_errors;
        if !self.py2() && !detailed {
            if class.is_none() {
                return Err(self.unpickling_error("NEWOBJ class argument isn't a type object"));
            }
            if !matches!(self.heap.get(args), Node::Tuple(_)) {
                return Err(self.unpickling_error("NEWOBJ expected an arg tuple."));
            }
        }
        let Some(g) = class else {
            let t = self.type_name(cls);
            let op = if kwargs.is_some() {
                "NEWOBJ_EX"
            } else {
                "NEWOBJ"
            };
            if self.py2() {
                return Err(self.unpickling_error("NEWOBJ class argument isn't a type object"));
            }
            return Err(
                self.unpickling_error(format!("{op} class argument must be a type, not {t}"))
            );
        };
        if !matches!(self.heap.get(args), Node::Tuple(_)) {
            let t = self.type_name(args);
            let op = if kwargs.is_some() {
                "NEWOBJ_EX"
            } else {
                "NEWOBJ"
            };
            if self.py2() {
                return Err(self.unpickling_error("NEWOBJ expected an arg tuple."));
            }
            return Err(
                self.unpickling_error(format!("{op} args argument must be a tuple, not {t}"))
            );
        }
        if let Some(kw) = kwargs
            && !matches!(self.heap.get(kw), Node::Dict(_))
        {
            let t = self.type_name(kw);
            return Err(
                self.unpickling_error(format!("NEWOBJ_EX kwargs argument must be a dict, not {t}"))
            );
        }
        if g.known == Known::ClassicClass {
            if self.rt.pure {
                // pickle.py load_newobj calls cls.__new__, which classic classes lack.
                return Err(Fail::Py(PyError::new(
                    "AttributeError",
                    format!("class {} has no attribute '__new__'", g.name),
                )));
            }
            return Err(self.unpickling_error("NEWOBJ class argument isn't a type object"));
        }
        let a = self.tuple_items(args)?;
        let r = code::NEWOBJ;
        match g.known {
            // `cls.__new__(cls, *args)` with arguments: the class has its own __new__ (a
            // namedtuple, a tuple/int/str subclass): loads, value not modelled.
            Known::AppClass if !a.is_empty() => self.opaque(g),
            Known::AppClass | Known::Object => self.new_instance(g),
            Known::Set => self.new_node(Node::Set(Vec::new()), r),
            Known::List => self.new_node(Node::List(Vec::new()), r),
            Known::Dict => self.new_node(Node::Dict(Vec::new()), r),
            Known::OrderedDict => self.new_node(Node::OrderedDict(Vec::new()), r),
            Known::Exception => self.exception(g, a, false),
            Known::Datetime
            | Known::Date
            | Known::Time
            | Known::Timedelta
            | Known::Decimal
            | Known::FrozenSet
            | Known::Complex
            | Known::Tuple
            | Known::Bytes => self.call_known(g, a),
            // `int.__new__(int)` and friends with no arguments: the zero value.
            Known::Int if a.is_empty() => self.new_node(Node::Int(BigInt::zero()), r),
            Known::Long if a.is_empty() => self.new_node(Node::Long(BigInt::zero()), r),
            Known::Float if a.is_empty() => self.new_node(Node::Float(0.0), r),
            Known::Str if a.is_empty() => self.new_node(Node::Text(Vec::new()), r),
            Known::Unicode if a.is_empty() => self.new_node(Node::Text(Vec::new()), r),
            _ => self.opaque(g),
        }
    }

    pub(super) fn build(&mut self, inst: Id, state: Id) -> R<()> {
        match self.heap.get(inst).clone() {
            Node::Exception { .. } => return self.build_exception(inst, state),
            Node::Instance { class, .. }
                if class.module == "uuid" && class.name == "UUID" && self.facts_uuid_setstate() =>
            {
                return self.build_uuid(inst, state);
            }
            Node::Instance { class, .. } if class.known == Known::AppClass => {
                // The default state is a dict (or None); anything else (a slots tuple, a state
                // of the class's own __getstate__) is taken by code the models do not have.
                match self.heap.get(state) {
                    Node::Dict(_) | Node::None => {}
                    Node::Tuple(t) if t.len() == 2 => {
                        let (d, sl) = (t[0], t[1]);
                        let ok = |n: &Node| matches!(n, Node::Dict(_) | Node::None);
                        if ok(self.heap.get(d)) && ok(self.heap.get(sl)) {
                            // __slots__ (with or without a __dict__): loads as the default
                            // setstate would, value not modelled.
                            self.check_slot_state(sl)?;
                        }
                        self.not_plain_with_state(inst, Some(state));
                        return Ok(());
                    }
                    _ => {
                        self.not_plain_with_state(inst, Some(state));
                        return Ok(());
                    }
                }
            }
            _ => {}
        }
        let (dict_state, slot_state) = match self.heap.get(state) {
            Node::Tuple(t) if t.len() == 2 => (t[0], Some(t[1])),
            _ => (state, None),
        };
        match self.heap.get(inst).clone() {
            Node::Instance { .. } => {
                for part in [Some(dict_state), slot_state].into_iter().flatten() {
                    match self.heap.get(part).clone() {
                        Node::None => {}
                        Node::Dict(kv) => {
                            for (k, v) in kv {
                                if part == slot_state.unwrap_or(usize::MAX)
                                    && !matches!(self.heap.get(k), Node::Text(_))
                                    && !(self.py2() && matches!(self.heap.get(k), Node::Bytes(_)))
                                {
                                    let t = self.type_name(k);
                                    return Err(Fail::Py(PyError::new(
                                        "TypeError",
                                        format!("attribute name must be string, not '{t}'"),
                                    )));
                                }
                                self.dict_set(inst, k, v)?;
                            }
                        }
                        _ => {
                            let what = if Some(part) == slot_state {
                                "slot state is not a dictionary"
                            } else {
                                "state is not a dictionary"
                            };
                            return Err(self.unpickling_error(what));
                        }
                    }
                }
                Ok(())
            }
            Node::Opaque { .. } => {
                // Kept for the write-back: the first BUILD's state (a second one is rare and
                // not followed).
                if let Node::Opaque { reduce, class } = self.heap.get_mut(inst)
                    && let Some(r) = reduce
                {
                    if r.state.is_none() {
                        r.state = Some(state);
                    } else {
                        let class = class.clone();
                        *self.heap.get_mut(inst) = Node::Opaque {
                            class,
                            reduce: None,
                        };
                    }
                }
                Ok(())
            }
            _ => {
                // Built-in values without a __dict__: a None state is a no-op; any other state
                // looks up `__dict__` first (load_build), which fails.
                if matches!(self.heap.get(dict_state), Node::None) && slot_state.is_none() {
                    return Ok(());
                }
                let t = self.type_name(inst);
                Err(Fail::Py(PyError::new(
                    "AttributeError",
                    format!("'{t}' object has no attribute '__dict__'"),
                )))
            }
        }
    }
}
