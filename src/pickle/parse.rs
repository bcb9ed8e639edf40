//! One pass over the opcodes of a pickle, with pickletools' fidelity and without executing anything.
//!
//! The parser is the same for every runtime: it splits the stream into opcodes and their raw
//! arguments and stops at the first place where *no* runtime could go on (an unknown byte, a cut-off
//! argument, a length that the remaining bytes cannot hold). What a runtime makes of each opcode,
//! including which opcodes it knows at all, is the runtime model's business (`crate::runtime`).
//! Nothing here allocates from a length prefix: every length is compared with the bytes that remain.

use super::ops::{self, ArgKind, code};
use std::ops::Range;

/// An opcode's argument, as raw as the stream has it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Arg {
    None,
    /// U1, U2, I4, U4 arguments.
    Int(i64),
    /// The U8 argument of FRAME.
    U64(u64),
    /// A line, without its newline.
    Line(Range<usize>),
    /// Two lines (`module`, `name`), without their newlines.
    Line2(Range<usize>, Range<usize>),
    /// A counted payload.
    Bytes(Range<usize>),
    Float(f64),
}

/// One opcode at its offset in the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    pub pos: usize,
    pub code: u8,
    pub arg: Arg,
}

/// Why the parser stopped before a STOP opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The stream ended between opcodes (CPython 3: `EOFError: Ran out of input`).
    Eof,
    /// A byte that no protocol defines.
    UnknownOpcode(u8),
    /// The stream ended inside this opcode's argument (`pickle data was truncated`).
    Truncated,
    /// A signed length prefix below zero (BINSTRING, LONG4).
    NegativeLength(i64),
    /// A length prefix larger than the bytes that remain.
    TooLong(u64),
    /// The operation budget ran out (see `Budget`).
    OpBudget,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// Offset of the opcode byte (of the end of the stream for `Eof`).
    pub pos: usize,
    /// The opcode being read (`None` for `Eof` and unknown opcodes).
    pub code: Option<u8>,
    pub kind: ParseErrorKind,
}

/// The opcodes read, and how the stream ended.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub ops: Vec<Op>,
    /// `Ok(offset just past STOP)` or the first error.
    pub end: Result<usize, ParseError>,
}

impl Parsed {
    /// The highest protocol any opcode in the stream belongs to (pickletools' "highest protocol
    /// among opcodes").
    pub fn highest_opcode_protocol(&self) -> u8 {
        self.ops
            .iter()
            .filter_map(|o| ops::info(o.code))
            .map(|i| i.proto)
            .max()
            .unwrap_or(0)
    }

    /// The argument of the first PROTO opcode, if it opens the stream.
    pub fn proto_header(&self) -> Option<u8> {
        match self.ops.first() {
            Some(Op {
                code: code::PROTO,
                arg: Arg::Int(p),
                ..
            }) => Some(*p as u8),
            _ => None,
        }
    }
}

/// Read opcodes until STOP, an error, or `max_ops` opcodes.
pub fn parse(data: &[u8], max_ops: usize) -> Parsed {
    // Ordinary cache pickles average about five bytes per opcode: reserving a quarter of the
    // length up front saves the reallocations (and copies) of a growing vector. Capped, so that a
    // large value (a few opcodes around a long string) or a hostile length reserves at most
    // `RESERVE_CAP` opcodes; past that the vector grows as usual.
    let mut ops = Vec::with_capacity((data.len() / 4 + 1).min(max_ops).min(RESERVE_CAP));
    let mut pos = 0usize;
    loop {
        if ops.len() >= max_ops {
            return Parsed {
                ops,
                end: Err(ParseError {
                    pos,
                    code: None,
                    kind: ParseErrorKind::OpBudget,
                }),
            };
        }
        let Some(&byte) = data.get(pos) else {
            return Parsed {
                ops,
                end: Err(ParseError {
                    pos,
                    code: None,
                    kind: ParseErrorKind::Eof,
                }),
            };
        };
        let Some(info) = ops::info(byte) else {
            return Parsed {
                ops,
                end: Err(ParseError {
                    pos,
                    code: None,
                    kind: ParseErrorKind::UnknownOpcode(byte),
                }),
            };
        };
        let start = pos;
        match read_arg(data, pos + 1, info.arg, byte) {
            Ok((arg, next)) => {
                ops.push(Op {
                    pos: start,
                    code: byte,
                    arg,
                });
                pos = next;
                if byte == code::STOP {
                    return Parsed { ops, end: Ok(pos) };
                }
            }
            Err(kind) => {
                return Parsed {
                    ops,
                    end: Err(ParseError {
                        pos: start,
                        code: Some(byte),
                        kind,
                    }),
                };
            }
        }
    }
}

fn take(data: &[u8], at: usize, n: usize) -> Result<&[u8], ParseErrorKind> {
    data.get(at..at.checked_add(n).ok_or(ParseErrorKind::Truncated)?)
        .ok_or(ParseErrorKind::Truncated)
}

/// Opcodes reserved at most before parsing (56 bytes each).
const RESERVE_CAP: usize = 1 << 16;

