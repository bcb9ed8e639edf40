//! The fast path's readers of scalar opcodes: py2 hashes of dict keys, INT/LONG lines and LONG
//! bytes by range, float lines, py2 `str` and text classified by the kinds of characters they hold.

use super::*;

/// The 2.7 hash of the scalar `op` makes.
pub(super) fn py2_hash(data: &[u8], op: &parse::Op) -> Option<i64> {
    Some(match (op.code, &op.arg) {
        (code::NEWTRUE, _) => 1,
        (code::NEWFALSE, _) => 0,
        (code::BININT | code::BININT1 | code::BININT2, Arg::Int(v)) => big_hash(i128::from(*v)),
        (code::INT, Arg::Line(r)) => match &data[r.clone()] {
            b"00" => 0,
            b"01" => 1,
            l => big_hash(int_line(l)?),
        },
        (code::LONG, Arg::Line(r)) => big_hash(long_line(&data[r.clone()])?),
        (code::LONG1 | code::LONG4, Arg::Bytes(r)) => big_hash(long_bytes(&data[r.clone()])?),
        (code::FLOAT, Arg::Line(r)) => py2hash::hash_double(float_line(&data[r.clone()])?),
        (code::BINFLOAT, Arg::Float(f)) => py2hash::hash_double(*f),
        (code::BINSTRING | code::SHORT_BINSTRING, Arg::Bytes(r)) => {
            py2hash::string_hash(data[r.clone()].iter().map(|&b| u32::from(b)))
        }
        (code::STRING, Arg::Line(r)) => {
            let l = &data[r.clone()];
            py2hash::string_hash(l[1..l.len() - 1].iter().map(|&b| u32::from(b)))
        }
        (code::UNICODE, Arg::Line(r)) => {
            let mut cps = Vec::new();
            raw_unicode(&data[r.clone()], |c| cps.push(c))?;
            py2hash::string_hash(cps)
        }
        (code::BINUNICODE | code::SHORT_BINUNICODE | code::BINUNICODE8, Arg::Bytes(r)) => {
            let mut cps = Vec::new();
            utf8_text(&data[r.clone()], |c| cps.push(c))?;
            py2hash::string_hash(cps)
        }
        // None hashes by address on 2.7.
        _ => return None,
    })
}

/// A decimal INT line without leading zeros, of at most 38 digits.
pub(super) fn int_line(l: &[u8]) -> Option<i128> {
    let digits = l.strip_prefix(b"-").unwrap_or(l);
    if digits.is_empty() || digits.len() > 38 || (digits[0] == b'0' && l != b"0") {
        return None;
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(l).ok()?.parse().ok()
}

/// A LONG line: an INT line and an `L`.
pub(super) fn long_line(l: &[u8]) -> Option<i128> {
    int_line(l.strip_suffix(b"L")?)
}

/// A LONG1 / LONG4 payload (little-endian two's complement) of at most 16 bytes.
pub(super) fn long_bytes(b: &[u8]) -> Option<i128> {
    if b.len() > 16 {
        return None;
    }
    let fill = if b.last().is_some_and(|&x| x >= 0x80) {
        0xff
    } else {
        0
    };
    let mut le = [fill; 16];
    le[..b.len()].copy_from_slice(b);
    Some(i128::from_le_bytes(le))
}

/// The kind of an int: by the opcode family that made it (`long`: a LONG opcode) and its range.
pub(super) fn int_class(v: i128, long: bool) -> u64 {
    let range = if i32::try_from(v).is_ok() {
        0
    } else if i64::try_from(v).is_ok() {
        1
    } else {
        2
    };
    match (long, range) {
        (false, 0) => K_INT,
        (false, 1) => K_INT64,
        (false, _) => K_INT_BIG,
        (true, 0) => K_LONG32,
        (true, 1) => K_LONG64,
        (true, _) => K_LONG_BIG,
    }
}

/// The 2.7 hash of an int or long.
pub(super) fn big_hash(v: i128) -> i64 {
    py2hash::long_hash(&num_bigint::BigInt::from(v))
}

/// A memo index line: decimal digits.
pub(super) fn int_digits(l: &[u8]) -> Option<u32> {
    if l.is_empty() || l.len() > 9 || !l.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(l).ok()?.parse().ok()
}

/// A FLOAT line of digits, sign, point and exponent only, finite.
pub(super) fn float_line(l: &[u8]) -> Option<f64> {
    if l.is_empty()
        || !l
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let v: f64 = std::str::from_utf8(l).ok()?.parse().ok()?;
    v.is_finite().then_some(v)
}

pub(super) fn special(b: u8) -> bool {
    b < 0x20 || b == 0x7f || b == b'\\'
}

/// A py2 `str` of ASCII bytes: its kinds.
pub(super) fn py2_str(data: &[u8], arg: &Arg, quoted: bool) -> Option<u64> {
    let body = match arg {
        Arg::Line(r) if quoted => {
            let l = &data[r.clone()];
            let q = *l.first()?;
            if l.len() < 2 || !matches!(q, b'\'' | b'"') || l[l.len() - 1] != q {
                return None;
            }
            let body = &l[1..l.len() - 1];
            if body.iter().any(|&b| b == q || special(b) || b >= 0x80) {
                return None;
            }
            body
        }
        Arg::Bytes(r) if !quoted => &data[r.clone()],
        _ => return None,
    };
    if !body.is_ascii() {
        return None;
    }
    Some(
        if body.iter().any(|&b| special(b) || b == b'\'' || b == b'"') {
            K_STR | K_STR_SPECIAL
        } else {
            K_STR
        },
    )
}

pub(super) fn text_kinds(c: u32, k: &mut u64) {
    if c < 0x80 {
        if c < 0x20 || c == 0x7f || c == u32::from(b'\\') {
            *k |= K_UNI_SPECIAL;
        }
    } else if c < 0x100 {
        *k |= K_UNI_LATIN1;
    } else if c < 0x10000 {
        *k |= K_UNI_BMP;
    } else {
        *k |= K_UNI_ASTRAL;
    }
}

/// UTF-8 text (no surrogates): its kinds; `each` sees its code points.
pub(super) fn utf8_text(b: &[u8], mut each: impl FnMut(u32)) -> Option<u64> {
    let s = std::str::from_utf8(b).ok()?;
    let mut k = K_UNI;
    if s.is_ascii() {
        if b.iter().any(|&x| special(x)) {
            k |= K_UNI_SPECIAL;
        }
        b.iter().for_each(|&x| each(u32::from(x)));
        return Some(k);
    }
    for c in s.chars() {
        text_kinds(c as u32, &mut k);
        each(c as u32);
    }
    Some(k)
}

/// Protocol 0 text (raw-unicode-escape as Python's picklers write it: Latin-1 bytes, and `\u`
/// or `\U` escapes for the rest; any other backslash goes to the full models).
pub(super) fn raw_unicode(b: &[u8], mut each: impl FnMut(u32)) -> Option<u64> {
    let mut k = K_UNI;
    let mut i = 0;
    while i < b.len() {
        let c = if b[i] == b'\\' {
            let n = match b.get(i + 1) {
                Some(b'u') => 4,
                Some(b'U') => 8,
                _ => return None,
            };
            let hex = b.get(i + 2..i + 2 + n)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let c = u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            char::from_u32(c)?;
            i += 2 + n;
            c
        } else {
            i += 1;
            u32::from(b[i - 1])
        };
        text_kinds(c, &mut k);
        each(c);
    }
    Some(k)
}
