//! Error wording: the exceptions each runtime's loader raises, with their exact texts
//! (`UnpicklingError`, `EOFError`, `KeyError`, cPickle's own messages).

#![allow(clippy::wildcard_imports)]
use super::*;

impl<'a> Vm<'a> {
    // ----- error wording -------------------------------------------------------------------

    pub(super) fn py2(&self) -> bool {
        self.rt.is_py2()
    }

    pub(super) fn unpickling_error(&self, msg: impl Into<String>) -> Fail {
        let ty = if self.py2() {
            if self.rt.pure {
                "pickle.UnpicklingError"
            } else {
                "cPickle.UnpicklingError"
            }
        } else {
            "_pickle.UnpicklingError"
        };
        Fail::Py(PyError::new(ty, msg))
    }

    pub(super) fn underflow(&self) -> Fail {
        if self.rt.pure {
            return Fail::Py(PyError::new("IndexError", "list index out of range"));
        }
        // _pickle.c Pdata_stack_underflow: the fence of an open MARK is "unexpected MARK found".
        if !self.py2() && !self.marks.is_empty() {
            self.unpickling_error("unexpected MARK found")
        } else {
            self.unpickling_error("unpickling stack underflow")
        }
    }

    pub(super) fn truncated(&self) -> Fail {
        if self.rt.pure {
            Fail::Py(PyError::new("EOFError", ""))
        } else {
            self.unpickling_error("pickle data was truncated")
        }
    }

    pub(super) fn parse_failure(&self, opcode: Option<u8>, kind: ParseErrorKind) -> Fail {
        match kind {
            ParseErrorKind::Eof => {
                if self.py2() {
                    Fail::Py(PyError::new("EOFError", ""))
                } else {
                    Fail::Py(PyError::new("EOFError", "Ran out of input"))
                }
            }
            ParseErrorKind::UnknownOpcode(b) => self.invalid_load_key(b),
            ParseErrorKind::OpBudget => Fail::Unknown(Unmodelled::Budget("operations")),
            ParseErrorKind::NegativeLength(_) if self.rt.pure => {
                // pickle.py: `self.read(n)` with n < 0 reads the rest of the stream, STOP
                // included; the next opcode read finds nothing.
                Fail::Py(PyError::new("EOFError", ""))
            }
            ParseErrorKind::NegativeLength(_) => {
                let name = opcode.and_then(ops::info).map_or("?", |i| i.name);
                if self.py2()
                    || opcode == Some(code::LONG4)
                    || self.facts.binstring_negative_reported
                {
                    let what = if opcode == Some(code::LONG4) {
                        "LONG pickle has negative byte count".to_string()
                    } else {
                        format!("{name} pickle has negative byte count")
                    };
                    self.unpickling_error(what)
                } else {
                    // 3.x C reads a negative BINSTRING size as "truncated".
                    self.truncated()
                }
            }
            ParseErrorKind::Truncated | ParseErrorKind::TooLong(_) => {
                if let (Some(op), false) = (opcode, self.known_opcode(opcode.unwrap_or(0))) {
                    // This runtime stops at the opcode itself.
                    return self.invalid_load_key(op);
                }
                // cPickle: a short binary read is EOFError; a cut-off line, "truncated".
                let line_op = opcode
                    .and_then(ops::info)
                    .is_some_and(|i| matches!(i.arg, ops::ArgKind::Line | ops::ArgKind::Line2));
                if self.py2()
                    && !self.rt.pure
                    && !line_op
                    && !matches!(kind, ParseErrorKind::TooLong(n) if n >= 1 << 31)
                {
                    return Fail::Py(PyError::new("EOFError", ""));
                }
                if let (Some(code::BINUNICODE), ParseErrorKind::TooLong(n)) = (opcode, kind)
                    && self.py2()
                    && !self.rt.pure
                    && n >= 1 << 31
                {
                    return self.unpickling_error("BINUNICODE pickle has negative byte count");
                }
                self.truncated()
            }
        }
    }