fn line(data: &[u8], at: usize) -> Result<(Range<usize>, usize), ParseErrorKind> {
    let rest = data.get(at..).ok_or(ParseErrorKind::Truncated)?;
    match find_newline(rest) {
        Some(n) => Ok((at..at + n, at + n + 1)),
        None => Err(ParseErrorKind::Truncated),
    }
}

/// The first `\n` in `s`. Most lines are short (memo indices, integers, `module\nname`), so the
/// first bytes are looked at one by one; a long line (a protocol 0 string or unicode value) is
/// then scanned 32 bytes at a time with a branch-free test that the compiler vectorises.
fn find_newline(s: &[u8]) -> Option<usize> {
    const HEAD: usize = 16;
    const CHUNK: usize = 32;
    let head = s.len().min(HEAD);
    if let Some(n) = s[..head].iter().position(|&b| b == b'\n') {
        return Some(n);
    }
    let mut i = head;
    for chunk in s[head..].chunks_exact(CHUNK) {
        if chunk.iter().fold(false, |found, &b| found | (b == b'\n')) {
            break;
        }
        i += CHUNK;
    }
    s[i..].iter().position(|&b| b == b'\n').map(|n| i + n)
}

fn counted(data: &[u8], at: usize, len: u64) -> Result<(Arg, usize), ParseErrorKind> {
    let remaining = data.len().saturating_sub(at) as u64;
    if len > remaining {
        return Err(ParseErrorKind::TooLong(len));
    }
    let end = at + len as usize;
    Ok((Arg::Bytes(at..end), end))
}

fn read_arg(data: &[u8], at: usize, kind: ArgKind, op: u8) -> Result<(Arg, usize), ParseErrorKind> {
    Ok(match kind {
        ArgKind::None => (Arg::None, at),
        ArgKind::U1 => (Arg::Int(take(data, at, 1)?[0] as i64), at + 1),
        ArgKind::U2 => {
            let b = take(data, at, 2)?;
            (Arg::Int(u16::from_le_bytes([b[0], b[1]]) as i64), at + 2)
        }
        ArgKind::I4 => {
            let b = take(data, at, 4)?;
            (
                Arg::Int(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64),
                at + 4,
            )
        }
        ArgKind::U4 => {
            let b = take(data, at, 4)?;
            (
                Arg::Int(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64),
                at + 4,
            )
        }
        ArgKind::U8 => {
            let b = take(data, at, 8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            (Arg::U64(u64::from_le_bytes(a)), at + 8)
        }
        ArgKind::Float8 => {
            let b = take(data, at, 8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            (Arg::Float(f64::from_be_bytes(a)), at + 8)
        }
        ArgKind::Line => {
            let (r, next) = line(data, at)?;
            (Arg::Line(r), next)
        }
        ArgKind::Line2 => {
            let (a, next) = line(data, at)?;
            let (b, next) = line(data, next)?;
            (Arg::Line2(a, b), next)
        }
        ArgKind::Counted1 => {
            let n = take(data, at, 1)?[0] as u64;
            counted(data, at + 1, n)?
        }
        ArgKind::Counted4 => {
            let b = take(data, at, 4)?;
            let raw = [b[0], b[1], b[2], b[3]];
            // BINSTRING and LONG4 lengths are signed; the others unsigned.
            let n = if op == code::BINSTRING || op == code::LONG4 {
                let n = i32::from_le_bytes(raw) as i64;
                if n < 0 {
                    return Err(ParseErrorKind::NegativeLength(n));
                }
                n as u64
            } else {
                u32::from_le_bytes(raw) as u64
            };
            counted(data, at + 4, n)?
        }
        ArgKind::Counted8 => {
            let b = take(data, at, 8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            counted(data, at + 8, u64::from_le_bytes(a))?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_at_stop_and_ignores_trailing_bytes() {
        let p = parse(b"N.garbage", 100);
        assert_eq!(p.end, Ok(2));
        assert_eq!(p.ops.len(), 2);
    }

    #[test]
    fn huge_length_prefix_is_refused_before_allocating() {
        let p = parse(b"\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\x7f", 100);
        assert_eq!(
            p.end.unwrap_err().kind,
            ParseErrorKind::TooLong(0x7fff_ffff_ffff_ffff)
        );
    }

    #[test]
    fn newline_search_agrees_with_a_byte_loop() {
        for len in 0..200 {
            for nl in (0..len).step_by(7).map(Some).chain([None]) {
                let mut v = vec![b'x'; len];
                if let Some(p) = nl {
                    v[p] = b'\n';
                    if p + 40 < len {
                        v[p + 40] = b'\n';
                    }
                }
                assert_eq!(
                    find_newline(&v),
                    v.iter().position(|&b| b == b'\n'),
                    "{len} {nl:?}"
                );
            }
        }
    }

    #[test]
    fn empty_input_is_eof_at_zero() {
        let p = parse(b"", 100);
        assert_eq!(p.end.unwrap_err().kind, ParseErrorKind::Eof);
    }
}
