//! The 68 opcodes of pickle protocols 0-5, spelled as CPython's `pickletools` spells them.
//!
//! The table mirrors `pickletools.opcodes` (checked against 3.13's: same names, bytes, argument
//! kinds and introducing protocol).

/// How an opcode's argument is laid out in the stream (pickletools' `ArgumentDescriptor`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArgKind {
    /// No argument bytes.
    None,
    /// A 1-byte unsigned int (`uint1`).
    U1,
    /// A 2-byte little-endian unsigned int (`uint2`).
    U2,
    /// A 4-byte little-endian signed int (`int4`).
    I4,
    /// A 4-byte little-endian unsigned int (`uint4`).
    U4,
    /// An 8-byte little-endian unsigned int (`uint8`).
    U8,
    /// A newline-terminated line (decimal, float, quoted string, raw-unicode-escape text, memo index).
    Line,
    /// Two newline-terminated lines (`module\nname\n`).
    Line2,
    /// A 1-byte length, then that many bytes.
    Counted1,
    /// A 4-byte signed length (BINSTRING) or unsigned (others), then that many bytes.
    Counted4,
    /// An 8-byte unsigned length, then that many bytes.
    Counted8,
    /// Eight bytes (a big-endian double).
    Float8,
}

/// Opcode bytes, as CPython names them.
pub mod code {
    pub const MARK: u8 = b'(';
    pub const STOP: u8 = b'.';
    pub const POP: u8 = b'0';
    pub const POP_MARK: u8 = b'1';
    pub const DUP: u8 = b'2';
    pub const FLOAT: u8 = b'F';
    pub const INT: u8 = b'I';
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const LONG: u8 = b'L';
    pub const BININT2: u8 = b'M';
    pub const NONE: u8 = b'N';
    pub const PERSID: u8 = b'P';
    pub const BINPERSID: u8 = b'Q';
    pub const REDUCE: u8 = b'R';
    pub const STRING: u8 = b'S';
    pub const BINSTRING: u8 = b'T';
    pub const SHORT_BINSTRING: u8 = b'U';
    pub const UNICODE: u8 = b'V';
    pub const BINUNICODE: u8 = b'X';
    pub const APPEND: u8 = b'a';
    pub const BUILD: u8 = b'b';
    pub const GLOBAL: u8 = b'c';
    pub const DICT: u8 = b'd';
    pub const EMPTY_DICT: u8 = b'}';
    pub const APPENDS: u8 = b'e';
    pub const GET: u8 = b'g';
    pub const BINGET: u8 = b'h';
    pub const INST: u8 = b'i';
    pub const LONG_BINGET: u8 = b'j';
    pub const LIST: u8 = b'l';
    pub const EMPTY_LIST: u8 = b']';
    pub const OBJ: u8 = b'o';
    pub const PUT: u8 = b'p';
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
    pub const SETITEM: u8 = b's';
    pub const TUPLE: u8 = b't';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const SETITEMS: u8 = b'u';
    pub const BINFLOAT: u8 = b'G';
    pub const PROTO: u8 = 0x80;
    pub const NEWOBJ: u8 = 0x81;
    pub const EXT1: u8 = 0x82;
    pub const EXT2: u8 = 0x83;
    pub const EXT4: u8 = 0x84;
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE2: u8 = 0x86;
    pub const TUPLE3: u8 = 0x87;
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const LONG1: u8 = 0x8a;
    pub const LONG4: u8 = 0x8b;
    pub const BINBYTES: u8 = b'B';
    pub const SHORT_BINBYTES: u8 = b'C';
    pub const SHORT_BINUNICODE: u8 = 0x8c;
    pub const BINUNICODE8: u8 = 0x8d;
    pub const BINBYTES8: u8 = 0x8e;
    pub const EMPTY_SET: u8 = 0x8f;
    pub const ADDITEMS: u8 = 0x90;
    pub const FROZENSET: u8 = 0x91;
    pub const NEWOBJ_EX: u8 = 0x92;
    pub const STACK_GLOBAL: u8 = 0x93;
    pub const MEMOIZE: u8 = 0x94;
    pub const FRAME: u8 = 0x95;
    pub const BYTEARRAY8: u8 = 0x96;
    pub const NEXT_BUFFER: u8 = 0x97;
    pub const READONLY_BUFFER: u8 = 0x98;
}

