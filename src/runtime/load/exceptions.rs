//! Exceptions, arrays and UUIDs: OSError's errno subclasses, the Unicode errors' argument checks,
//! `__setstate__` of exceptions and UUID slots.

#![allow(clippy::wildcard_imports)]
use super::*;

/// Linux errno values OSError(errno, ...) maps to its PEP 3151 subclasses (Objects/exceptions.c
/// `_PyExc_InitState`); the reader is assumed to run on Linux.
pub(super) const ERRNO_SUBCLASSES: &[(i64, &str)] = &[
    (1, "PermissionError"),
    (2, "FileNotFoundError"),
    (3, "ProcessLookupError"),
    (4, "InterruptedError"),
    (10, "ChildProcessError"),
    (11, "BlockingIOError"),
    (13, "PermissionError"),
    (17, "FileExistsError"),
    (20, "NotADirectoryError"),
    (21, "IsADirectoryError"),
    (32, "BrokenPipeError"),
    (103, "ConnectionAbortedError"),
    (104, "ConnectionResetError"),
    (108, "BrokenPipeError"),
    (110, "TimeoutError"),
    (111, "ConnectionRefusedError"),
    (114, "BlockingIOError"),
    (115, "BlockingIOError"),
];

pub(super) const OSERROR_FAMILY: &[&str] = &[
    "OSError",
    "IOError",
    "EnvironmentError",
    "PermissionError",
    "FileNotFoundError",
    "ProcessLookupError",
    "InterruptedError",
    "ChildProcessError",
    "BlockingIOError",
    "FileExistsError",
    "NotADirectoryError",
    "IsADirectoryError",
    "BrokenPipeError",
    "ConnectionError",
    "ConnectionAbortedError",
    "ConnectionResetError",
    "TimeoutError",
    "ConnectionRefusedError",
];

impl<'a> Vm<'a> {
    /// An exception instance: `cls(*args)` (REDUCE, `init`) or `cls.__new__(cls, *args)`
    /// (NEWOBJ). OSError's constructor picks the errno's subclass (3.x) and keeps only
    /// (errno, strerror) in `args` when a filename is given; the Unicode errors' __init__ checks
    /// its argument types.
    pub(super) fn exception(&mut self, mut g: Global, mut a: Vec<Id>, init: bool) -> R<Id> {
        let r = code::REDUCE;
        let builtin_mod = matches!(g.module.as_str(), "builtins" | "exceptions" | "__builtin__");
        let max_args = if self.py2() { 3 } else { 5 };
        if builtin_mod
            && OSERROR_FAMILY.contains(&g.name.as_str())
            && (2..=max_args).contains(&a.len())
        {
            if a.len() >= 3 && !matches!(self.heap.get(a[2]), Node::None) {
                a.truncate(2);
            }
            if !self.py2() && g.name == "OSError" {
                let errno = match self.heap.get(a[0]) {
                    Node::Int(v) => v.to_i64(),
                    Node::Bool(b) => Some(*b as i64),
                    _ => None,
                };
                if let Some(&(_, sub)) =
                    errno.and_then(|e| ERRNO_SUBCLASSES.iter().find(|(n, _)| *n == e))
                {
                    g.name = sub.into();
                }
            }
        }
        if init && builtin_mod {
            self.unicode_error_args(&g, &a)?;
        }
        let args = self.new_node(Node::Tuple(a), r)?;
        self.new_node(
            Node::Exception {
                class: g,
                args,
                dict: Vec::new(),
            },
            r,
        )
    }

