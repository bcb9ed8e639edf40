//! The escape codecs of the text opcodes: `raw-unicode-escape` (UNICODE, with py2's rule for
//! `\u` after backslashes) and `string-escape`/`escape_decode` (protocol-0 STRING), with CPython's
//! error positions and messages.

use super::*;

/// `raw-unicode-escape` decoding, as the UNICODE opcode uses it. `py2` keeps the 2.x rule that a
/// `\u` escape counts only after an odd number of backslashes.
pub fn decode_raw_unicode_escape(s: &[u8], py2: bool) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c != b'\\' {
            // Bytes other than the backslash are Latin-1 code points.
            if c >= 0x80 {
                out.extend_from_slice(&[0xc0 | (c >> 6), 0x80 | (c & 0x3f)]);
                i += 1;
            } else {
                let next = plain_ascii_end(s, i);
                out.extend_from_slice(&s[i..next]);
                i = next;
            }
            continue;
        }
        if py2 {
            // Count the run of backslashes; all but an escaping last one are literal.
            let run_start = i;
            while i < s.len() && s[i] == b'\\' {
                i += 1;
            }
            let run = i - run_start;
            let escapes = run % 2 == 1 && i < s.len() && (s[i] == b'u' || s[i] == b'U');
            let literal = if escapes { run - 1 } else { run };
            out.extend(std::iter::repeat_n(b'\\', literal));
            if !escapes {
                continue;
            }
            let start = i - 1;
            match hex_escape(s, i, start, true) {
                Ok((cp, next)) => {
                    push_cp(&mut out, cp);
                    i = next;
                }
                Err(e) => return Err(e),
            }
            continue;
        }
        let start = i;
        if i + 1 >= s.len() {
            out.push(b'\\');
            i += 1;
            continue;
        }
        let n = s[i + 1];
        if n != b'u' && n != b'U' {
            out.push(b'\\');
            i += 1;
            continue;
        }
        let (cp, next) = hex_escape(s, i + 1, start, false)?;
        push_cp(&mut out, cp);
        i = next;
    }
    Ok(out)
}

/// Read the hex digits of `\uXXXX` / `\UXXXXXXXX`; `at` is the `u`/`U`, `start` the backslash.
#[inline]
fn hex_escape(s: &[u8], at: usize, start: usize, py2: bool) -> Result<(u32, usize), DecodeError> {
    // The common case, four good digits, without the bookkeeping of the general path.
    if s[at] == b'u'
        && let Some(&[a, b, c, d]) = s.get(at + 1..at + 5)
    {
        let (a, b, c, d) = (
            HEX[a as usize],
            HEX[b as usize],
            HEX[c as usize],
            HEX[d as usize],
        );
        if (a | b | c | d) < 16 {
            let cp = (a as u32) << 12 | (b as u32) << 8 | (c as u32) << 4 | d as u32;
            return Ok((cp, at + 5));
        }
    }
    hex_escape_slow(s, at, start, py2)
}

fn hex_escape_slow(
    s: &[u8],
    at: usize,
    start: usize,
    py2: bool,
) -> Result<(u32, usize), DecodeError> {
    let (count, msg) = if s[at] == b'u' {
        (4, "truncated \\uXXXX")
    } else {
        (8, "truncated \\UXXXXXXXX")
    };
    let mut cp: u32 = 0;
    let mut j = at + 1;
    let mut got = 0;
    while got < count && j < s.len() {
        let d = HEX[s[j] as usize];
        if d == 0xff {
            break;
        }
        let d = d as u32;
        cp = (cp << 4) | d;
        j += 1;
        got += 1;
    }
    let codec = "rawunicodeescape";
    if got < count {
        return Err(DecodeError {
            codec,
            start,
            end: j,
            byte: s[start],
            reason: format!("{msg}{}", if py2 { "" } else { " escape" }),
        });
    }
    if cp > 0x10ffff {
        return Err(DecodeError {
            codec,
            start,
            end: j,
            byte: s[start],
            reason: "\\Uxxxxxxxx out of range".into(),
        });
    }
    Ok((cp, j))
}

/// Why `escape_decode` failed (a `ValueError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscapeError(pub String);

/// `codecs.escape_decode` / `PyBytes_DecodeEscape`: the py2 `str` literal escapes of a STRING
/// argument (between its quotes).
pub fn escape_decode(s: &[u8]) -> Result<Vec<u8>, EscapeError> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            if s.get(i).is_some_and(|&b| b != b'\\') {
                let next = next_backslash(s, i);
                out.extend_from_slice(&s[i..next]);
                i = next;
            }
            continue;
        }
        let start = i;
        i += 1;
        let Some(&e) = s.get(i) else {
            return Err(EscapeError("Trailing \\ in string".into()));
        };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' => out.push(b'\\'),
            b'\'' => out.push(b'\''),
            b'"' => out.push(b'"'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(11),
            b'a' => out.push(7),
            b'0'..=b'7' => {
                let mut v = (e - b'0') as u32;
                for _ in 0..2 {
                    match s.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + (d - b'0') as u32;
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            b'x' => {
                let (a, b) = match s.get(i..i + 2) {
                    Some(&[a, b]) => (HEX[a as usize], HEX[b as usize]),
                    _ => (0xff, 0xff),
                };
                match (a | b) < 16 {
                    true => {
                        out.push(a * 16 + b);
                        i += 2;
                        // py2's repr writes every byte outside printable ASCII as `\xNN`: a
                        // binary or non-ASCII string is one run of them, decoded here four
                        // bytes at a time (a sequence that is not a valid `\xNN` leaves the
                        // run to the general loop, which reports it where it did).
                        while let Some(&[b'\\', b'x', c, d]) = s.get(i..i + 4) {
                            let (c, d) = (HEX[c as usize], HEX[d as usize]);
                            if (c | d) >= 16 {
                                break;
                            }
                            out.push(c * 16 + d);
                            i += 4;
                        }
                    }
                    false => {
                        return Err(EscapeError(format!(
                            "invalid \\x escape at position {start}"
                        )));
                    }
                }
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}
