//! Hazard kinds: one per kind of finding, with its stable code, slug and one-line title. A check
//! that sees a hazard returns it as data (a [`Change`](super::change::Change) kind, a
//! [`Failure`](super::Failure) with its step); the code follows from that, never from a sentence.
//! Every code is documented in docs/hazards.md; a code is never reused for another meaning.

use crate::runtime::PyError;
use serde::Serialize;
use std::fmt;

/// How a finding is treated: `deny` fails the run (by default), `warn` is reported and fails only
/// with `--fail-on warn`, `allow` is counted but not listed as a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Level {
    Allow,
    Warn,
    Deny,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "allow" => Some(Level::Allow),
            "warn" => Some(Level::Warn),
            "deny" => Some(Level::Deny),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Allow => "allow",
            Level::Warn => "warn",
            Level::Deny => "deny",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A kind of finding. The discriminant order is the report's sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[non_exhaustive]
pub enum Hazard {
    /// Loading the value calls or references a known-dangerous global (code execution,
    /// processes, files, network, nested deserialisers, introspection gadgets): security.
    CodeOnLoad,
    /// Loading the value calls a global the tool does not know: security.
    UnknownGlobal,
    /// A py2 `str` holding non-ASCII bytes, loaded by py3 with the default encoding='ASCII'.
    Py2StrNotAscii,
    /// A pickle protocol newer than the reader knows.
    ProtocolTooNew,
    /// Another text codec error (encoding=utf-8 on latin-1 bytes, an unknown codec, ...).
    DecodeError,
    /// A module the pickle imports does not exist in the reader.
    MissingModule,
    /// A class or function the pickle names does not exist (or is not what the pickle expects).
    MissingAttribute,
    /// Truncated or malformed pickle data: every runtime that reads it raises.
    MalformedPickle,
    /// The runtime loads the value but its cache layer cannot write it back.
    WriteBackFails,
    /// A resource limit of the reader (memory, int digits, float range).
    ResourceLimit,
    /// Any other exception a runtime raises.
    OtherError,
    /// Loads, but a py2 UTF-8 `str` becomes mojibake text (encoding='latin1').
    Mojibake,
    /// Loads, but a py2 `str` becomes `bytes` (encoding='bytes').
    StrBecameBytes,
    /// Loads on py2, but py3 text becomes a py2 `str` (bytes).
    TextBecamePy2Str,
    /// Loads, but a py2 `str` becomes (non-mojibake) text, or text becomes py2 `unicode`.
    StrBecameText,
    /// Loads, but into another type or other contents.
    ValueChanged,
    /// A `!` layer (werkzeug, cachelib, Flask-Caching) catches the `UnpicklingError` and returns
    /// None: a silent cache miss.
    PickleErrorMiss,
    /// The models cannot say (a budget ran out, a feature not modelled).
    NotModelled,
}

