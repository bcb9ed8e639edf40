//! Python's own `repr` of loaded values, as each runtime prints it (`'caf\xc3\xa9'` for a py2
//! `str` on 2.7, `'café'` for a py3 `str`), shortened for explanations. The canonical rendering
//! that the oracle compares is `render.rs`; this is what a developer reads in a report.

use super::Runtime;
use super::codec;
use super::load::type_name;
use super::value::{Heap, Id, Node};
use std::fmt::Write;

/// Characters (or bytes) of a string shown before `...`.
pub const SHOWN: usize = 40;

/// Python's repr of a text: py3 `'café'`, py2 `u'caf\xe9'` (the first [`SHOWN`] characters).
pub fn text(t: &[u8], py2: bool) -> String {
    let cps: Vec<u32> = codec::code_points(t).take(SHOWN + 1).collect();
    // The quote depends on the whole string; quotes are ASCII, which the (generalized) UTF-8
    // bytes hold only as themselves, so the bytes tell, as in `bytes`.
    let quote = if t.contains(&b'\'') && !t.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut s = String::from(if py2 { "u" } else { "" });
    s.push(quote);
    for &cp in cps.iter().take(SHOWN) {
        match cp {
            0x5c => s.push_str("\\\\"),
            0x0a => s.push_str("\\n"),
            0x0d => s.push_str("\\r"),
            0x09 => s.push_str("\\t"),
            c if c == quote as u32 => {
                s.push('\\');
                s.push(quote);
            }
            0x20..=0x7e => s.push(cp as u8 as char),
            c if c <= 0xff && (py2 || c < 0xa1 || c == 0xad) => {
                let _ = write!(s, "\\x{c:02x}");
            }
            c if c <= 0xffff
                && (py2
                    || (0xd800..=0xdfff).contains(&c)
                    || (0xe000..=0xf8ff).contains(&c)
                    || (0x2000..=0x200f).contains(&c)
                    || (0x2028..=0x202f).contains(&c)
                    || (0x2060..=0x206f).contains(&c)
                    || c == 0x3000
                    || c == 0xfeff) =>
            {
                let _ = write!(s, "\\u{c:04x}");
            }
            c if py2 => {
                let _ = write!(s, "\\U{c:08x}");
            }
            c => match char::from_u32(c) {
                Some(ch) => s.push(ch),
                None => {
                    let _ = write!(s, "\\U{c:08x}");
                }
            },
        }
    }
    if cps.len() > SHOWN {
        s.push_str("...");
    }
    s.push(quote);
    s
}

/// Python's repr of a byte string: py3 `b'caf\xc3\xa9'`, py2 `'caf\xc3\xa9'` (first
/// [`SHOWN`] bytes).
pub fn bytes(b: &[u8], py2: bool) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut s = String::from(if py2 { "" } else { "b" });
    s.push(quote);
    for &c in b.iter().take(SHOWN) {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            c if c == quote as u8 => {
                s.push('\\');
                s.push(quote);
            }
            0x20..=0x7e => s.push(c as char),
            c => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    if b.len() > SHOWN {
        s.push_str("...");
    }
    s.push(quote);
    s
}

/// `repr(float)` (2.7 and 3.x: the shortest string that reads back, in exponent form below
/// 1e-4 and from 1e16 on).
pub fn float(f: f64) -> String {
    float_repr(f)
}

/// A short repr of one value as `rt` prints it: scalars and strings in full (strings cut at
/// [`SHOWN`]), containers by type and size.
pub fn short(heap: &Heap, id: Id, rt: Runtime) -> String {
    let py2 = rt.is_py2();
    let n = heap.get(id);
    match n {
        Node::None => "None".into(),
        Node::Bool(b) => if *b { "True" } else { "False" }.into(),
        Node::Int(v) => v.to_string(),
        Node::Long(v) => format!("{v}L"),
        Node::Float(f) => float(*f),
        Node::Complex(r, i) => format!("({}+{}j)", float(*r), float(*i)).replace("+-", "-"),
        Node::Bytes(b) => bytes(b, py2),
        Node::Text(t) => text(t, py2),
        Node::ByteArray(b) => format!("bytearray({})", bytes(b, false)),
        Node::Decimal(s) => format!("Decimal('{s}')"),
        Node::Date(f) => format!("datetime.date({}, {}, {})", f[0], f[1], f[2]),
        Node::Timedelta(f) => format!("datetime.timedelta({}, {}, {})", f[0], f[1], f[2]),
        Node::Datetime {
            fields: f,
            tz,
            fold,
        } => format!(
            "datetime.datetime({}, {}, {}, {}, {}, {}, {}{}{})",
            f[0],
            f[1],
            f[2],
            f[3],
            f[4],
            f[5],
            f[6],
            tz_arg(heap, *tz, rt),
            fold_arg(*fold)
        ),
        Node::Time {
            fields: f,
            tz,
            fold,
        } => format!(
            "datetime.time({}, {}, {}, {}{}{})",
            f[0],
            f[1],
            f[2],
            f[3],
            tz_arg(heap, *tz, rt),
            fold_arg(*fold)
        ),
        Node::Global(g) => format!("<{} {}.{}>", type_name(n, py2), g.module, g.name),
        Node::Range([a, b, c]) => format!("{}({a}, {b}, {c})", type_name(n, py2)),
        _ => {
            let items = match n {
                Node::Dict(kv) | Node::OrderedDict(kv) => Some(kv.len()),
                Node::DefaultDict { items, .. } => Some(items.len()),
                Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => Some(v.len()),
                Node::Deque { items, .. } => Some(items.len()),
                _ => None,
            };
            let t = type_name(n, py2);
            match items {
                Some(1) => format!("a {t} of 1 item"),
                Some(k) => format!("a {t} of {k} items"),
                None => format!("a {t} object"),
            }
        }
    }
}

