//! Scalars: ints, longs, floats, strings and bytes as each runtime decodes them (load options,
//! codecs, digit limits).

#![allow(clippy::wildcard_imports)]
use super::*;

impl<'a> Vm<'a> {
    // ----- scalars ------------------------------------------------------------------------

    pub(super) fn digits_over_limit(&self, s: &str) -> Option<usize> {
        let limit = self.facts.int_max_str_digits?;
        let digits = s.bytes().filter(u8::is_ascii_digit).count();
        let is_decimal = !s.trim_start_matches(['-', '+', ' ']).starts_with("0x")
            && !s.trim_start_matches(['-', '+', ' ']).starts_with("0X");
        (is_decimal && digits > limit).then_some(digits)
    }

    pub(super) fn load_int_line(&self, line: &[u8]) -> R<Node> {
        if line.is_empty() {
            return Err(self.truncated());
        }
        let s = String::from_utf8_lossy(line);
        if s.len() > self.cfg.budget.max_digits {
            return Err(Fail::Unknown(Unmodelled::Budget("digits")));
        }
        let base10 = self.facts.int_text_base10;
        if let Some(v) = strtol0(&s, base10) {
            let is_bool = if self.facts.int_bool_exact_text {
                line == b"00" || line == b"01"
            } else {
                line.len() == 2 && (v == 0 || v == 1)
            };
            if is_bool {
                return Ok(Node::Bool(v == 1));
            }
            return Ok(Node::Int(BigInt::from(v)));
        }
        // The C loaders fall back to PyLong_FromString and word any failure the same way.
        if self.digits_over_limit(&s).is_some() {
            return Err(Fail::Py(PyError::new(
                "ValueError",
                "could not convert string to int",
            )));
        }
        match py_int_literal(&s, self.py2(), base10) {
            Some(v) => Ok(if self.py2() {
                Node::Long(v)
            } else {
                Node::Int(v)
            }),
            None => Err(Fail::Py(PyError::new(
                "ValueError",
                "could not convert string to int",
            ))),
        }
    }

    /// pickle.py (2.7) load_int: `'00\n'` and `'01\n'` are the booleans, else `int(data)`,
    /// falling back to `long(data)` (which also takes a trailing L); both strip whitespace and
    /// read base 10 (no 0x, a leading 0 is not octal). int() of a big value is a long.
    pub(super) fn pure_load_int(&self, data: &[u8]) -> R<Node> {
        match data {
            b"00\n" => return Ok(Node::Bool(false)),
            b"01\n" => return Ok(Node::Bool(true)),
            _ => {}
        }
        if data.len() > self.cfg.budget.max_digits {
            return Err(Fail::Unknown(Unmodelled::Budget("digits")));
        }
        let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
        let start = data.iter().position(|&c| !ws(c)).unwrap_or(data.len());
        let end = data.iter().rposition(|&c| !ws(c)).map_or(start, |e| e + 1);
        let t = &data[start..end];
        let decimal = |t: &[u8]| -> Option<BigInt> {
            let (neg, digits) = match t.first() {
                Some(b'-') => (true, &t[1..]),
                Some(b'+') => (false, &t[1..]),
                _ => (false, t),
            };
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let v = BigInt::parse_bytes(digits, 10)?;
            Some(if neg { -v } else { v })
        };
        if let Some(v) = decimal(t) {
            return Ok(if v.to_i64().is_some() {
                Node::Int(v)
            } else {
                Node::Long(v)
            });
        }
        if let Some(v) = t
            .strip_suffix(b"L")
            .or_else(|| t.strip_suffix(b"l"))
            .and_then(decimal)
        {
            return Ok(Node::Long(v));
        }
        Err(Fail::Py(PyError::new(
            "ValueError",
            format!(
                "invalid literal for long() with base 10: {}",
                crate::runtime::repr::py2_repr(data)
            ),
        )))
    }

    pub(super) fn load_long_line(&self, line: &[u8]) -> R<Node> {
        if self.rt.pure {
            // pickle.py: `long(line, 0)` (prefixes, a trailing L); its error says base 10.
            if line.len() > self.cfg.budget.max_digits {
                return Err(Fail::Unknown(Unmodelled::Budget("digits")));
            }
            let s = String::from_utf8_lossy(line);
            return match py_int_literal(&s, true, false) {
                Some(v) if !line.is_empty() => Ok(Node::Long(v)),
                _ => Err(Fail::Py(PyError::new(
                    "ValueError",
                    format!(
                        "invalid literal for long() with base 10: {}",
                        crate::runtime::repr::py2_repr(line)
                    ),
                ))),
            };
        }
        if line.is_empty() {
            return Err(self.truncated());
        }
        let s = String::from_utf8_lossy(line);
        if s.len() > self.cfg.budget.max_digits {
            return Err(Fail::Unknown(Unmodelled::Budget("digits")));
        }
        // load_long: a trailing 'L' is cut off (a NUL in its place) before PyLong_FromString.
        let cut = s.strip_suffix('L');
        // py2 hands the whole line (its L included) to PyLong_FromString.
        let body = if self.py2() { &s } else { cut.unwrap_or(&s) };
        if let Some(n) = self.digits_over_limit(body) {
            return Err(Fail::Py(PyError::new(
                "ValueError",
                format!(
                    "Exceeds the limit ({}) for integer string conversion: value has {n} digits; use sys.set_int_max_str_digits() to increase the limit",
                    if self.facts.int_limit_says_digits {
                        "4300 digits"
                    } else {
                        "4300"
                    }
                ),
            )));
        }
        match py_int_literal(body, self.py2(), self.facts.int_text_base10) {
            Some(v) => Ok(if self.py2() {
                Node::Long(v)
            } else {
                Node::Int(v)
            }),
            None => Err(Fail::Py(PyError::new(
                "ValueError",
                format!(
                    "invalid literal for {}() with base 10: {}",
                    // cPickle's PyLong_FromString names long() on py2.
                    if self.py2() { "long" } else { "int" },
                    py_str_repr_text(&match (cut, self.py2()) {
                        (Some(b), false) => b.to_string(),
                        _ => format!("{s}\n"),
                    })
                ),
            ))),
        }
    }

