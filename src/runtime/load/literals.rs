//! Text literals as Python parses them: int()/long()/float() of protocol-0 lines, strtol, Decimal
//! strings, the reprs error messages quote.

#![allow(clippy::wildcard_imports)]
use super::*;

pub(super) fn text_lossy(t: &[u8]) -> String {
    codec::code_points(t)
        .map(|c| char::from_u32(c).unwrap_or('\u{fffd}'))
        .collect()
}

/// py3 `repr()` of an ASCII-ish str, enough for error messages.
pub(super) fn py_str_repr_text(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// How a character appears in `UnicodeEncodeError` messages: `'\u20ac'`.
pub(super) fn py_char_escape(cp: u32, py2: bool) -> String {
    let body = if cp <= 0xff {
        format!("\\x{cp:02x}")
    } else if cp <= 0xffff {
        format!("\\u{cp:04x}")
    } else {
        format!("\\U{cp:08x}")
    };
    if py2 {
        format!("u'{body}'")
    } else {
        format!("'{body}'")
    }
}

/// C `strtol(s, &end, 0)` that must consume the whole line: `Some` when it fits a C long.
/// `strtol(s, &end, 0)`, or with `base10` (3.14+) `strtol(s, &end, 10)`: no prefixes, a leading
/// zero is not octal.
pub(super) fn strtol0(s: &str, base10: bool) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if base10 {
        (10, t)
    } else if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, h)
    } else if t.len() > 1 && t.starts_with('0') {
        (8, &t[1..])
    } else {
        (10, t)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        // "0x" alone parses as 0 with end at 'x', which is not the end of the line.
        return None;
    }
    let v = i128::from_str_radix(digits, radix).ok()?;
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

/// `int(s, 0)` / `PyLong_FromString(s, NULL, 0)`: underscores between digits (3.6+), 0x/0o/0b
/// prefixes, no leading zeros on a nonzero decimal; surrounding whitespace allowed. py2 also
/// accepts a trailing `L` and old-style octal. With `base10` (3.14+: `int(s, 10)`): no prefixes,
/// leading zeros allowed.
pub(super) fn py_int_literal(s: &str, py2: bool, base10: bool) -> Option<BigInt> {
    // py2's PyLong_FromString takes a trailing L only right after the digits.
    let t = if py2 {
        let t = s.trim_end_matches(|c: char| c.is_ascii_whitespace());
        t.strip_suffix(['L', 'l']).unwrap_or(t).trim_start()
    } else {
        s.trim_matches(|c: char| c.is_ascii_whitespace())
    };
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = t.to_ascii_lowercase();
    let (radix, body) = if base10 {
        (10, lower.clone())
    } else if let Some(b) = lower.strip_prefix("0x") {
        (16, b.to_string())
    } else if let Some(b) = lower.strip_prefix("0o") {
        (8, b.to_string())
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        if py2 {
            (8, lower[1..].to_string())
        } else if lower.chars().all(|c| c == '0' || c == '_') {
            (10, lower.clone())
        } else {
            return None;
        }
    } else {
        (10, lower.clone())
    };
    let body = if py2 {
        if body.contains('_') {
            return None;
        }
        body
    } else {
        // Underscores only between digits (or right after a base prefix).
        if body.starts_with('_') && radix == 10 || body.ends_with('_') || body.contains("__") {
            return None;
        }
        body.replace('_', "")
    };
    if body.is_empty() {
        return None;
    }
    let v = BigInt::parse_bytes(body.as_bytes(), radix)?;
    Some(if neg { -v } else { v })
}

/// `PyOS_string_to_double` with an end pointer: the value of the longest float prefix and its length.
pub(super) fn parse_float_prefix(s: &str, py2: bool) -> (Option<f64>, usize) {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let lower = s[i..].to_ascii_lowercase();
    for word in ["infinity", "inf", "nan"] {
        if lower.starts_with(word) {
            let neg = s.starts_with('-');
            // py2's Py_NAN is `HUGE_VAL * 0.`, which on x86 has the sign bit set; py3 builds a
            // positive NaN (`_Py_dg_stdnan`). Corpus: float_nan at protocol 0 read by 2.7.
            let nan = if py2 {
                f64::from_bits(0xfff8_0000_0000_0000)
            } else {
                f64::from_bits(0x7ff8_0000_0000_0000)
            };
            let v = if word == "nan" {
                nan
            } else if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            };
            return (
                Some(if word == "nan" && neg { -v } else { v }),
                i + word.len(),
            );
        }
    }
    let digits_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut mantissa = i > digits_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        mantissa |= i > f;
    }
    if !mantissa {
        return (None, 0);
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let e = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > e {
            i = j;
        }
    }
    (s[..i].parse::<f64>().ok(), i)
}

/// `timedelta(days, seconds, microseconds)` normalized as CPython does; `None` out of range.
pub(super) fn normalize_timedelta(v: [i64; 3]) -> Option<[i64; 3]> {
    let total_us = (v[0] as i128) * 86_400_000_000 + (v[1] as i128) * 1_000_000 + v[2] as i128;
    let days = total_us.div_euclid(86_400_000_000);
    let rem = total_us.rem_euclid(86_400_000_000);
    if days.abs() > 999_999_999 {
        return None;
    }
    Some([
        days as i64,
        (rem / 1_000_000) as i64,
        (rem % 1_000_000) as i64,
    ])
}

/// `str(Decimal(s))` for the literals the models accept: `None` for anything else.
pub(super) fn decimal_str(s: &str) -> Option<String> {
    let t = s.trim();
    let (sign, t) = match t.as_bytes().first() {
        Some(b'-') => ("-", &t[1..]),
        Some(b'+') => ("", &t[1..]),
        _ => ("", t),
    };
    let lower = t.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "infinity" => return Some(format!("{sign}Infinity")),
        "nan" => return Some(format!("{sign}NaN")),
        "snan" => return Some(format!("{sign}sNaN")),
        _ => {}
    }
    let (mant, exp) = match lower.split_once('e') {
        Some((m, e)) => (m, e.parse::<i64>().ok()?),
        None => (lower.as_str(), 0),
    };
    let (int_part, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int_part.is_empty() && frac.is_empty() {
        return None;
    }
    if !int_part
        .bytes()
        .chain(frac.bytes())
        .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    // Built with pushes, not format! (this runs for every Decimal of a load).
    let mut digits_raw = String::with_capacity(int_part.len() + frac.len());
    digits_raw.push_str(int_part);
    digits_raw.push_str(frac);
    let exp = exp - frac.len() as i64;
    let digits = digits_raw.trim_start_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    // Decimal.__str__ (to-sci-string).
    let n = digits.len() as i64;
    let adjusted = exp + n - 1;
    let mut out = String::with_capacity(sign.len() + digits.len() + 8);
    out.push_str(sign);
    if exp <= 0 && adjusted >= -6 {
        if exp == 0 {
            out.push_str(digits);
        } else {
            let point = n + exp;
            if point > 0 {
                out.push_str(&digits[..point as usize]);
                out.push('.');
                out.push_str(&digits[point as usize..]);
            } else {
                out.push_str("0.");
                out.extend(std::iter::repeat_n('0', (-point) as usize));
                out.push_str(digits);
            }
        }
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('E');
        if adjusted >= 0 {
            out.push('+');
        }
        out.push_str(&adjusted.to_string());
    }
    Some(out)
}

/// C `long` parse of a memo index line (`GET`/`PUT`), as `int(line)`.
pub(super) fn parse_c_long(s: &str) -> Option<i64> {
    s.trim().parse::<i64>().ok()
}