    /// cPickle's readline at the end of a cStringIO returns the rest without a newline, and the
    /// loaders then drop its last byte as if it were the newline (`garyp` is a GET of `ary`).
    /// Returns the failure of an opcode whose last line is cut off, where cPickle gets that far.
    pub(super) fn py2_partial_line(&mut self, c: u8) -> Option<Fail> {
        let info = ops::info(c)?;
        let start = self.pos + 1;
        let rest = self.data.get(start..)?;
        let cut =
            |b: &[u8]| -> Option<std::ops::Range<usize>> { (b.len() >= 2).then(|| 0..b.len() - 1) };
        let eof = Fail::Py(PyError::new("EOFError", ""));
        match info.arg {
            ops::ArgKind::Line => {
                let Some(r) = cut(rest) else {
                    return Some(self.unpickling_error("pickle data was truncated"));
                };
                let r = start + r.start..start + r.end;
                if c == code::FLOAT {
                    return Some(Fail::Py(PyError::new(
                        "ValueError",
                        "could not convert string to float",
                    )));
                }
                if c == code::STRING {
                    // Observed (pickletester truncations): cPickle ends a cut STRING with EOFError.
                    return Some(eof);
                }
                let op = Op {
                    pos: self.pos,
                    code: c,
                    arg: Arg::Line(r),
                };
                Some(match self.step(&op) {
                    Err(f) => f,
                    Ok(_) => eof,
                })
            }
            ops::ArgKind::Line2 => {
                let (first, second) = match rest.iter().position(|&b| b == b'\n') {
                    Some(n) => (start..start + n, &rest[n + 1..]),
                    None => return Some(self.unpickling_error("pickle data was truncated")),
                };
                let second_start = first.end + 1;
                let Some(r2) = cut(second) else {
                    return Some(self.unpickling_error("pickle data was truncated"));
                };
                let op = Op {
                    pos: self.pos,
                    code: c,
                    arg: Arg::Line2(first, second_start + r2.start..second_start + r2.end),
                };
                Some(match self.step(&op) {
                    Err(f) => f,
                    Ok(_) => eof,
                })
            }
            _ => None,
        }
    }

    /// pickle.py (2.7) reads lines with `readline()`, which at the end of the stream returns
    /// the rest without a newline; `load_int` converts the whole of it, every other loader
    /// drops its last character as if it were the newline. The opcode then runs on that text;
    /// if it succeeds, the next opcode read finds nothing (EOFError).
    pub(super) fn pure_partial_line(&mut self, c: u8) -> Option<Fail> {
        let info = ops::info(c)?;
        let start = self.pos + 1;
        let rest = self.data.get(start..)?;
        let eof = Fail::Py(PyError::new("EOFError", ""));
        let strip = |n: usize| {
            if c == code::INT {
                n
            } else {
                n.saturating_sub(1)
            }
        };
        let op = match info.arg {
            ops::ArgKind::Line => Op {
                pos: self.pos,
                code: c,
                arg: Arg::Line(start..start + strip(rest.len())),
            },
            ops::ArgKind::Line2 => {
                let Some(n) = rest.iter().position(|&b| b == b'\n') else {
                    // The first readline() takes the rest; the second finds nothing.
                    let end = self.data.len();
                    let op = Op {
                        pos: self.pos,
                        code: c,
                        arg: Arg::Line2(start..start + rest.len().saturating_sub(1), end..end),
                    };
                    return Some(match self.step(&op) {
                        Err(f) => f,
                        Ok(_) => eof,
                    });
                };
                let second = start + n + 1;
                let len2 = self.data.len() - second;
                Op {
                    pos: self.pos,
                    code: c,
                    arg: Arg::Line2(start..start + n, second..second + len2.saturating_sub(1)),
                }
            }
            _ => return None,
        };
        Some(match self.step(&op) {
            Err(f) => f,
            Ok(_) => eof,
        })
    }