/// One row of the opcode table.
#[derive(Debug, Clone, Copy)]
pub struct OpInfo {
    pub code: u8,
    pub name: &'static str,
    pub arg: ArgKind,
    /// The protocol that introduced the opcode (`pickletools.opcodes[i].proto`).
    pub proto: u8,
}

macro_rules! ops {
    ($(($name:ident, $arg:ident, $proto:expr)),* $(,)?) => {
        /// Every opcode, in pickletools' order.
        pub const OPCODES: &[OpInfo] = &[
            $(OpInfo { code: code::$name, name: stringify!($name), arg: ArgKind::$arg, proto: $proto }),*
        ];
    };
}

ops![
    (INT, Line, 0),
    (BININT, I4, 1),
    (BININT1, U1, 1),
    (BININT2, U2, 1),
    (LONG, Line, 0),
    (LONG1, Counted1, 2),
    (LONG4, Counted4, 2),
    (STRING, Line, 0),
    (BINSTRING, Counted4, 1),
    (SHORT_BINSTRING, Counted1, 1),
    (BINBYTES, Counted4, 3),
    (SHORT_BINBYTES, Counted1, 3),
    (BINBYTES8, Counted8, 4),
    (BYTEARRAY8, Counted8, 5),
    (NEXT_BUFFER, None, 5),
    (READONLY_BUFFER, None, 5),
    (NONE, None, 0),
    (NEWTRUE, None, 2),
    (NEWFALSE, None, 2),
    (UNICODE, Line, 0),
    (SHORT_BINUNICODE, Counted1, 4),
    (BINUNICODE, Counted4, 1),
    (BINUNICODE8, Counted8, 4),
    (FLOAT, Line, 0),
    (BINFLOAT, Float8, 1),
    (EMPTY_LIST, None, 1),
    (APPEND, None, 0),
    (APPENDS, None, 1),
    (LIST, None, 0),
    (EMPTY_TUPLE, None, 1),
    (TUPLE, None, 0),
    (TUPLE1, None, 2),
    (TUPLE2, None, 2),
    (TUPLE3, None, 2),
    (EMPTY_DICT, None, 1),
    (DICT, None, 0),
    (SETITEM, None, 0),
    (SETITEMS, None, 1),
    (EMPTY_SET, None, 4),
    (ADDITEMS, None, 4),
    (FROZENSET, None, 4),
    (POP, None, 0),
    (DUP, None, 0),
    (MARK, None, 0),
    (POP_MARK, None, 1),
    (GET, Line, 0),
    (BINGET, U1, 1),
    (LONG_BINGET, U4, 1),
    (PUT, Line, 0),
    (BINPUT, U1, 1),
    (LONG_BINPUT, U4, 1),
    (MEMOIZE, None, 4),
    (EXT1, U1, 2),
    (EXT2, U2, 2),
    (EXT4, I4, 2),
    (GLOBAL, Line2, 0),
    (STACK_GLOBAL, None, 4),
    (REDUCE, None, 0),
    (BUILD, None, 0),
    (INST, Line2, 0),
    (OBJ, None, 1),
    (NEWOBJ, None, 2),
    (NEWOBJ_EX, None, 4),
    (PROTO, U1, 2),
    (STOP, None, 0),
    (FRAME, U8, 4),
    (PERSID, Line, 0),
    (BINPERSID, None, 1),
];

const fn build_index() -> [u8; 256] {
    let mut idx = [u8::MAX; 256];
    let mut i = 0;
    while i < OPCODES.len() {
        idx[OPCODES[i].code as usize] = i as u8;
        i += 1;
    }
    idx
}

static INDEX: [u8; 256] = build_index();

/// The table row of an opcode byte, or `None` for a byte no protocol defines.
pub fn info(byte: u8) -> Option<&'static OpInfo> {
    match INDEX[byte as usize] {
        u8::MAX => None,
        i => OPCODES.get(i as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_68_distinct_opcodes_by_protocol() {
        assert_eq!(OPCODES.len(), 68);
        let mut seen = std::collections::HashSet::new();
        for op in OPCODES {
            assert!(seen.insert(op.code), "duplicate {}", op.name);
            assert_eq!(info(op.code).map(|o| o.name), Some(op.name));
        }
        let per_proto: Vec<usize> = (0..=5)
            .map(|p| OPCODES.iter().filter(|o| o.proto == p).count())
            .collect();
        // pickle-semantics.md §1.2: 22, 19, 12, 2, 10, 3.
        assert_eq!(per_proto, vec![22, 19, 12, 2, 10, 3]);
    }
}