impl Hazard {
    pub const ALL: [Hazard; 18] = [
        Hazard::CodeOnLoad,
        Hazard::UnknownGlobal,
        Hazard::Py2StrNotAscii,
        Hazard::ProtocolTooNew,
        Hazard::DecodeError,
        Hazard::MissingModule,
        Hazard::MissingAttribute,
        Hazard::MalformedPickle,
        Hazard::WriteBackFails,
        Hazard::ResourceLimit,
        Hazard::OtherError,
        Hazard::Mojibake,
        Hazard::StrBecameBytes,
        Hazard::TextBecamePy2Str,
        Hazard::StrBecameText,
        Hazard::ValueChanged,
        Hazard::PickleErrorMiss,
        Hazard::NotModelled,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Hazard::Py2StrNotAscii => "CC001",
            Hazard::ProtocolTooNew => "CC002",
            Hazard::DecodeError => "CC003",
            Hazard::MissingModule => "CC004",
            Hazard::MissingAttribute => "CC005",
            Hazard::MalformedPickle => "CC006",
            Hazard::WriteBackFails => "CC007",
            Hazard::ResourceLimit => "CC008",
            Hazard::OtherError => "CC009",
            Hazard::Mojibake => "CC010",
            Hazard::StrBecameBytes => "CC011",
            Hazard::TextBecamePy2Str => "CC012",
            Hazard::StrBecameText => "CC013",
            Hazard::ValueChanged => "CC014",
            Hazard::PickleErrorMiss => "CC015",
            Hazard::NotModelled => "CC090",
            Hazard::CodeOnLoad => "CC020",
            Hazard::UnknownGlobal => "CC021",
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            Hazard::Py2StrNotAscii => "py2-str-not-ascii",
            Hazard::ProtocolTooNew => "protocol-too-new",
            Hazard::DecodeError => "decode-error",
            Hazard::MissingModule => "missing-module",
            Hazard::MissingAttribute => "missing-attribute",
            Hazard::MalformedPickle => "malformed-pickle",
            Hazard::WriteBackFails => "write-back-fails",
            Hazard::ResourceLimit => "resource-limit",
            Hazard::OtherError => "other-error",
            Hazard::Mojibake => "mojibake",
            Hazard::StrBecameBytes => "str-became-bytes",
            Hazard::TextBecamePy2Str => "text-became-py2-str",
            Hazard::StrBecameText => "str-became-text",
            Hazard::ValueChanged => "value-changed",
            Hazard::PickleErrorMiss => "pickle-error-miss",
            Hazard::NotModelled => "not-modelled",
            Hazard::CodeOnLoad => "code-on-load",
            Hazard::UnknownGlobal => "unknown-global",
        }
    }

    /// Look a code up by `CC001` or by its slug.
    pub fn parse(s: &str) -> Option<Hazard> {
        Hazard::ALL
            .into_iter()
            .find(|h| h.code().eq_ignore_ascii_case(s) || h.slug() == s)
    }

    /// The level a code has unless the config says otherwise (docs/hazards.md).
    pub fn default_level(self) -> Level {
        match self {
            // Equal text on py2 (str and unicode compare equal when ASCII-only is the common case),
            // and the models cannot tell whether the app cares: reported, not failing.
            // A miss is recomputed, not raised: it costs a cold key, not an error page.
            Hazard::StrBecameText
            | Hazard::NotModelled
            | Hazard::PickleErrorMiss
            | Hazard::UnknownGlobal => Level::Warn,
            _ => Level::Deny,
        }
    }

    /// One line: what goes wrong.
    pub fn title(self) -> &'static str {
        match self {
            Hazard::Py2StrNotAscii => {
                "a py2 str holding non-ASCII bytes cannot be loaded by Python 3 (default encoding='ASCII')"
            }
            Hazard::ProtocolTooNew => "the pickle protocol is newer than the reading runtime knows",
            Hazard::DecodeError => "a text codec error while loading (encoding/errors options)",
            Hazard::MissingModule => {
                "the pickle imports a module the reading runtime does not have"
            }
            Hazard::MissingAttribute => {
                "the pickle names a class or function the reading runtime does not have"
            }
            Hazard::MalformedPickle => "truncated or malformed pickle data",
            Hazard::WriteBackFails => "the value loads but the cache layer cannot write it back",
            Hazard::ResourceLimit => {
                "a resource limit of the reading runtime (memory, digits, range)"
            }
            Hazard::OtherError => "the reading runtime raises",
            Hazard::Mojibake => "loads, but py2 UTF-8 text turns into mojibake",
            Hazard::StrBecameBytes => "loads, but py2 str values become bytes",
            Hazard::TextBecamePy2Str => "loads on Python 2, but text becomes a py2 str (bytes)",
            Hazard::StrBecameText => {
                "loads, but a py2 str becomes text (or text becomes py2 unicode)"
            }
            Hazard::ValueChanged => "loads, but into another type or other contents",
            Hazard::PickleErrorMiss => {
                "the cache layer catches a pickle.PickleError and returns None: a silent cache miss"
            }
            Hazard::NotModelled => {
                "cannot be predicted (a budget ran out or a feature is not modelled)"
            }
            Hazard::CodeOnLoad => {
                "loading this value runs code: it calls or imports a global that executes code, starts processes, touches files or the network, unpickles nested bytes or reaches any attribute (nothing was executed)"
            }
            Hazard::UnknownGlobal => {
                "loading this value calls a global the tool does not know (neither an allowed data type nor an application class)"
            }
        }
    }

    /// Whether the code is a security finding (reported first, apart from the checks).
    pub fn is_security(self) -> bool {
        matches!(self, Hazard::CodeOnLoad | Hazard::UnknownGlobal)
    }
}

/// The hazard of an exception a runtime raised while reading, by its type (and, where Python
/// uses one type for several causes, its message: the exception as that Python prints it).
pub fn of_error(e: &PyError) -> Hazard {
    let (ty, msg) = (e.ty.as_str(), e.msg.as_str());
    match ty {
        "UnicodeDecodeError" if msg.starts_with("'ascii' codec") => Hazard::Py2StrNotAscii,
        "UnicodeDecodeError" | "UnicodeEncodeError" | "LookupError" => Hazard::DecodeError,
        "ValueError" if msg.starts_with("unsupported pickle protocol") => Hazard::ProtocolTooNew,
        "ImportError" | "ModuleNotFoundError" => Hazard::MissingModule,
        "AttributeError"
            if msg.starts_with("Can't get attribute")
                || msg.contains("'module' object has no attribute") =>
        {
            Hazard::MissingAttribute
        }
        "EOFError"
        | "cPickle.BadPickleGet"
        | "_pickle.UnpicklingError"
        | "pickle.UnpicklingError"
        | "cPickle.UnpicklingError"
        | "UnpicklingError"
        | "KeyError"
        | "IndexError" => Hazard::MalformedPickle,
        "ValueError"
            if msg.contains("could not find MARK")
                || msg.contains("unexpected MARK")
                || msg.contains("insecure string pickle")
                || msg.contains("truncated")
                || msg.contains("negative PUT")
                || msg.contains("must be quoted") =>
        {
            Hazard::MalformedPickle
        }
        "MemoryError" | "OverflowError" => Hazard::ResourceLimit,
        "ValueError" if msg.contains("Exceeds the limit") || msg.contains("too large") => {
            Hazard::ResourceLimit
        }
        _ => Hazard::OtherError,
    }
}