    /// `UnicodeDecodeError.__init__` and friends: PyArg_ParseTuple with "UOnnU"-like formats
    /// (3.x: str, bytes-like object; 2.7: py2 `str` for names, `unicode` for encoded text).
    pub(super) fn unicode_error_args(&self, g: &Global, a: &[Id]) -> R<()> {
        // s: name (py3 str / py2 str), u: text, b: object to decode, n: index
        let fmt: &[u8] = match (g.name.as_str(), self.py2()) {
            ("UnicodeDecodeError", false) => b"ubnnu",
            ("UnicodeDecodeError", true) => b"bbnnb",
            ("UnicodeEncodeError", false) => b"uunnu",
            ("UnicodeEncodeError", true) => b"bunnb",
            ("UnicodeTranslateError", false) => b"unnu",
            ("UnicodeTranslateError", true) => b"unnb",
            _ => return Ok(()),
        };
        if a.len() != fmt.len() {
            return Err(Fail::Unknown(Unmodelled::Feature(format!(
                "{} with {} arguments",
                g.name,
                a.len()
            ))));
        }
        for (i, (&x, &f)) in a.iter().zip(fmt).enumerate() {
            let n = self.heap.get(x);
            let ok = match f {
                b'u' => matches!(n, Node::Text(_)),
                b'b' if self.py2() => matches!(n, Node::Bytes(_)),
                b'b' => matches!(n, Node::Bytes(_) | Node::ByteArray(_)),
                _ => matches!(n, Node::Int(_) | Node::Long(_) | Node::Bool(_)),
            };
            if ok {
                continue;
            }
            let t = self.type_name(x);
            let msg = match (f, self.py2()) {
                (b'u', false) => format!("argument {} must be str, not {t}", i + 1),
                (b'u', true) => format!("argument {} must be unicode, not {t}", i + 1),
                (b'b', true) => format!("argument {} must be str, not {t}", i + 1),
                (b'b', false) if matches!(n, Node::Text(_)) => {
                    format!("a bytes-like object is required, not '{t}'")
                }
                _ => {
                    return Err(Fail::Unknown(Unmodelled::Feature(format!(
                        "{} given a {t}",
                        g.name
                    ))));
                }
            };
            return Err(Fail::Py(PyError::new("TypeError", msg)));
        }
        Ok(())
    }

    /// `array.array(typecode[, initializer])` as protocols 0-2 write it: a typecode that is not
    /// a str (py2 `str` loaded as bytes) is a TypeError; the value is not modelled.
    pub(super) fn array_call(&mut self, g: Global, a: Vec<Id>) -> R<Id> {
        if !self.py2()
            && let Some(&t) = a.first()
            && !matches!(self.heap.get(t), Node::Text(_))
        {
            let tn = self.type_name(t);
            return Err(Fail::Py(PyError::new(
                "TypeError",
                if self.facts.array_typecode_says_str {
                    format!("array() argument 1 must be str, not {tn}")
                } else {
                    format!("array() argument 1 must be a unicode character, not {tn}")
                },
            )));
        }
        self.opaque(g)
    }

    /// `uuid.SafeUUID(value)` (3.7+): one enum member per value, its __dict__ as Enum sets it.
    pub(super) fn safe_uuid(&mut self, value: Option<i64>) -> R<Id> {
        let name: &[u8] = match value {
            Some(0) => b"safe",
            Some(-1) => b"unsafe",
            _ => b"unknown",
        };
        if let Some(&id) = self.singletons.get(&[b"SafeUUID.", name].concat()) {
            return Ok(id);
        }
        let class = Global {
            module: "uuid".into(),
            name: "SafeUUID".into(),
            known: Known::Other,
        };
        let r = code::BUILD;
        let objclass = self.new_node(Node::Global(class.clone()), r)?;
        let k1 = self.new_node(Node::Text(b"__objclass__".to_vec()), r)?;
        let k2 = self.new_node(Node::Text(b"_name_".to_vec()), r)?;
        let v2 = self.new_node(Node::Text(name.to_vec()), r)?;
        let k3 = self.new_node(Node::Text(b"_value_".to_vec()), r)?;
        let v3 = match value {
            Some(v) => self.new_node(Node::Int(BigInt::from(v)), r)?,
            None => self.new_node(Node::None, r)?,
        };
        let m = self.new_node(
            Node::Instance {
                class,
                dict: vec![(k1, objclass), (k2, v2), (k3, v3)],
            },
            r,
        )?;
        self.singletons.insert([b"SafeUUID.", name].concat(), m);
        Ok(m)
    }

    /// uuid.UUID has `__setstate__` from 3.7 on (it reads `state['int']`).
    pub(super) fn facts_uuid_setstate(&self) -> bool {
        self.facts.uuid_setstate
    }

    /// The items of a slot state dict are set with setattr: names must be strings.
    pub(super) fn check_slot_state(&self, sl: Id) -> R<()> {
        if let Node::Dict(kv) = self.heap.get(sl) {
            for &(k, _) in kv {
                let name = match self.heap.get(k) {
                    Node::Text(_) => true,
                    Node::Bytes(_) => self.py2(),
                    _ => false,
                };
                if !name {
                    let t = self.type_name(k);
                    return Err(Fail::Py(PyError::new(
                        "TypeError",
                        format!("attribute name must be string, not '{t}'"),
                    )));
                }
            }
        }
        Ok(())
    }

