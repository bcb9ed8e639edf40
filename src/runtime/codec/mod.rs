//! The text codecs a pickle load goes through, with CPython's error positions and messages.
//!
//! Text is kept as "generalized UTF-8": UTF-8 in which lone surrogates (U+D800-U+DFFF) are allowed
//! as their 3-byte forms and never combined, which is exactly what CPython's `surrogatepass` UTF-8
//! decoder accepts, so a py3 `str` and a py2 `unicode` are both representable byte for byte.

mod escapes;
#[cfg(test)]
mod tests;

pub use escapes::{EscapeError, decode_raw_unicode_escape, escape_decode};

/// A decode failure, as `UnicodeDecodeError` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The codec name as it appears in the message (`ascii`, `utf-8`, `utf8` on py2, `rawunicodeescape`).
    pub codec: &'static str,
    pub start: usize,
    pub end: usize,
    /// The byte at `start` (shown when the range is one byte).
    pub byte: u8,
    pub reason: String,
}

impl DecodeError {
    /// The message after `UnicodeDecodeError: `.
    pub fn message(&self) -> String {
        if self.end == self.start + 1 {
            format!(
                "'{}' codec can't decode byte 0x{:02x} in position {}: {}",
                self.codec, self.byte, self.start, self.reason
            )
        } else {
            format!(
                "'{}' codec can't decode bytes in position {}-{}: {}",
                self.codec,
                self.start,
                self.end.saturating_sub(1),
                self.reason
            )
        }
    }
}

/// Append a code point (surrogates included) in generalized UTF-8.
#[inline]
pub fn push_cp(out: &mut Vec<u8>, cp: u32) {
    match cp {
        0..=0x7f => out.push(cp as u8),
        0x80..=0x7ff => out.extend_from_slice(&[0xc0 | (cp >> 6) as u8, 0x80 | (cp & 0x3f) as u8]),
        0x800..=0xffff => out.extend_from_slice(&[
            0xe0 | (cp >> 12) as u8,
            0x80 | ((cp >> 6) & 0x3f) as u8,
            0x80 | (cp & 0x3f) as u8,
        ]),
        _ => out.extend_from_slice(&[
            0xf0 | (cp >> 18) as u8,
            0x80 | ((cp >> 12) & 0x3f) as u8,
            0x80 | ((cp >> 6) & 0x3f) as u8,
            0x80 | (cp & 0x3f) as u8,
        ]),
    }
}

/// The code points of a generalized UTF-8 string (which this module only ever builds valid).
pub fn code_points(text: &[u8]) -> impl Iterator<Item = u32> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let b = *text.get(i)?;
        let (len, init) = match b {
            0..=0x7f => (1, b as u32),
            0xc0..=0xdf => (2, (b & 0x1f) as u32),
            0xe0..=0xef => (3, (b & 0x0f) as u32),
            _ => (4, (b & 0x07) as u32),
        };
        let mut cp = init;
        for k in 1..len {
            cp = (cp << 6) | (text.get(i + k).copied().unwrap_or(0x80) & 0x3f) as u32;
        }
        i += len;
        Some(cp)
    })
}

/// Number of code points.
pub fn char_len(text: &[u8]) -> usize {
    text.iter().filter(|&&b| (b & 0xc0) != 0x80).count()
}

fn is_cont(b: u8) -> bool {
    (0x80..0xc0).contains(&b)
}

