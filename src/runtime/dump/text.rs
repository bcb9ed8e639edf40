//! How protocol 0 spells text: raw-unicode-escape, surrogate pairs joined, plain runs found a word
//! at a time.

#![allow(clippy::wildcard_imports)]
use super::*;

pub(super) fn join_surrogate_pairs(t: &[u8]) -> Vec<u8> {
    let cps: Vec<u32> = codec::code_points(t).collect();
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < cps.len() {
        let c = cps[i];
        if (0xd800..0xdc00).contains(&c)
            && i + 1 < cps.len()
            && (0xdc00..0xe000).contains(&cps[i + 1])
        {
            codec::push_cp(
                &mut out,
                0x10000 + ((c - 0xd800) << 10) + (cps[i + 1] - 0xdc00),
            );
            i += 2;
        } else {
            codec::push_cp(&mut out, c);
            i += 1;
        }
    }
    out
}

/// `codec::char_len(t) <= 1`, without counting past the second character.
pub(super) fn at_most_one_char(t: &[u8]) -> bool {
    t.iter().filter(|&&b| (b & 0xc0) != 0x80).nth(1).is_none()
}

pub(super) const LO: u64 = 0x0101_0101_0101_0101;
pub(super) const HI: u64 = 0x8080_8080_8080_8080;

/// Whether a byte of `w` is below `n` (n <= 128; "hasless" of Bit Twiddling Hacks, exact as a
/// test).
pub(super) fn has_less(w: u64, n: u8) -> bool {
    w.wrapping_sub(LO * n as u64) & !w & HI != 0
}

/// Whether a byte of `w` is `c`.
pub(super) fn has_byte(w: u64, c: u8) -> bool {
    has_less(w ^ (LO * c as u64), 1)
}

/// The length of the prefix of `b` whose bytes are all plain: eight at a time while `word`
/// says a word has no byte that is not (it must agree with `byte` on each of its bytes), then
/// byte by byte.
pub(super) fn plain_len(b: &[u8], word: impl Fn(u64) -> bool, byte: impl Fn(u8) -> bool) -> usize {
    let mut i = 0;
    for c in b.chunks_exact(8) {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        if !word(u64::from_le_bytes(a)) {
            break;
        }
        i += 8;
    }
    while i < b.len() && byte(b[i]) {
        i += 1;
    }
    i
}

/// The code point at `t[i..]` and its length in bytes, decoded exactly as `codec::code_points`
/// does (a missing continuation byte reads as 0x80).
pub(crate) fn cp_at(t: &[u8], i: usize) -> (u32, usize) {
    let b = t[i];
    let (len, init) = match b {
        0..=0x7f => (1, b as u32),
        0xc0..=0xdf => (2, (b & 0x1f) as u32),
        0xe0..=0xef => (3, (b & 0x0f) as u32),
        _ => (4, (b & 0x07) as u32),
    };
    let mut cp = init;
    for k in 1..len {
        cp = (cp << 6) | (t.get(i + k).copied().unwrap_or(0x80) & 0x3f) as u32;
    }
    (cp, len)
}

/// `\\u` and four hex digits, or `\\U` and eight.
pub(super) fn push_u_escape(out: &mut Vec<u8>, cp: u32) {
    if cp < 0x10000 {
        out.extend_from_slice(b"\\u");
        for k in (0..4).rev() {
            out.push(HEX[((cp >> (4 * k)) & 15) as usize]);
        }
    } else {
        out.extend_from_slice(b"\\U");
        for k in (0..8).rev() {
            out.push(HEX[((cp >> (4 * k)) & 15) as usize]);
        }
    }
}

/// The UNICODE opcode's argument, appended to `out`: raw-unicode-escape with `\\` and `\n`
/// pre-escaped (3.7+ also `\0`, `\r`, `\x1a`; py2 only `\\` and `\n`).
pub(super) fn raw_unicode_escape_into(out: &mut Vec<u8>, t: &[u8], py2: bool, ctrl: bool) {
    let ctrl = !py2 && ctrl;
    let plain =
        |b: u8| b < 0x80 && b != b'\\' && b != b'\n' && !(ctrl && matches!(b, 0 | b'\r' | 0x1a));
    out.reserve(t.len());
    let word_plain = |w: u64| {
        !(w & HI != 0
            || has_byte(w, b'\\')
            || has_byte(w, b'\n')
            || (ctrl && (has_byte(w, 0) || has_byte(w, b'\r') || has_byte(w, 0x1a))))
    };
    let mut i = 0;
    while i < t.len() {
        let start = i;
        i += plain_len(&t[i..], word_plain, plain);
        out.extend_from_slice(&t[start..i]);
        if i >= t.len() {
            break;
        }
        let (cp, len) = cp_at(t, i);
        i += len;
        // Latin-1 as the byte itself (an overlong ASCII form too, unless it is escaped).
        if (cp < 0x80 && plain(cp as u8)) || (0x80..0x100).contains(&cp) {
            out.push(cp as u8);
        } else {
            push_u_escape(out, cp);
        }
    }
}
