//! A `changes` finding as data: where in the value (the path), what each runtime has there (in
//! its own repr), and the kind of change, from which both the hazard code and the sentence follow.

use super::hazard::Hazard;
use crate::runtime::{PyError, Runtime};
use std::fmt;

/// Where the changed object sits in its container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    Value,
    Key,
    Member,
}

impl Role {
    fn noun(self, what: &str) -> String {
        match self {
            Role::Value => what.to_string(),
            Role::Key => format!("dict key {what}"),
            Role::Member => format!("set member {what}"),
        }
    }
}

/// How the value changed. Reprs are each runtime's own (`a`: the side the value came from,
/// `b`: the side that got it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A py2 UTF-8 `str` decoded as latin-1.
    Mojibake { a_repr: String, b_repr: String },
    /// A non-ASCII py2 `str` decoded with the load's encoding (not latin-1 mojibake).
    Py2StrDecoded { a_repr: String, b_repr: String },
    /// A py2 `str` loaded as py3 `bytes`. `text_repr`: the str spelling py3 code uses for it.
    StrBecameBytes {
        a_repr: String,
        b_repr: String,
        text_repr: String,
        encoding_bytes: bool,
    },
    /// py3 text that a py2 reader gets as a byte string.
    TextBecamePy2Str { a_repr: String, b_repr: String },
    /// A py2 `str` that comes back as `unicode` after a py3 runtime wrote it.
    StrBecameUnicode { a_repr: String, b_repr: String },
    /// py3 `bytes` that a py2 reader gets as a `str`.
    BytesBecamePy2Str { a_repr: String, b_repr: String },
    /// A py3 int that a py2 reader gets as `long`; `writer`: who pickled it as LONG.
    IntBecameLong { n: String, writer: Option<Runtime> },
    /// Another type.
    TypeChange {
        a_type: String,
        b_type: String,
        hint: &'static str,
    },
    /// A container with another number of items.
    Length {
        a_type: String,
        a_len: usize,
        b_len: usize,
    },
    /// The same items in another order, where order is part of the value.
    Ordering { a_type: String },
    /// Other contents of the same type.
    Differs { a_repr: String, b_repr: String },
    /// One object reachable from two places on one side is two objects on the other (or the
    /// reverse): a change made through one reference no longer shows through the other.
    Sharing { a_type: String },
    /// A `!` layer's `pickle.PickleError`: the layer returns None (a cache miss).
    CacheMiss { error: PyError },
}

/// One change in a value, found by [`super::compare`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Python subscripts from the top of the value (`['data'][254]['attrs']`); empty at the top.
    pub path: String,
    pub role: Role,
    pub kind: Kind,
    /// The runtime the value came from and the one that got it.
    pub a: Runtime,
    pub b: Runtime,
    /// For a round trip `a -> via -> a`: the runtime in the middle.
    pub via: Option<Runtime>,
}

impl Change {
    pub fn hazard(&self) -> Hazard {
        match self.kind {
            Kind::Mojibake { .. } => Hazard::Mojibake,
            Kind::Py2StrDecoded { .. } | Kind::StrBecameUnicode { .. } => Hazard::StrBecameText,
            Kind::StrBecameBytes { .. } => Hazard::StrBecameBytes,
            Kind::TextBecamePy2Str { .. } => Hazard::TextBecamePy2Str,
            Kind::CacheMiss { .. } => Hazard::PickleErrorMiss,
            Kind::BytesBecamePy2Str { .. }
            | Kind::IntBecameLong { .. }
            | Kind::TypeChange { .. }
            | Kind::Length { .. }
            | Kind::Ordering { .. }
            | Kind::Differs { .. }
            | Kind::Sharing { .. } => Hazard::ValueChanged,
        }
    }

