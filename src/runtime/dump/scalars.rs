//! Scalars: bools, ints and longs, floats, py2 str, text, bytes and bytearray, and globals
//! (`save_global` with the fix_imports reverse mapping), at each protocol.

#![allow(clippy::wildcard_imports)]
use super::*;

impl<'a> Pickler<'a> {
    /// cPickle's save_list/save_dict: `put2` (always memoized) when the container is
    /// non-empty, `put` (by refcount) when it is empty.
    pub(super) fn put_container(&mut self, id: Id, ident: Ident, extra: u32, non_empty: bool) {
        if self.py2() && !non_empty {
            self.py2_put(id, extra);
        } else {
            self.memo_put(ident);
        }
    }

    pub(super) fn save_bool(&mut self, b: bool) {
        if self.proto >= 2 {
            self.write(&[if b { code::NEWTRUE } else { code::NEWFALSE }]);
        } else {
            self.write(if b { b"I01\n" } else { b"I00\n" });
        }
    }

    pub(super) fn save_int(&mut self, v: &BigInt, long: bool) -> D<()> {
        let fits32 = v.to_i32().is_some();
        if self.proto >= 1 && fits32 && !long {
            let x = v.to_i32().unwrap_or(0);
            if (0..=0xff).contains(&x) {
                self.write(&[code::BININT1, x as u8]);
            } else if (0..=0xffff).contains(&x) {
                let b = (x as u16).to_le_bytes();
                self.write(&[code::BININT2, b[0], b[1]]);
            } else {
                let b = x.to_le_bytes();
                self.write(&[code::BININT, b[0], b[1], b[2], b[3]]);
            }
            return Ok(());
        }
        if self.py2() && !long && v.to_i64().is_some() {
            // A py2 int (C long) that does not fit 32 bits: text INT at every protocol.
            self.write(format!("I{v}\n").as_bytes());
            return Ok(());
        }
        if self.proto >= 2 {
            let bytes = if v.is_zero() {
                Vec::new()
            } else {
                v.to_signed_bytes_le()
            };
            if bytes.len() < 256 {
                self.write(&[code::LONG1, bytes.len() as u8]);
            } else {
                self.write(&[code::LONG4]);
                self.write(&(bytes.len() as u32).to_le_bytes());
            }
            self.write(&bytes);
            return Ok(());
        }
        let digits = v.abs().to_string().len();
        if let Some(limit) = self.facts.int_max_str_digits
            && digits > limit
        {
            return Err(DumpError::Py(PyError::new(
                "ValueError",
                format!(
                    "Exceeds the limit ({}) for integer string conversion; use sys.set_int_max_str_digits() to increase the limit",
                    if self.facts.int_limit_says_digits {
                        "4300 digits"
                    } else {
                        "4300"
                    }
                ),
            )));
        }
        let small = v.to_i32().is_some();
        let py3_int = !self.py2() && self.proto == 0 && small && !self.facts.p0_int_as_long;
        if py3_int || (self.py2() && !long) {
            self.write(format!("I{v}\n").as_bytes());
        } else {
            self.write(format!("L{v}L\n").as_bytes());
        }
        Ok(())
    }

    pub(super) fn save_float(&mut self, f: f64) {
        if self.proto >= 1 {
            self.write(&[code::BINFLOAT]);
            self.write(&f.to_be_bytes());
        } else {
            let text = if self.py2() {
                format_g17(f)
            } else {
                float_repr(f)
            };
            self.write(format!("F{text}\n").as_bytes());
        }
    }

    pub(super) fn save_py2_str(&mut self, b: &[u8]) {
        if self.proto == 0 {
            let out = self.out_mut();
            out.push(b'S');
            py2_repr_into(out, b);
            out.push(b'\n');
        } else if b.len() < 256 {
            self.write(&[code::SHORT_BINSTRING, b.len() as u8]);
            self.write(b);
        } else {
            self.write(&[code::BINSTRING]);
            self.write(&(b.len() as u32).to_le_bytes());
            self.write(b);
        }
    }

    pub(super) fn save_text(&mut self, t: &[u8]) {
        let joined;
        // Standard UTF-8 holds no surrogates, and re-encoding its code points gives it back.
        let t = if self.py2() && self.proto >= 1 && std::str::from_utf8(t).is_err() {
            // py2's UTF-8 encoder joins a high and a low surrogate into one 4-byte sequence.
            joined = join_surrogate_pairs(t);
            &joined[..]
        } else {
            t
        };
        if self.proto == 0 {
            let (py2, ctrl) = (self.py2(), self.facts.p0_unicode_escapes_ctrl);
            let out = self.out_mut();
            out.push(b'V');
            raw_unicode_escape_into(out, t, py2, ctrl);
            out.push(b'\n');
            return;
        }
        if self.proto >= 4 && t.len() < 256 && !self.py2() {
            self.write(&[code::SHORT_BINUNICODE, t.len() as u8]);
            self.write(t);
        } else if t.len() <= u32::MAX as usize {
            let mut h = vec![code::BINUNICODE];
            h.extend_from_slice(&(t.len() as u32).to_le_bytes());
            self.write_payload(&h, t);
        } else {
            let mut h = vec![code::BINUNICODE8];
            h.extend_from_slice(&(t.len() as u64).to_le_bytes());
            self.write_payload(&h, t);
        }
    }