    /// pickle.py (2.7) at the end of the stream: `self.read(n)` returns what is left, `ord()` of
    /// an empty read is a TypeError, `marshal.loads('i' + s)` reads a missing byte as EOF (-1,
    /// so the int goes negative), `struct.unpack('>d', s)` wants 8 bytes. What the opcode pushes
    /// is followed by an empty read of the next opcode: EOFError.
    pub(super) fn pure_partial_read(&mut self, c: u8) -> Option<Fail> {
        let rest = self.data.get(self.pos + 1..)?.to_vec();
        let eof = Fail::Py(PyError::new("EOFError", ""));
        let ord_empty = || {
            Fail::Py(PyError::new(
                "TypeError",
                "ord() expected a character, but string of length 0 found",
            ))
        };
        // marshal.c r_long on a string: each missing byte is EOF (-1), OR-ed in, sign-extended.
        let mloads_i = |b: &[u8]| -> i64 {
            let mut x: i64 = 0;
            for k in 0..4 {
                let v = b.get(k).map_or(-1, |&v| v as i64);
                x |= v << (8 * k);
            }
            x | -(x & 0x8000_0000)
        };
        let unregistered = |code: i64| {
            Fail::Py(PyError::new(
                "ValueError",
                format!("unregistered extension code {code}"),
            ))
        };
        Some(match c {
            code::PROTO
            | code::BININT1
            | code::BINGET
            | code::BINPUT
            | code::SHORT_BINSTRING
            | code::LONG1
            | code::EXT1
                if rest.is_empty() =>
            {
                ord_empty()
            }
            code::SHORT_BINSTRING
            | code::LONG1
            | code::BININT
            | code::BININT2
            | code::LONG4
            | code::BINSTRING => eof,
            code::BINUNICODE if std::str::from_utf8(rest.get(4..).unwrap_or(&[])).is_ok() => eof,
            code::BINFLOAT => Fail::Py(PyError::new(
                "struct.error",
                "unpack requires a string argument of length 8",
            )),
            code::LONG_BINGET => {
                let key = mloads_i(&rest).to_string().into_bytes();
                match self.pure_memo_get(&key) {
                    Ok(()) => eof,
                    Err(f) => f,
                }
            }
            code::LONG_BINPUT => {
                let key = mloads_i(&rest).to_string().into_bytes();
                match self.pure_memo_put(key) {
                    Ok(()) => eof,
                    Err(f) => f,
                }
            }
            code::EXT2 => {
                let mut b = rest.get(..rest.len().min(2)).unwrap_or(&[]).to_vec();
                b.extend_from_slice(&[0, 0]);
                unregistered(mloads_i(&b))
            }
            code::EXT4 => unregistered(mloads_i(&rest)),
            _ => return None,
        })
    }

    pub(super) fn known_opcode(&self, b: u8) -> bool {
        ops::info(b).is_some_and(|i| i.proto <= self.facts.opcode_protocol)
    }

    pub(super) fn invalid_load_key(&self, b: u8) -> Fail {
        if b == 0 && self.py2() && !self.rt.pure {
            // cPickle's opcode switch ends the stream at a NUL byte.
            return Fail::Py(PyError::new("EOFError", ""));
        }
        if self.rt.pure {
            // pickle.py: the dispatch table lookup fails.
            return Fail::Py(PyError::new(
                "KeyError",
                if self.py2() {
                    crate::runtime::repr::py2_repr(&[b])
                } else {
                    b.to_string()
                },
            ));
        }
        let printable = (0x20..=0x7e).contains(&b) && b != b'\'' && b != b'\\';
        let shown = if !self.py2() && !printable {
            format!("\\x{b:02x}")
        } else if self.py2() {
            // cPickle writes the raw byte into a py2 str message; shown as that code point.
            char::from(b).to_string()
        } else {
            (b as char).to_string()
        };
        self.unpickling_error(format!("invalid load key, '{shown}'."))
    }
}