    /// A cache layer's miss (not a change inside the value).
    pub fn cache_miss(error: PyError, rt: Runtime) -> Change {
        Change {
            path: String::new(),
            role: Role::Value,
            kind: Kind::CacheMiss { error },
            a: rt,
            b: rt,
            via: None,
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b) = (self.a, self.b);
        if let Some(via) = self.via {
            write!(f, "after {a} -> {via} -> {a}: ")?;
        }
        let at = if self.path.is_empty() {
            String::new()
        } else {
            format!(" at {}", self.path)
        };
        let noun = |w: &str| self.role.noun(w);
        match &self.kind {
            Kind::Mojibake { a_repr, b_repr } => write!(
                f,
                "mojibake{at}: the py2 {} (UTF-8 bytes) became {b_repr} on {b}: its bytes were decoded as latin-1 (repair with .encode('latin-1').decode('utf-8'))",
                noun(&format!("str {a_repr}"))
            ),
            Kind::Py2StrDecoded { a_repr, b_repr } => write!(
                f,
                "str -> text{at}: the py2 {} became the text {b_repr} on {b} (decoded with the load's encoding)",
                noun(&format!("str {a_repr}"))
            ),
            Kind::StrBecameBytes {
                a_repr,
                b_repr,
                text_repr,
                encoding_bytes,
            } => {
                let consequence = match self.role {
                    Role::Key => format!(": d[{text_repr}] raises KeyError, the key is {b_repr}"),
                    Role::Member => {
                        format!(": {text_repr} in s is False, the member is {b_repr}")
                    }
                    Role::Value => format!(
                        " ({b_repr}): text operations and comparisons with str no longer match"
                    ),
                };
                let why = if *encoding_bytes {
                    " (encoding='bytes')"
                } else {
                    ""
                };
                write!(
                    f,
                    "str -> bytes{at}: the py2 {} is bytes on {b}{why}{consequence}",
                    noun(&format!("str {a_repr}"))
                )
            }
            Kind::TextBecamePy2Str { a_repr, b_repr } => write!(
                f,
                "str -> py2 str{at}: the {} is the byte string {b_repr} on {b}",
                noun(&format!("text {a_repr}"))
            ),
            Kind::StrBecameUnicode { a_repr, b_repr } => write!(
                f,
                "str -> unicode{at}: the py2 {} is now {b_repr} on {b}: a py3 runtime loaded it as text and wrote it back as unicode (type(x) is str is False; mixing it with non-ASCII str raises UnicodeDecodeError)",
                noun(&format!("str {a_repr}"))
            ),
            Kind::BytesBecamePy2Str { a_repr, b_repr } => write!(
                f,
                "bytes -> py2 str{at}: the {} is the py2 str {b_repr} on {b}, which py2 code treats as text (and a py3 runtime reads back as str)",
                noun(&format!("bytes {a_repr}"))
            ),
            Kind::IntBecameLong { n, writer } => {
                let who = match writer {
                    Some(w) => w.to_string(),
                    None => "a py3 runtime".to_string(),
                };
                write!(
                    f,
                    "int -> long{at}: the int {n} is a long ({n}L) on {b}: {who} pickles ints that need more than 4 bytes as LONG, which py2 loads as long (type(x) is int is False, repr gains an L)"
                )
            }
            Kind::TypeChange {
                a_type,
                b_type,
                hint,
            } => write!(
                f,
                "type change{at}: {} on {a} is {} on {b}{hint}",
                noun(&article(a_type)),
                article(b_type)
            ),
            Kind::Length {
                a_type,
                a_len,
                b_len,
            } => write!(
                f,
                "length{at}: {} with {a_len} items on {a} has {b_len} on {b}",
                article(a_type)
            ),
            Kind::Ordering { a_type } => write!(
                f,
                "ordering{at}: the {a_type} has the same items on {b} in another order (iteration order, and == for OrderedDict, differ)"
            ),
            Kind::Differs { a_repr, b_repr } => write!(
                f,
                "other contents{at}: the {} on {a} is {b_repr} on {b}",
                noun(a_repr)
            ),
            Kind::Sharing { a_type } => write!(
                f,
                "shared reference{at}: the objects shared between places in the value differ between {a} and {b} (a {a_type} here): a change made through one reference no longer shows through the other"
            ),
            Kind::CacheMiss { error } => write!(
                f,
                "a cache miss: the layer catches pickle.PickleError ({error}) and returns None, so the app recomputes the value"
            ),
        }
    }
}

/// `a list`, `an OrderedDict`.
fn article(t: &str) -> String {
    let name = t.rsplit('.').next().unwrap_or(t);
    let an = name
        .chars()
        .next()
        .is_some_and(|c| "aeiouAEIOU".contains(c));
    format!("{} {t}", if an { "an" } else { "a" })
}
