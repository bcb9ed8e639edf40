//! Stable hazard codes: one per kind of finding, derived from a check's outcome and its exact
//! error or explanation in one place ([`classify`]). Every code is documented in docs/hazards.md;
//! a code is never reused for another meaning.

use crate::check::{Check, Side};
use serde::Serialize;
use std::fmt;

/// How a finding is treated: `deny` fails the run (by default), `warn` is reported and fails only
/// with `--fail-on warn`, `allow` is counted but not listed as a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
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

/// The hazard of one check outcome; `None` for `ok` and `skipped`. The one place where outcomes
/// and error texts map to codes.
pub fn classify(check: &Check) -> Option<Hazard> {
    match check {
        Check::Ok | Check::Skipped => None,
        Check::Unknown { .. } => Some(Hazard::NotModelled),
        Check::Changes { explanation } => Some(classify_change(explanation)),
        Check::Fails { error } => Some(classify_error(error)),
    }
}

fn classify_change(e: &str) -> Hazard {
    if e.starts_with("a cache miss: the layer catches pickle.PickleError") {
        Hazard::PickleErrorMiss
    } else if e.contains("mojibake") {
        Hazard::Mojibake
    } else if e.contains("(encoding='bytes')") {
        Hazard::StrBecameBytes
    } else if e.contains("(str became bytes)") {
        Hazard::TextBecamePy2Str
    } else if (e.contains("the py2 str") && e.contains("became the"))
        || e.contains("became the unicode text")
    {
        Hazard::StrBecameText
    } else {
        Hazard::ValueChanged
    }
}