fn tz_arg(heap: &Heap, tz: Option<Id>, rt: Runtime) -> String {
    match tz {
        Some(t) => format!(", tzinfo={}", short(heap, t, rt)),
        None => String::new(),
    }
}

fn fold_arg(fold: u8) -> String {
    if fold == 0 {
        String::new()
    } else {
        format!(", fold={fold}")
    }
}

/// `repr(float)`: the shortest repr, Python's formatting (`1e+16`, `1.5`, `inf`, `nan`).
pub fn float_repr(f: f64) -> String {
    // Rust's `{:e}` gives the shortest round-trip digits: "1.5e0", "1e16".
    float_layout(f, &format!("{f:e}"), 16, true)
}

/// C's `%.17g`, which cPickle uses for protocol-0 floats (`F0.10000000000000001`).
pub fn format_g17(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    float_layout(f, &format!("{f:.16e}"), 17, false)
}

/// Lay out the digits of `sci` (Rust's `{:e}` form of `f`) as `repr`/`%g` do: fixed notation for
/// exponents in -4..`fixed_below`, else `d.ddde+XX`; `dot_zero` adds `.0` to integral values.
fn float_layout(f: f64, sci: &str, fixed_below: i32, dot_zero: bool) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let (mant, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if mant.starts_with('-') { "-" } else { "" };
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    if (-4..fixed_below).contains(&exp) {
        let n = digits.len() as i32;
        let point = exp + 1;
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point >= n {
            let zeros = "0".repeat((point - n) as usize);
            format!("{digits}{zeros}{}", if dot_zero { ".0" } else { "" })
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{body}")
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits.to_string()
        };
        format!(
            "{sign}{m}e{}{:02}",
            if exp < 0 { "-" } else { "+" },
            exp.abs()
        )
    }
}

pub(crate) const HEX: &[u8; 16] = b"0123456789abcdef";

/// Bytes `repr(str)` writes as themselves (printable ASCII but `\\`; the quote is checked apart).
const fn repr_plain() -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0x20;
    while c <= 0x7e {
        t[c] = c != b'\\' as usize;
        c += 1;
    }
    t
}
static REPR_PLAIN: [bool; 256] = repr_plain();

/// py2 `repr(str)`: single quotes unless the string has `'` and no `"`.
pub fn py2_repr(b: &[u8]) -> String {
    let mut out = Vec::new();
    py2_repr_into(&mut out, b);
    // Only ASCII is written.
    String::from_utf8(out).unwrap_or_default()
}

/// `py2_repr` appended to `out`: runs that need no escape are copied whole.
pub(crate) fn py2_repr_into(out: &mut Vec<u8>, b: &[u8]) {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    out.reserve(b.len() + 2);
    out.push(quote);
    let mut i = 0;
    while i < b.len() {
        let start = i;
        // Byte by byte: these strings are often binary, whose plain runs are short (a test of
        // eight bytes at a time measured slower on the large corpus).
        while i < b.len() && REPR_PLAIN[b[i] as usize] && b[i] != quote {
            i += 1;
        }
        out.extend_from_slice(&b[start..i]);
        let Some(&c) = b.get(i) else {
            break;
        };
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c == quote => out.extend_from_slice(&[b'\\', c]),
            _ => out.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[(c >> 4) as usize],
                HEX[(c & 15) as usize],
            ]),
        }
        i += 1;
    }
    out.push(quote);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_is_pythons() {
        // repr() of CPython 2.7 and 3.x for each.
        for (f, want) in [
            (1.5, "1.5"),
            (1.0, "1.0"),
            (100.0, "100.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345.6, "123456789012345.6"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1e300, "1e+300"),
            (2.5e-300, "2.5e-300"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(float(f), want, "{f:?}");
        }
    }

    #[test]
    fn strings_in_each_runtimes_repr() {
        assert_eq!(bytes(b"caf\xc3\xa9", true), "'caf\\xc3\\xa9'");
        assert_eq!(bytes(b"caf\xc3\xa9", false), "b'caf\\xc3\\xa9'");
        assert_eq!(text("café".as_bytes(), false), "'café'");
        assert_eq!(text("café".as_bytes(), true), "u'caf\\xe9'");
        assert_eq!(text(b"it's", false), "\"it's\"");
    }
}