/// CPython's UTF-8 decoder: the length of the valid sequence at `s[i..]`, or the error range.
/// Mirrors Objects/stringlib/codecs.h `utf8_decode` and `unicode_decode_utf8` (3.3+).
fn utf8_step(s: &[u8], i: usize) -> Result<usize, (usize, &'static str)> {
    let ch = s[i];
    let left = s.len() - i;
    const END: &str = "unexpected end of data";
    const START: &str = "invalid start byte";
    const CONT: &str = "invalid continuation byte";
    let at = |k: usize| s[i + k];
    match ch {
        0..=0x7f => Ok(1),
        0x80..=0xc1 => Err((i + 1, START)),
        0xc2..=0xdf => {
            if left < 2 {
                return Err((s.len(), END));
            }
            if !is_cont(at(1)) {
                return Err((i + 1, CONT));
            }
            Ok(2)
        }
        0xe0..=0xef => {
            let bad2 =
                |c2: u8| !is_cont(c2) || (ch == 0xe0 && c2 < 0xa0) || (ch == 0xed && c2 >= 0xa0);
            if left < 3 {
                if left < 2 {
                    return Err((s.len(), END));
                }
                if bad2(at(1)) {
                    return Err((i + 1, CONT));
                }
                return Err((s.len(), END));
            }
            if bad2(at(1)) {
                return Err((i + 1, CONT));
            }
            if !is_cont(at(2)) {
                return Err((i + 2, CONT));
            }
            Ok(3)
        }
        0xf0..=0xf4 => {
            let bad2 =
                |c2: u8| !is_cont(c2) || (ch == 0xf0 && c2 < 0x90) || (ch == 0xf4 && c2 >= 0x90);
            if left < 4 {
                if left < 2 {
                    return Err((s.len(), END));
                }
                if bad2(at(1)) {
                    return Err((i + 1, CONT));
                }
                if left < 3 {
                    return Err((s.len(), END));
                }
                if !is_cont(at(2)) {
                    return Err((i + 2, CONT));
                }
                return Err((s.len(), END));
            }
            if bad2(at(1)) {
                return Err((i + 1, CONT));
            }
            if !is_cont(at(2)) {
                return Err((i + 2, CONT));
            }
            if !is_cont(at(3)) {
                return Err((i + 3, CONT));
            }
            Ok(4)
        }
        _ => Err((i + 1, START)),
    }
}

/// Python 2.7's UTF-8 decoder (Objects/unicodeobject.c PyUnicode_DecodeUTF8Stateful): the
/// sequence length comes from the start byte; a sequence running past the end is "unexpected
/// end of data" over the start byte and the continuation bytes that follow it; a bad sequence
/// is "invalid continuation byte" over the start byte and the good continuation bytes before
/// the bad one (at most two).
fn utf8_step_py2(s: &[u8], i: usize) -> Result<usize, (usize, &'static str)> {
    let ch = s[i];
    let n = match ch {
        0..=0x7f => return Ok(1),
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return Err((i + 1, "invalid start byte")),
    };
    let at = |k: usize| s[i + k];
    if i + n > s.len() {
        let mut end = i + 1;
        let mut k = 1;
        while i + k < s.len() && is_cont(at(k)) {
            end += 1;
            k += 1;
        }
        return Err((end, "unexpected end of data"));
    }
    let cont = "invalid continuation byte";
    let bad = match n {
        2 => !is_cont(at(1)),
        3 => {
            !is_cont(at(1))
                || !is_cont(at(2))
                || (ch == 0xe0 && at(1) < 0xa0)
                || (ch == 0xed && at(1) > 0x9f)
        }
        _ => {
            !is_cont(at(1))
                || !is_cont(at(2))
                || !is_cont(at(3))
                || (ch == 0xf0 && at(1) < 0x90)
                || (ch == 0xf4 && at(1) > 0x8f)
        }
    };
    if !bad {
        return Ok(n);
    }
    let mut end = i + 1;
    if n >= 3 && is_cont(at(1)) {
        end += 1;
        if n == 4 && is_cont(at(2)) {
            end += 1;
        }
    }
    Err((end, cont))
}

/// An error handler of `bytes.decode` that the models know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handler {
    Strict,
    Replace,
    Ignore,
    SurrogateEscape,
    BackslashReplace,
    SurrogatePass,
}

impl Handler {
    pub fn parse(name: &str) -> Option<Handler> {
        Some(match name {
            "strict" => Handler::Strict,
            "replace" => Handler::Replace,
            "ignore" => Handler::Ignore,
            "surrogateescape" => Handler::SurrogateEscape,
            "backslashreplace" => Handler::BackslashReplace,
            "surrogatepass" => Handler::SurrogatePass,
            _ => return None,
        })
    }
}

/// Why a decode could not give text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    Decode(DecodeError),
    /// `LookupError: unknown error handler name 'x'`.
    UnknownHandler(String),
}