fn classify_error(e: &str) -> Hazard {
    // check.rs marks errors raised while writing back.
    if e.contains(" wrote it back at protocol ") && !e.starts_with("ValueError: unsupported pickle")
    {
        return Hazard::WriteBackFails;
    }
    let (ty, msg) = e.split_once(": ").unwrap_or((e, ""));
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

/// The fix, with its side effects, for `n` values of one pattern that have hazard `h` in `check`
/// for the migration `old` -> `new`.
pub fn advice(h: Hazard, check: &str, n: u64, old: &Side, new: &Side) -> String {
    let (values, are, stops, loads) = if n == 1 {
        ("this value".to_string(), "is", "stops", "loads")
    } else {
        (format!("these {n} values"), "are", "stop", "load")
    };
    let flush = format!(
        "flush or version this key pattern before the deploy (e.g. a key prefix per runtime); side effect: {values} {are} recomputed on a cold cache"
    );
    match h {
        Hazard::Py2StrNotAscii => format!(
            "{flush}; or load on {} with encoding='latin1': {values} {stops} failing but {loads} as mojibake unless the app re-decodes the text with .encode('latin1').decode('utf-8'); or encoding='bytes': the py2 str values load as bytes and str keys and text operations no longer match",
            new.runtime
        ),
        Hazard::ProtocolTooNew => {
            // Who wrote a protocol the other cannot read: by the check, or (round_trip) by the
            // protocols the two writers use.
            let new_too_new = new.writer.protocol_on(new.runtime) > old.runtime.facts().highest_protocol;
            let (writer, reader) = match check {
                "old_reads" | "old_reads_new_write" => (new, old),
                "new_reads" | "new_reads_old_write" => (old, new),
                _ if new_too_new => (new, old),
                _ => (old, new),
            };
            let max = reader.runtime.facts().highest_protocol;
            format!(
                "pin the {} writer ({}) to protocol {max} (the highest {} reads){}; side effect: protocol {max} is larger and slower for big values, and values already written at a higher protocol stay unreadable to {} until they expire or are flushed",
                writer.runtime,
                writer.writer.name,
                reader.runtime,
                protocol_option(&writer.writer.name, max),
                reader.runtime
            )
        }
        Hazard::DecodeError => format!(
            "check the encoding/errors load options of both sides; {flush}"
        ),
        Hazard::MissingModule | Hazard::MissingAttribute => format!(
            "make the module or class importable under the same name on both runtimes (a compatibility alias, or a custom Unpickler.find_class mapping); or {flush}"
        ),
        Hazard::MalformedPickle => format!(
            "the stored bytes are damaged or not what the writer profile expects: {flush}; check the --writer profile"
        ),
        Hazard::WriteBackFails => format!(
            "the value cannot be re-pickled by the writing side: store a plain type instead, or {flush}"
        ),
        Hazard::ResourceLimit => format!(
            "the reader refuses the value's size: raise the limit in the app (e.g. sys.set_int_max_str_digits) or {flush}"
        ),
        Hazard::OtherError => flush,
        Hazard::Mojibake => format!(
            "{values} {} wrong text: re-decode with .encode('latin1').decode('utf-8') in the app, or {flush}",
            if n == 1 { "loads as" } else { "load as" }
        ),
        Hazard::StrBecameBytes => format!(
            "{values} {}: decode them in the app (and compare keys as bytes), or {flush}",
            if n == 1 { "loads as bytes" } else { "load as bytes" }
        ),
        Hazard::TextBecamePy2Str => format!(
            "Python 2 reads text written by {} as str (UTF-8 bytes): code that expects unicode breaks on non-ASCII; {flush}",
            new.runtime
        ),
        Hazard::StrBecameText => {
            "usually harmless (ASCII str and unicode compare equal on Python 2); check code that tests isinstance(x, str) or concatenates with non-ASCII bytes".to_string()
        }
        Hazard::ValueChanged => format!(
            "the value differs after the migration: check the app's use of it, or {flush}"
        ),
        Hazard::PickleErrorMiss => format!(
            "nothing breaks, but {values} {} on every read by this runtime (the layer logs nothing, or a warning): {flush}",
            if n == 1 { "misses" } else { "miss" }
        ),
        Hazard::NotModelled => {
            "the tool cannot predict this value: test a sample of these keys with both real runtimes, or raise the budgets in the config".to_string()
        }
        Hazard::CodeOnLoad => format!(
            "do not load {values}: every process that reads {} runs what it names. Delete the keys, find what wrote them (an attacker, or a bug that pickles callables), restrict who can write to this Redis (ACL, network), and sign values (an HMAC checked before pickle.loads) or move them to JSON; side effect: {values} {are} recomputed on a cold cache",
            if n == 1 { "it" } else { "them" }
        ),
        Hazard::UnknownGlobal => format!(
            "check what the global named in the finding is: if it is the application's own class, name its module with --app-class (or app_classes in the config); otherwise treat {values} as CC020 (code on load)"
        ),
    }
}

/// The library's own option for the protocol, where writer-profiles.md names one.
fn protocol_option(writer: &str, p: u8) -> String {
    let name = writer.split('@').next().unwrap_or(writer);
    match name {
        "django-redis" => format!(" via OPTIONS={{'PICKLE_VERSION': {p}}}"),
        "django" => format!(
            " via OPTIONS={{'serializer': ...}} naming a serializer subclass with protocol = {p}"
        ),
        "cachelib" | "flask-caching" => format!(
            " via a RedisSerializer subclass whose dumps uses protocol={p}, set as RedisCache.serializer"
        ),
        "werkzeug" => format!(
            " (werkzeug.contrib.cache has no option: subclass RedisCache and override dump_object to call pickle.dumps(value, {p}))"
        ),
        _ => format!(" (pickle.dumps(value, {p}))"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(e: &str) -> Option<Hazard> {
        classify(&Check::Fails { error: e.into() })
    }

    #[test]
    fn errors_map_to_codes() {
        assert_eq!(
            fails(
                "UnicodeDecodeError: 'ascii' codec can't decode byte 0xe2 in position 842: ordinal not in range(128)"
            ),
            Some(Hazard::Py2StrNotAscii)
        );
        assert_eq!(
            fails("ValueError: unsupported pickle protocol: 4"),
            Some(Hazard::ProtocolTooNew)
        );
        assert_eq!(
            fails("ModuleNotFoundError: No module named 'app'"),
            Some(Hazard::MissingModule)
        );
        assert_eq!(
            fails("EOFError: Ran out of input"),
            Some(Hazard::MalformedPickle)
        );
        assert_eq!(
            classify(&Check::Unknown { reason: "x".into() }),
            Some(Hazard::NotModelled)
        );
        assert_eq!(classify(&Check::Ok), None);
    }

    #[test]
    fn codes_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for h in Hazard::ALL {
            assert!(seen.insert(h.code()));
            assert_eq!(Hazard::parse(h.code()), Some(h));
            assert_eq!(Hazard::parse(h.slug()), Some(h));
        }
    }
}
