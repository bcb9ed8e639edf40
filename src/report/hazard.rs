//! What the report says of each hazard: the fix and its side effects. The kinds, codes and levels
//! are the checks' own data (`check::hazard`); a check outcome names its hazard itself
//! ([`Check::hazard`]).

pub use crate::check::hazard::{Hazard, Level};
use crate::check::{Check, Side};

/// The hazard of one check outcome; `None` for `ok` and `skipped`.
pub fn classify(check: &Check) -> Option<Hazard> {
    check.hazard()
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
        let (ty, msg) = e.split_once(": ").unwrap_or((e, ""));
        classify(&Check::Fails(crate::check::Failure::read(
            crate::runtime::PyError::new(ty, msg),
        )))
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
            classify(&Check::Unknown(crate::check::Unknown::Unmodelled(
                "x".into()
            ))),
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