/// Apply an error handler to `s[start..end]`; `None` where the handler itself gives up
/// (CPython then raises the original error).
fn handle(out: &mut Vec<u8>, s: &[u8], start: usize, end: usize, h: Handler) -> Option<()> {
    match h {
        Handler::Strict | Handler::SurrogatePass => None,
        Handler::Replace => {
            push_cp(out, 0xfffd);
            Some(())
        }
        Handler::Ignore => Some(()),
        Handler::SurrogateEscape => {
            // PyCodec_SurrogateEscapeErrors: every byte must be >= 128, else the original error.
            if s[start..end].iter().any(|&b| b < 128) {
                return None;
            }
            for &b in &s[start..end] {
                push_cp(out, 0xdc00 + b as u32);
            }
            Some(())
        }
        Handler::BackslashReplace => {
            for &b in &s[start..end] {
                out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
            }
            Some(())
        }
    }
}

/// `bytes.decode('utf-8', errors)` (py3: codec name `utf-8`; py2 names it `utf8`).
/// With `surrogatepass`, 3-byte surrogate forms are accepted as CPython's handler does.
pub fn decode_utf8(s: &[u8], errors: Handler, codec: &'static str) -> Result<Vec<u8>, Failure> {
    // Fast path: valid UTF-8 is already generalized UTF-8.
    if std::str::from_utf8(s).is_ok() {
        return Ok(s.to_vec());
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    // py2 names the codec `utf8`.
    let step = if codec == "utf8" {
        utf8_step_py2
    } else {
        utf8_step
    };
    while i < s.len() {
        match step(s, i) {
            Ok(n) => {
                out.extend_from_slice(&s[i..i + n]);
                i += n;
            }
            Err((end, reason)) => {
                if errors == Handler::SurrogatePass
                    && s.len() - i >= 3
                    && s[i] == 0xed
                    && (0xa0..0xc0).contains(&s[i + 1])
                    && is_cont(s[i + 2])
                {
                    out.extend_from_slice(&s[i..i + 3]);
                    i += 3;
                    continue;
                }
                if handle(&mut out, s, i, end, errors).is_none() {
                    return Err(Failure::Decode(DecodeError {
                        codec,
                        start: i,
                        end,
                        byte: s[i],
                        reason: reason.to_string(),
                    }));
                }
                i = end;
            }
        }
    }
    Ok(out)
}

/// `bytes.decode('ascii', errors)`.
pub fn decode_ascii(s: &[u8], errors: Handler) -> Result<Vec<u8>, Failure> {
    if s.is_ascii() {
        return Ok(s.to_vec());
    }
    let mut out = Vec::with_capacity(s.len());
    for (i, &b) in s.iter().enumerate() {
        if b < 0x80 {
            out.push(b);
        } else if handle(&mut out, s, i, i + 1, errors).is_none() {
            return Err(Failure::Decode(DecodeError {
                codec: "ascii",
                start: i,
                end: i + 1,
                byte: b,
                reason: "ordinal not in range(128)".into(),
            }));
        }
    }
    Ok(out)
}

/// `bytes.decode('latin-1')`: never fails.
pub fn decode_latin1(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + s.len() / 4);
    push_latin1(&mut out, s);
    out
}