    pub(super) fn save_bytes(&mut self, b: &[u8], ident: Option<Ident>) -> D<()> {
        if self.proto < 3 {
            // save_bytes: `bytes()` or `_codecs.encode(text, 'latin1')` through save_reduce.
            if b.is_empty() {
                self.save_global("builtins", "bytes", None)?;
                self.save_v(&V::Tuple(vec![]), 0)?;
            } else {
                self.save_global("_codecs", "encode", None)?;
                let text = codec::decode_latin1(b);
                self.save_tuple_v(
                    &[
                        V::Text(std::str::from_utf8(&text).unwrap_or("")),
                        V::Interned("latin1"),
                    ],
                    0,
                )?;
            }
            self.write(&[code::REDUCE]);
        } else if b.len() < 256 {
            self.write(&[code::SHORT_BINBYTES, b.len() as u8]);
            self.write(b);
        } else {
            let mut h = if b.len() <= u32::MAX as usize {
                vec![code::BINBYTES]
            } else {
                vec![code::BINBYTES8]
            };
            if h[0] == code::BINBYTES {
                h.extend_from_slice(&(b.len() as u32).to_le_bytes());
            } else {
                h.extend_from_slice(&(b.len() as u64).to_le_bytes());
            }
            self.write_payload(&h, b);
        }
        if let Some(i) = ident {
            self.memo_put(i);
        }
        Ok(())
    }

    pub(super) fn save_bytearray(&mut self, id: Id, b: &[u8], extra: u32) -> D<()> {
        let facts = self.facts;
        if self.proto >= 5 {
            self.write(&[code::BYTEARRAY8]);
            self.write(&(b.len() as u64).to_le_bytes());
            self.write(b);
            let ident = self.ident(id);
            self.memo_put(ident);
            return Ok(());
        }
        let text;
        let args = if self.py2() || (self.proto < 3 && !facts.bytearray_via_codecs) {
            text = String::from_utf8(codec::decode_latin1(b)).unwrap_or_default();
            let enc = if self.py2() {
                V::Bytes(b"latin-1".to_vec())
            } else {
                V::Interned("latin-1")
            };
            V::Tuple(vec![V::Text(&text), enc])
        } else if b.is_empty() {
            V::Tuple(vec![])
        } else {
            V::Tuple(vec![V::Bytes(b.to_vec())])
        };
        self.save_reduce(id, ("builtins", "bytearray"), args, None, extra)
    }

    /// The module and name a global is written under (`fix_imports` at protocols 0-2).
    pub(super) fn global_name(&self, module: &str, name: &str) -> (String, String) {
        let module = match (module, self.py2()) {
            ("builtins", true) => "__builtin__",
            ("copyreg", true) => "copy_reg",
            (m, _) => m,
        };
        if !self.py2()
            && self.proto < 3
            && let Some(c) = self.rt.tables_or_nearest().compat
        {
            if let Some((m, n)) = c.reverse_name(module, name) {
                return (m.into(), n.into());
            }
            if let Some(m) = c.reverse_import(module) {
                return (m.into(), name.into());
            }
        }
        (module.into(), name.into())
    }

    pub(super) fn save_global(&mut self, module: &str, name: &str, ident: Option<Ident>) -> D<()> {
        let module = match module {
            "os.path" => "posixpath",
            // py2's own spellings of the modules the models name in 3.x terms: one class object.
            "__builtin__" if self.py2() => "builtins",
            "copy_reg" if self.py2() => "copyreg",
            m => m,
        };
        let key = Ident::Global(module, name);
        if let Some(i) = self.memo.get(key) {
            self.write_get(i);
            return Ok(());
        }
        if self.proto >= 4 && !self.py2() {
            // The module name is interned (one object however often it is written); the
            // qualified name of a C type is a fresh string each time.
            self.save_v(&V::Interned(module), 0)?;
            self.save_v(&V::Text(name), 0)?;
            self.write(&[code::STACK_GLOBAL]);
        } else {
            let (m, n) = self.global_name(module, name);
            self.write(format!("c{m}\n{n}\n").as_bytes());
        }
        let _ = ident;
        self.memo_put(key);
        Ok(())
    }
}