    /// `BaseException.__setstate__` (Objects/exceptions.c): None is a no-op, a dict is set
    /// attribute by attribute, anything else is a TypeError.
    pub(super) fn build_exception(&mut self, inst: Id, state: Id) -> R<()> {
        match self.heap.get(state).clone() {
            Node::None => Ok(()),
            Node::Dict(kv) => {
                for &(k, v) in &kv {
                    match self.heap.get(k) {
                        Node::Text(t) if t == b"args" => {
                            // Setting `args` replaces what the rendering shows.
                            if let Node::Exception { class, .. } = self.heap.get(inst).clone() {
                                *self.heap.get_mut(inst) = Node::Opaque {
                                    class,
                                    reduce: None,
                                };
                            }
                        }
                        Node::Text(_) => {}
                        Node::Bytes(_) if self.py2() => {}
                        _ => {
                            let t = self.type_name(k);
                            return Err(Fail::Py(PyError::new(
                                "TypeError",
                                format!("attribute name must be string, not '{t}'"),
                            )));
                        }
                    }
                    // setattr: the attribute lands in the exception's __dict__ (py2 turns a
                    // unicode name into a str first).
                    let k = match self.heap.get(k).clone() {
                        Node::Text(t) if self.py2() => {
                            if !t.is_ascii() {
                                return Err(Fail::Unknown(Unmodelled::Feature(
                                    "a non-ASCII attribute name on py2".into(),
                                )));
                            }
                            self.new_node(Node::Bytes(t), code::BUILD)?
                        }
                        _ => k,
                    };
                    if let Node::Exception { dict, .. } = self.heap.get_mut(inst) {
                        match dict.iter().position(|&(dk, _)| dk == k) {
                            Some(i) => dict[i].1 = v,
                            None => dict.push((k, v)),
                        }
                    }
                }
                Ok(())
            }
            _ => Err(Fail::Py(PyError::new(
                "TypeError",
                "state is not a dictionary",
            ))),
        }
    }

    /// `uuid.UUID.__setstate__` (3.8+: `object.__setattr__(self, 'int', state['int'])`, the
    /// class has __slots__ and renders by repr; 3.7: `__dict__.update(state)`); `is_safe` from
    /// `state['is_safe']` when present (SafeUUID.unknown otherwise): 3.7 keeps that enum member
    /// in the `__dict__`, left unmodelled.
    pub(super) fn build_uuid(&mut self, inst: Id, state: Id) -> R<()> {
        let Node::Dict(kv) = self.heap.get(state).clone() else {
            self.not_plain(inst);
            return Ok(());
        };
        let find = |name: &[u8]| {
            kv.iter()
                .find(|&&(k, _)| matches!(self.heap.get(k), Node::Text(t) if t == name))
                .copied()
        };
        if self.facts.uuid_state_updates_dict {
            // 3.7: `self.__dict__.update(state)` (every key, whatever its type), then
            // `self.is_safe = SafeUUID(state['is_safe'])` if present, else SafeUUID.unknown: an
            // enum member in the __dict__.
            let value = match find(b"is_safe").map(|p| self.heap.get(p.1).clone()) {
                None | Some(Node::None) => None,
                Some(Node::Int(v)) if v.is_zero() || v == BigInt::from(-1) => v.to_i64(),
                Some(_) => {
                    self.not_plain(inst);
                    return Ok(());
                }
            };
            let member = self.safe_uuid(value)?;
            let mut dict: Vec<(Id, Id)> = kv
                .iter()
                .copied()
                .filter(|&(k, _)| !matches!(self.heap.get(k), Node::Text(t) if t == b"is_safe"))
                .collect();
            let key = self.new_node(Node::Text(b"is_safe".to_vec()), code::BUILD)?;
            dict.push((key, member));
            if let Node::Instance { dict: d, .. } = self.heap.get_mut(inst) {
                *d = dict;
            }
            self.index.remove(&inst);
            return Ok(());
        }
        let Some(int) = find(b"int") else {
            return Err(Fail::Py(PyError::new("KeyError", "'int'")));
        };
        let safe = find(b"is_safe");
        let int_ok =
            matches!(self.heap.get(int.1), Node::Int(v) if v.sign() != num_bigint::Sign::Minus);
        let safe_ok = match safe.map(|p| self.heap.get(p.1)) {
            None | Some(Node::None) => true,
            Some(Node::Int(v)) => v.is_zero() || *v == BigInt::from(-1),
            _ => false,
        };
        if !int_ok || !safe_ok {
            self.not_plain(inst);
            return Ok(());
        }
        let mut dict = vec![int];
        if let Some(p) = safe
            && !matches!(self.heap.get(p.1), Node::None)
        {
            dict.push(p);
        }
        if let Node::Instance { dict: d, .. } = self.heap.get_mut(inst) {
            *d = dict;
        }
        self.index.remove(&inst);
        Ok(())
    }
}