    pub(super) fn load_float_line(&self, line: &[u8]) -> R<f64> {
        if self.rt.pure {
            // pickle.py (2.7): `float(line)`: surrounding whitespace is allowed, the whole rest
            // must be a float, and one too large is inf (py2's float() does not overflow).
            let s = String::from_utf8_lossy(line);
            let t = s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
            let (value, used) = parse_float_prefix(t, true);
            // PyFloat_FromString: no number at all is "could not convert"; a number followed
            // by anything else is "invalid literal for float()" (both print the string from
            // its first non-blank character).
            let shown = s.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
            return match value {
                Some(v) if !t.is_empty() && used == t.len() => Ok(v),
                Some(_) if used > 0 => Err(Fail::Py(PyError::new(
                    "ValueError",
                    format!("invalid literal for float(): {shown}"),
                ))),
                _ => Err(Fail::Py(PyError::new(
                    "ValueError",
                    format!("could not convert string to float: {shown}"),
                ))),
            };
        }
        if line.is_empty() {
            return Err(self.truncated());
        }
        let s = String::from_utf8_lossy(line);
        let (value, used) = parse_float_prefix(&s, self.py2());
        let shown = if self.facts.float_error_quoted {
            format!("'{s}\n'")
        } else {
            format!("{s}\n")
        };
        if used == 0 {
            return Err(Fail::Py(PyError::new(
                "ValueError",
                format!("could not convert string to float: {shown}"),
            )));
        }
        let v = value.unwrap_or(0.0);
        if v.is_infinite() && !s[..used].to_ascii_lowercase().contains("inf") {
            return Err(Fail::Py(PyError::new(
                "OverflowError",
                format!("value too large to convert to float: {shown}"),
            )));
        }
        if used != s.len() {
            return Err(Fail::Py(PyError::new(
                "ValueError",
                "could not convert string to float",
            )));
        }
        Ok(v)
    }

    /// STRING's argument: the quotes checked, the escapes decoded (`PyBytes_DecodeEscape`).
    pub(super) fn load_string_line(&self, line: &[u8]) -> R<Vec<u8>> {
        if line.is_empty() && self.py2() && !self.rt.pure {
            return Err(self.truncated());
        }
        // cPickle strips trailing bytes <= ' ' before looking for the quotes; pickle.py does not.
        let mut n = line.len();
        if self.py2() && !self.rt.pure {
            while n > 0 && line[n - 1] <= b' ' {
                n -= 1;
            }
        }
        let quoted = n >= 2 && line[0] == line[n - 1] && (line[0] == b'\'' || line[0] == b'"');
        if !quoted {
            return Err(if self.py2() {
                Fail::Py(PyError::new("ValueError", "insecure string pickle"))
            } else {
                self.unpickling_error("the STRING opcode argument must be quoted")
            });
        }
        codec::escape_decode(&line[1..n - 1]).map_err(|e| {
            // py2's PyString_DecodeEscape does not give the position.
            let msg = if self.py2() && e.0.starts_with("invalid \\x escape") {
                "invalid \\x escape".to_string()
            } else {
                e.0
            };
            Fail::Py(PyError::new("ValueError", msg))
        })
    }

    /// A py2 `str` payload, as this runtime and its load options see it.
    pub(super) fn py2_str(&self, raw: Vec<u8>) -> R<Node> {
        if self.py2() {
            return Ok(Node::Bytes(raw));
        }
        let o = &self.cfg.options;
        let codec = match codec::lookup(&o.encoding) {
            Ok(Codec::Bytes) if self.facts.encoding_bytes => return Ok(Node::Bytes(raw)),
            Ok(Codec::Bytes) => {
                return Err(Fail::Py(PyError::new(
                    "LookupError",
                    "unknown encoding: bytes",
                )));
            }
            Ok(c) => c,
            Err(true) => {
                return Err(Fail::Unknown(Unmodelled::Feature(format!(
                    "encoding {:?}",
                    o.encoding
                ))));
            }
            Err(false) => {
                return Err(Fail::Py(PyError::new(
                    "LookupError",
                    format!("unknown encoding: {}", o.encoding),
                )));
            }
        };
        let handler = Handler::parse(&o.errors);
        let decoded = match (codec, handler) {
            (Codec::Latin1, _) => Ok(codec::decode_latin1(&raw)),
            (_, None) => {
                // The handler is looked up only when an error occurs.
                let strict = match codec {
                    Codec::Ascii => codec::decode_ascii(&raw, Handler::Strict),
                    _ => codec::decode_utf8(&raw, Handler::Strict, "utf-8"),
                };
                match strict {
                    Ok(t) => Ok(t),
                    Err(_) => {
                        return Err(Fail::Py(PyError::new(
                            "LookupError",
                            format!("unknown error handler name '{}'", o.errors),
                        )));
                    }
                }
            }
            (Codec::Ascii, Some(h)) => codec::decode_ascii(&raw, h),
            (_, Some(h)) => codec::decode_utf8(&raw, h, "utf-8"),
        };
        match decoded {
            Ok(t) => Ok(Node::Text(t)),
            Err(Failure::Decode(e)) => {
                Err(Fail::Py(PyError::new("UnicodeDecodeError", e.message())))
            }
            Err(Failure::UnknownHandler(h)) => Err(Fail::Unknown(Unmodelled::Feature(h))),
        }
    }
}