/// Append bytes read as Latin-1 code points: ASCII runs are copied whole.
fn push_latin1(out: &mut Vec<u8>, mut run: &[u8]) {
    if run.is_ascii() {
        out.extend_from_slice(run);
        return;
    }
    while !run.is_empty() {
        let n = run.iter().position(|&b| b >= 0x80).unwrap_or(run.len());
        out.extend_from_slice(&run[..n]);
        let Some(&b) = run.get(n) else {
            break;
        };
        out.extend_from_slice(&[0xc0 | (b >> 6), 0x80 | (b & 0x3f)]);
        run = &run[n + 1..];
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;
const BACKSLASHES: u64 = LO * b'\\' as u64;

/// Eight bytes from `s[i..]`, if there are eight.
#[inline]
fn word(s: &[u8], i: usize) -> Option<u64> {
    let w: [u8; 8] = s.get(i..i + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(w))
}

/// Whether a byte of `w` is zero.
#[inline]
fn has_zero(w: u64) -> bool {
    w.wrapping_sub(LO) & !w & HI != 0
}

/// The position of the next `\\` in `s` from `i` (or the end), eight bytes at a time.
#[inline]
fn next_backslash(s: &[u8], mut i: usize) -> usize {
    while let Some(w) = word(s, i) {
        if has_zero(w ^ BACKSLASHES) {
            break;
        }
        i += 8;
    }
    while i < s.len() && s[i] != b'\\' {
        i += 1;
    }
    i
}

/// The end of the run of ASCII bytes other than `\\` in `s` from `i`, eight bytes at a time.
#[inline]
fn plain_ascii_end(s: &[u8], mut i: usize) -> usize {
    while let Some(w) = word(s, i) {
        if w & HI != 0 || has_zero(w ^ BACKSLASHES) {
            break;
        }
        i += 8;
    }
    while i < s.len() && s[i] < 0x80 && s[i] != b'\\' {
        i += 1;
    }
    i
}

/// The value of a hex digit, 0xff for other bytes.
const HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut c = 0;
    while c < 10 {
        t[b'0' as usize + c] = c as u8;
        c += 1;
    }
    let mut c = 0;
    while c < 6 {
        t[b'a' as usize + c] = 10 + c as u8;
        t[b'A' as usize + c] = 10 + c as u8;
        c += 1;
    }
    t
};

/// The codecs the models know, after CPython's name normalization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Codec {
    Ascii,
    Latin1,
    Utf8,
    /// `encoding='bytes'`: py2 `str` stays `bytes`.
    Bytes,
}

/// Resolve an `encoding=` argument the way `codecs.lookup` does for the common names.
/// `Err(true)`: a codec that exists but is not modelled; `Err(false)`: no such codec.
pub fn lookup(encoding: &str) -> Result<Codec, bool> {
    if encoding == "bytes" {
        return Ok(Codec::Bytes);
    }
    // encodings.normalize_encoding + lower(): runs of non-alphanumerics (but '.') become '_'.
    let mut norm = String::new();
    let mut punct = false;
    for c in encoding.trim().chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            if punct && !norm.is_empty() {
                norm.push('_');
            }
            norm.push(c.to_ascii_lowercase());
            punct = false;
        } else {
            punct = true;
        }
    }
    Ok(match norm.as_str() {
        "ascii" | "646" | "us_ascii" | "us" | "ansi_x3.4_1968" | "ansi_x3_4_1968"
        | "ansi_x3.4_1986" | "cp367" | "csascii" | "ibm367" | "iso646_us" | "iso_646.irv_1991"
        | "iso_ir_6" => Codec::Ascii,
        "latin_1" | "latin1" | "l1" | "iso_8859_1" | "iso8859_1" | "8859" | "cp819" | "latin"
        | "iso_ir_100" | "csisolatin1" | "ibm819" | "iso_8859_1_1987" => Codec::Latin1,
        "utf_8" | "utf8" | "u8" | "utf" | "utf8_ucs2" | "utf8_ucs4" | "cp65001" => Codec::Utf8,
        _ => {
            return Err(KNOWN_UNMODELLED.contains(&norm.as_str()));
        }
    })
}

/// Codecs that exist in CPython but whose tables are not modelled here: a load through them is
/// reported as "not modelled" rather than guessed.
const KNOWN_UNMODELLED: &[&str] = &[
    "utf_16",
    "utf16",
    "utf_32",
    "utf32",
    "utf_16_le",
    "utf_16_be",
    "utf_32_le",
    "utf_32_be",
    "cp1252",
    "windows_1252",
    "cp1251",
    "windows_1251",
    "koi8_r",
    "iso8859_15",
    "latin9",
    "iso8859_2",
    "latin2",
    "shift_jis",
    "sjis",
    "euc_jp",
    "gbk",
    "gb2312",
    "gb18030",
    "big5",
    "euc_kr",
    "cp437",
    "cp850",
    "mac_roman",
    "utf_7",
    "utf7",
    "utf_8_sig",
    "cp932",
    "cp949",
    "cp950",
    "hz",
    "iso2022_jp",
    "raw_unicode_escape",
    "unicode_escape",
    "idna",
    "punycode",
];
