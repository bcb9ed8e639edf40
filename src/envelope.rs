//! Cache libraries' envelopes around pickles, and what each library writes back
//! (../shared/reference/writer-profiles.md).
//!
//! A writer profile (`--writer`, `--old-writer`, `--new-writer`) is a whole cache layer: how it
//! reads the bytes it finds ([`Reader`]), how it wraps what it writes back ([`Wrap`]), the
//! protocol it pickles at ([`Protocol`]) and how it stores ints ([`Ints`]):
//!
//! | profile | reads | writes back | protocol | ints |
//! |---|---|---|---|---|
//! | `werkzeug` (contrib cache 0.x) | `!`, digits, any envelope | `!` + pickle | default | digits (py2 long too) |
//! | `cachelib@<0.2` / `@0.2-0.4` / `@0.5-0.15.3` / `@0.15.4+` (default) | same | `!` + pickle | default / default / HIGHEST / HIGHEST | digits / pickled / pickled / digits |
//! | `flask-caching@<2` / `@2.0.2-2.3.0` / other 2.x (default) | same | `!` + pickle | default / HIGHEST / HIGHEST | digits / pickled / digits |
//! | `django` (built-in RedisCache) | digits, any envelope | bare pickle | HIGHEST | digits |
//! | `django-redis@<5.1` / `@5.1+` (default) | same (compressors by magic) | bare pickle | HIGHEST / DEFAULT | digits |
//! | `dogpile@<1.1` | `pickle.loads` of a `CachedValue` (payload); `{` and non-CachedValue fail | `CachedValue(payload)` | HIGHEST | pickled |
//! | `dogpile@1.1+` (default) | `json.loads` of the header, then the payload; no header fails | `{"ct":..,"v":2}\|` + pickle | default | pickled |
//! | `rq`, `beaker`, `kombu@V` | `pickle.loads` of the bytes as stored | bare pickle | HIGHEST / default / 2 (<5.1), 4 | pickled |
//! | `celery@V` | as kombu; result keys give `meta['result']` | a fresh meta dict | 2 (<5.1), 4 | pickled |
//! | `pickle`, `pickle:N`, `pickle:highest` | any envelope, no digits | bare pickle | as named | pickled |
//! | `auto` | per value, the profile its envelope and key point to (`Writer::infer`), reported as `writer` in each result | | | |

use crate::runtime::Runtime;
use std::io::Read;

/// How a stored value was wrapped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Envelope {
    /// `!` + pickle: Werkzeug contrib cache, cachelib, Flask-Caching.
    Bang,
    /// A bare pickle (Django, django-redis without a compressor, RQ <= 0.9, plain `pickle.dumps`).
    Plain,
    /// zlib-compressed pickle (django-redis ZlibCompressor, RQ job `data`).
    Zlib,
    /// gzip-compressed pickle (django-redis GzipCompressor).
    Gzip,
    /// xz/lzma-compressed pickle (django-redis LzmaCompressor).
    Lzma,
    /// lz4 frame (django-redis Lz4Compressor).
    Lz4,
    /// zstd frame (django-redis ZStdCompressor).
    Zstd,
    /// dogpile.cache >= 1.1: JSON metadata, `|`, pickle.
    DogpileJson,
    /// dogpile.cache <= 1.0: a bare pickle of `dogpile.cache.api.CachedValue(payload, metadata)`.
    DogpileCachedValue,
    /// A kombu message (Celery's broker, Redis transport): JSON with `body` = base64(pickle) and
    /// content-type `application/x-python-serialize`.
    Kombu,
    /// An integer stored as ASCII digits (Werkzeug, cachelib 0.1 and >= 0.15.4, Django,
    /// django-redis): no pickle involved.
    AsciiInt,
    /// Not a pickle (JSON, text, other formats).
    NotPickle(&'static str),
}

impl Envelope {
    pub fn name(&self) -> &'static str {
        match self {
            Envelope::Bang => "bang",
            Envelope::Plain => "plain",
            Envelope::Zlib => "zlib",
            Envelope::Gzip => "gzip",
            Envelope::Lzma => "lzma",
            Envelope::Lz4 => "lz4",
            Envelope::Zstd => "zstd",
            Envelope::DogpileJson => "dogpile-json",
            Envelope::DogpileCachedValue => "dogpile-cachedvalue",
            Envelope::Kombu => "kombu",
            Envelope::AsciiInt => "ascii-int",
            Envelope::NotPickle(_) => "not-pickle",
        }
    }
}

/// Decompressed values larger than this are not followed (a decompression bomb is a finding).
pub const MAX_DECOMPRESSED: u64 = 256 << 20;

/// A writer that refuses to grow past `MAX_DECOMPRESSED` (decompression bombs).
struct Capped(Vec<u8>);

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() as u64 + buf.len() as u64 > MAX_DECOMPRESSED {
            return Err(std::io::Error::other(
                "decompressed value over the size cap",
            ));
        }
        if !crate::meter::bytes(buf.len() as u64) {
            return Err(std::io::Error::other("over the verdict budget"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The outcome of unwrapping.
#[derive(Debug, Clone)]
pub struct Unwrapped {
    pub envelope: Envelope,
    /// The pickle inside (empty for `AsciiInt` and `NotPickle`).
    pub pickle: Vec<u8>,
    /// Why unwrapping failed (corrupt compressed data, over the size cap).
    pub error: Option<String>,
}

fn looks_like_pickle(b: &[u8]) -> bool {
    match b.first() {
        Some(0x80) => b.get(1).is_some_and(|p| *p <= 5),
        // Protocol 0/1 opening opcodes py2 writers use.
        Some(c) => b"(}]SVILFcNUTXJKMGq)ld".contains(c) && b.last() == Some(&b'.'),
        None => false,
    }
}

fn inflate<R: Read>(r: R) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut limited = r.take(MAX_DECOMPRESSED + 1);
    limited
        .read_to_end(&mut out)
        .map_err(|e| format!("corrupt compressed data: {e}"))?;
    if !crate::meter::bytes(out.len() as u64) {
        return Err("decompresses past the verdict budget (verdict_bytes)".into());
    }
    if out.len() as u64 > MAX_DECOMPRESSED {
        return Err(format!(
            "decompresses to more than {MAX_DECOMPRESSED} bytes"
        ));
    }
    Ok(out)
}

/// Recognise the envelope from the bytes, the way the libraries themselves read them back
/// (digits first, then `!`, then the compressors' magic, then a bare pickle).
pub fn unwrap(value: &[u8]) -> Unwrapped {
    let ok = |envelope, pickle| Unwrapped {
        envelope,
        pickle,
        error: None,
    };
    let digits = value.strip_prefix(b"-").unwrap_or(value);
    if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
        return ok(Envelope::AsciiInt, Vec::new());
    }
    if let Some(rest) = value.strip_prefix(b"!") {
        return ok(Envelope::Bang, rest.to_vec());
    }
    // django-redis tries its configured compressor's decompress and falls back to the raw
    // bytes; its compressors write these magics (writer-profiles.md).
    let zlib = value.len() > 2 && value[0] == 0x78 && matches!(value[1], 0x01 | 0x5e | 0x9c | 0xda);
    let decoded = if zlib {
        Some((
            Envelope::Zlib,
            inflate(flate2::read::ZlibDecoder::new(value)),
        ))
    } else if value.starts_with(&[0x1f, 0x8b]) {
        Some((Envelope::Gzip, inflate(flate2::read::GzDecoder::new(value))))
    } else if value.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        let mut out = Capped(Vec::new());
        let r = lzma_rs::xz_decompress(&mut std::io::BufReader::new(value), &mut out)
            .map(|_| out.0)
            .map_err(|e| format!("corrupt xz data or over the size cap: {e}"));
        Some((Envelope::Lzma, r))
    } else if value.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        Some((
            Envelope::Lz4,
            inflate(lz4_flex::frame::FrameDecoder::new(value)),
        ))
    } else if value.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some((
            Envelope::Zstd,
            ruzstd::decoding::StreamingDecoder::new(value)
                .map_err(|e| format!("corrupt zstd data: {e}"))
                .and_then(inflate),
        ))
    } else {
        None
    };
    if let Some((env, r)) = decoded {
        return match r {
            Ok(p) => ok(env, p),
            Err(e) => Unwrapped {
                envelope: env,
                pickle: Vec::new(),
                error: Some(e),
            },
        };
    }
    if value.starts_with(b"{") {
        if let Some(k) = kombu(value) {
            return k;
        }
        if let Some(bar) = value.iter().position(|&b| b == b'|')
            && serde_json::from_slice::<serde_json::Value>(&value[..bar]).is_ok()
            && looks_like_pickle(&value[bar + 1..])
        {
            return ok(Envelope::DogpileJson, value[bar + 1..].to_vec());
        }
        if serde_json::from_slice::<serde_json::Value>(value).is_ok() {
            return ok(Envelope::NotPickle("JSON"), Vec::new());
        }
    }
    if looks_like_pickle(value) {
        if cachedvalue_as_tuple(value).is_some() {
            return ok(Envelope::DogpileCachedValue, value.to_vec());
        }
        return ok(Envelope::Plain, value.to_vec());
    }
    let what = if std::str::from_utf8(value).is_ok() {
        "text"
    } else {
        "binary data"
    };
    ok(Envelope::NotPickle(what), Vec::new())
}

/// A kombu message as the Redis transport stores it: JSON with `body`, `content-type` and
/// `properties.body_encoding`. Pickled bodies (`application/x-python-serialize`, base64) are
/// unwrapped; other content types (Celery's default `application/json`) are not pickles.
fn kombu(value: &[u8]) -> Option<Unwrapped> {
    let v: serde_json::Value = serde_json::from_slice(value).ok()?;
    let o = v.as_object()?;
    let body = o.get("body")?.as_str()?;
    let ctype = o.get("content-type")?.as_str()?;
    let encoding = o
        .get("properties")
        .and_then(|p| p.get("body_encoding"))
        .and_then(|e| e.as_str());
    if ctype != "application/x-python-serialize" {
        return Some(Unwrapped {
            envelope: Envelope::NotPickle("a kombu message that is not a pickle"),
            pickle: Vec::new(),
            error: None,
        });
    }
    let (pickle, error) = match encoding {
        Some("base64") => match base64_decode(body.as_bytes()) {
            Some(p) => (p, None),
            None => (Vec::new(), Some("kombu body: invalid base64".to_string())),
        },
        // Without a body encoding the pickle is the JSON string's code points as bytes
        // (kombu's bytes_to_str/str_to_bytes round trip through latin-1 on the old transports).
        _ => match body
            .chars()
            .map(|c| u8::try_from(u32::from(c)).ok())
            .collect()
        {
            Some(p) => (p, None),
            None => (
                Vec::new(),
                Some("kombu body: not base64 and not bytes".to_string()),
            ),
        },
    };
    Some(Unwrapped {
        envelope: Envelope::Kombu,
        pickle,
        error,
    })
}

/// Standard base64 (RFC 4648, padding optional, whitespace ignored), as Python's b64decode.
pub fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// A memo store (MEMOIZE, PUT, BINPUT, LONG_BINPUT): it leaves the stack as it is.
fn memo_store(c: u8) -> bool {
    use crate::pickle::ops::code;
    matches!(
        c,
        code::MEMOIZE | code::PUT | code::BINPUT | code::LONG_BINPUT
    )
}

/// Whether `ops` (the first opcodes of `pickle`, or all of them) open with the global
/// `dogpile.cache.api.CachedValue` (GLOBAL, or two strings and STACK_GLOBAL with memo stores
/// between): `Some(answer)`, or `None` where `ops` ends before the answer.
fn cv_head(ops: &[crate::pickle::parse::Op], pickle: &[u8]) -> Option<bool> {
    use crate::pickle::ops::code;
    use crate::pickle::parse::Arg;
    let text = |a: &Arg| match a {
        Arg::Bytes(r) | Arg::Line(r) => pickle.get(r.clone()),
        _ => None,
    };
    let mut i = 0;
    while i < ops.len() && matches!(ops[i].code, code::PROTO | code::FRAME) {
        i += 1;
    }
    let first = ops.get(i)?;
    Some(match &first.arg {
        Arg::Line2(m, n) => {
            pickle.get(m.clone()) == Some(b"dogpile.cache.api".as_slice())
                && pickle.get(n.clone()) == Some(b"CachedValue".as_slice())
        }
        a => {
            if text(a) != Some(b"dogpile.cache.api".as_slice()) {
                return Some(false);
            }
            let mut j = i + 1;
            while ops.get(j).is_some_and(|o| memo_store(o.code)) {
                j += 1;
            }
            let second = ops.get(j)?;
            if text(&second.arg) != Some(b"CachedValue".as_slice()) {
                return Some(false);
            }
            let mut k = j + 1;
            while ops.get(k).is_some_and(|o| memo_store(o.code)) {
                k += 1;
            }
            ops.get(k)?.code == code::STACK_GLOBAL
        }
    })
}

/// dogpile.cache <= 1.0 pickles `CachedValue(payload, metadata)`: the class by reference, the
/// 2-tuple of arguments, REDUCE. The same bytes with that REDUCE turned into TUPLE2 load as
/// `(CachedValue, (payload, metadata))` without calling anything, so the models can follow the
/// payload the way dogpile hands it to the application. `None` if the pickle is not one.
pub fn cachedvalue_as_tuple(pickle: &[u8]) -> Option<Vec<u8>> {
    use crate::pickle::ops::code;
    use crate::pickle::parse;
    // Whether the stream opens with the CachedValue class is decided by its first opcodes: read
    // those alone first (most values are not CachedValues), the whole stream only when they are
    // one, or when the head ran out before the answer (a long run of memo stores).
    const HEAD_OPS: usize = 16;
    let head = parse::parse(pickle, HEAD_OPS);
    if cv_head(&head.ops, pickle) == Some(false) {
        return None;
    }
    let parsed = parse::parse(pickle, 1 << 20);
    parsed.end.as_ref().ok()?;
    let ops = &parsed.ops;
    if cv_head(ops, pickle) != Some(true) {
        return None;
    }
    // The last opcode before STOP that is not a memo store must be the REDUCE.
    let mut r = ops.len().checked_sub(2)?;
    while memo_store(ops[r].code) {
        r = r.checked_sub(1)?;
    }
    if ops[r].code != code::REDUCE || ops.last()?.code != code::STOP {
        return None;
    }
    let mut out = pickle.to_vec();
    out[ops[r].pos] = code::TUPLE2;
    Some(out)
}

/// Which protocol a writer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// `pickle.dumps(v)`: the runtime's default.
    Default,
    /// `pickle.HIGHEST_PROTOCOL` (or -1).
    Highest,
    Fixed(u8),
}

/// How a cache layer stores a pickle it writes (what its reader then expects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Wrap {
    /// The pickle as is (compressors included: they do not change what loads).
    Plain,
    /// `!` + pickle.
    Bang,
    /// dogpile.cache >= 1.1: `{"ct": ..., "v": 2}|` + pickle.
    DogpileJson,
    /// dogpile.cache <= 1.0: the pickle of `CachedValue(payload, metadata)`.
    DogpileCachedValue,
}

/// How a cache layer stores a Python `int`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ints {
    /// As ASCII digits (its reader tries `int(value)` first).
    Ascii,
    /// Pickled like any value.
    Pickled,
}

/// How a cache layer reads the bytes it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reader {
    /// `!`-prefixed pickles, ASCII ints, compressed or bare pickles: whatever the envelope says.
    Any,
    /// `pickle.loads(value)` of the bytes as stored, `!` included (RQ, kombu, Beaker).
    PickleOnly,
    /// dogpile.cache <= 1.0: `pickle.loads(value)` of a `CachedValue`.
    Dogpile10,
    /// dogpile.cache >= 1.1: `json.loads(value.partition(b"|")[0])`, then the payload.
    Dogpile11,
    /// Celery's result backend: `pickle.loads(value)` is the task's meta dict (status, result,
    /// task_id, ...) and the application gets `meta['result']`; broker messages are read whole.
    Celery,
}

/// What a cache library writes back, per writer-profiles.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    pub name: String,
    pub protocol: Protocol,
    pub wrap: Wrap,
    pub ints: Ints,
    pub reader: Reader,
    /// Whether the layer reads ASCII digits as an int (`int(value)` before unpickling).
    pub reads_ascii: bool,
    /// `auto`: the profile is inferred per value from its envelope (`infer`).
    pub auto: bool,
}

/// The profiles `Writer::parse` knows, for messages.
pub const PROFILES: &str = "auto, werkzeug, cachelib[@VERSION], flask-caching[@VERSION], django, django-redis[@VERSION], dogpile[@VERSION], rq, kombu[@VERSION], celery[@VERSION], beaker, pickle, pickle:N, pickle:highest";

fn version(v: Option<&str>) -> Result<Vec<u32>, String> {
    match v {
        None => Ok(vec![u32::MAX]),
        Some(v) => v
            .split('.')
            .map(|x| {
                x.parse().map_err(|_| {
                    format!("bad version {v:?} (expected digits and dots, e.g. 0.15.4)")
                })
            })
            .collect(),
    }
}

impl Writer {
    fn new(name: &str, protocol: Protocol, wrap: Wrap, ints: Ints, reader: Reader) -> Writer {
        Writer {
            name: name.to_string(),
            protocol,
            wrap,
            ints,
            reader,
            reads_ascii: reader == Reader::Any,
            auto: false,
        }
    }

    /// Whether the layer catches `pickle.PickleError` around its `pickle.loads` of a `!` value
    /// and returns None: an `UnpicklingError` is a cache miss, not an exception the app sees.
    /// Every `!` layer does (werkzeug.contrib.cache `RedisCache.load_object`, cachelib
    /// `RedisSerializer.loads`, Flask-Caching 1.x `load_object`); other exceptions propagate.
    pub fn pickle_error_is_miss(&self) -> bool {
        self.wrap == Wrap::Bang
    }

    /// Parse a profile name: `auto`, `werkzeug`, `cachelib`, `cachelib@0.4`, `flask-caching@1.10`,
    /// `django`, `django-redis`, `django-redis@5.0`, `dogpile@1.0`, `rq`, `kombu@5.0`, `celery`,
    /// `beaker`, `pickle`, `pickle:N`, `pickle:highest`. Without `@VERSION` the newest release.
    pub fn parse(s: &str) -> Result<Writer, String> {
        use {Ints::*, Protocol::*, Reader::*, Wrap::*};
        let (name, ver) = match s.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (s, None),
        };
        let v = version(ver)?;
        let at_least = |x: &[u32]| v.as_slice() >= x;
        let w = match name {
            "auto" => Writer {
                auto: true,
                ..Writer::new(s, Default, Plain, Ascii, Any)
            },
            // werkzeug.contrib.cache 0.x: cPickle / pickle default protocol, ints (and py2 longs)
            // as digits.
            "werkzeug" => Writer::new(s, Default, Bang, Ascii, Any),
            // cachelib 0.1: default, ints as digits; 0.2-0.4: default, ints pickled (a dead
            // isinstance check); 0.5-0.15.3: HIGHEST, ints pickled; 0.15.4+: HIGHEST, digits.
            "cachelib" => {
                let p = if at_least(&[0, 5]) { Highest } else { Default };
                let ints = if at_least(&[0, 15, 4]) || !at_least(&[0, 2]) {
                    Ascii
                } else {
                    Pickled
                };
                Writer::new(s, p, Bang, ints, Any)
            }
            // Flask-Caching <= 1.11: its own dump_object (default protocol, digits); 2.0.2-2.3.0
            // pin cachelib < 0.10 (HIGHEST, ints pickled); other 2.x follow the newest cachelib.
            "flask-caching" => {
                if !at_least(&[2]) {
                    Writer::new(s, Default, Bang, Ascii, Any)
                } else if at_least(&[2, 0, 2]) && !at_least(&[2, 3, 1]) {
                    Writer::new(s, Highest, Bang, Pickled, Any)
                } else {
                    Writer::new(s, Highest, Bang, Ascii, Any)
                }
            }
            "django" => Writer::new(s, Highest, Plain, Ascii, Any),
            // django-redis: PICKLE_VERSION -1 (HIGHEST) up to 5.0, DEFAULT_PROTOCOL from 5.1.
            "django-redis" => {
                let p = if at_least(&[5, 1]) { Default } else { Highest };
                Writer::new(s, p, Plain, Ascii, Any)
            }
            // dogpile.cache <= 1.0: pickle.dumps(CachedValue, HIGHEST); >= 1.1: JSON + `|` +
            // pickle.dumps(payload) at the default protocol.
            "dogpile" | "dogpile.cache" => {
                if at_least(&[1, 1]) {
                    Writer::new(s, Default, DogpileJson, Pickled, Dogpile11)
                } else {
                    Writer::new(s, Highest, DogpileCachedValue, Pickled, Dogpile10)
                }
            }
            // RQ >= 0.10: zlib(pickle.dumps(..., HIGHEST)) in the job hash.
            "rq" => Writer::new(s, Highest, Plain, Pickled, PickleOnly),
            // kombu's pickle serializer (Celery's with serializer='pickle'): PICKLE_PROTOCOL,
            // 2 up to kombu 5.0.x (Celery 5.0), 4 from kombu 5.1 (Celery 5.1).
            "kombu" | "celery" => {
                let p = if at_least(&[5, 1]) {
                    Fixed(4)
                } else {
                    Fixed(2)
                };
                let reader = if name == "celery" { Celery } else { PickleOnly };
                Writer::new(s, p, Plain, Pickled, reader)
            }
            // Beaker ext:redis: pickle.dumps((storedtime, expiretime, value)), module default
            // (py2's stdlib pickle: protocol 0).
            "beaker" => Writer::new(s, Default, Plain, Pickled, PickleOnly),
            // A plain `pickle.loads` reader; envelopes are unwrapped as found (the generic profile).
            "pickle" => Writer {
                reads_ascii: false,
                ..Writer::new(s, Default, Plain, Pickled, Any)
            },
            other => {
                let Some(p) = other.strip_prefix("pickle:") else {
                    return Err(format!(
                        "unknown writer profile {other:?} (known: {PROFILES})"
                    ));
                };
                let proto = match p {
                    "highest" | "-1" => Highest,
                    "default" => Default,
                    n => match n.parse::<u8>() {
                        Ok(n) if n <= 5 => Fixed(n),
                        _ => {
                            return Err(format!(
                                "bad protocol in {other:?} (0-5, highest, default)"
                            ));
                        }
                    },
                };
                Writer {
                    reads_ascii: false,
                    ..Writer::new(s, proto, Plain, Pickled, Any)
                }
            }
        };
        if ver.is_some()
            && !matches!(
                name,
                "cachelib"
                    | "flask-caching"
                    | "django-redis"
                    | "dogpile"
                    | "dogpile.cache"
                    | "kombu"
                    | "celery"
            )
        {
            return Err(format!(
                "{name} has no versions that write differently (known: {PROFILES})"
            ));
        }
        Ok(w)
    }

    /// The protocol this writer uses on a runtime.
    pub fn protocol_on(&self, rt: Runtime) -> u8 {
        let f = rt.facts();
        match self.protocol {
            Protocol::Default => f.default_protocol,
            Protocol::Highest => f.highest_protocol,
            Protocol::Fixed(n) => n,
        }
    }

    /// Whether this layer reads ASCII digits as an int (`int(value)` before unpickling).
    pub fn reads_ascii_ints(&self) -> bool {
        self.reads_ascii
    }

    /// For `auto`: the profile the value's envelope points to, with why. `protocol` is the
    /// value's pickle protocol; `runtimes` the two sides (a protocol that is one side's
    /// DEFAULT_PROTOCOL means a default-protocol writer, one side's HIGHEST_PROTOCOL a
    /// HIGHEST writer). Other writers than `auto` are returned as they are.
    pub fn infer(
        &self,
        envelope: &Envelope,
        protocol: Option<u8>,
        key: &[u8],
        field: Option<&[u8]>,
        runtimes: [Runtime; 2],
    ) -> Writer {
        if !self.auto {
            return self.clone();
        }
        let p = protocol.unwrap_or(0);
        let is_default = runtimes.iter().any(|r| r.facts().default_protocol == p);
        let is_highest = runtimes
            .iter()
            .any(|r| r.facts().highest_protocol == p && r.facts().default_protocol != p);
        let pick = |name: &str| -> Writer {
            let mut w = Writer::parse(name).unwrap_or_else(|_| self.clone());
            w.name = format!("auto:{name}");
            w
        };
        let generic = |w: Writer| -> Writer {
            let mut w = w;
            w.protocol = if is_default {
                Protocol::Default
            } else if is_highest {
                Protocol::Highest
            } else {
                Protocol::Fixed(p)
            };
            let how = match w.protocol {
                Protocol::Default => "default".to_string(),
                Protocol::Highest => "highest".to_string(),
                Protocol::Fixed(n) => n.to_string(),
            };
            w.name = format!("{}(protocol {how})", w.name);
            w
        };
        match envelope {
            Envelope::Bang => {
                // `!` + protocol: werkzeug/cachelib < 0.5 (default) or cachelib >= 0.5 (HIGHEST).
                if is_highest && !is_default {
                    pick("cachelib")
                } else if is_default {
                    pick("werkzeug")
                } else {
                    generic(pick("werkzeug"))
                }
            }
            Envelope::DogpileJson => pick("dogpile@1.1"),
            Envelope::DogpileCachedValue => pick("dogpile@1.0"),
            Envelope::Kombu => {
                if p <= 2 {
                    pick("kombu@5.0")
                } else {
                    pick("kombu")
                }
            }
            Envelope::AsciiInt => {
                let mut w = pick("django");
                w.name = "auto:ascii-int".into();
                w
            }
            _ if key.starts_with(b"rq:job:") && field.is_some() => pick("rq"),
            _ if key.starts_with(b"celery-task-meta-") => {
                if p <= 2 {
                    pick("celery@5.0")
                } else {
                    pick("celery")
                }
            }
            _ if key.starts_with(b"beaker_cache:") => pick("beaker"),
            Envelope::Zlib | Envelope::Gzip | Envelope::Lzma | Envelope::Lz4 | Envelope::Zstd => {
                if is_default {
                    pick("django-redis")
                } else {
                    generic(pick("django-redis@5.0"))
                }
            }
            _ => {
                if is_highest && !is_default {
                    pick("pickle:highest")
                } else if is_default {
                    pick("pickle")
                } else {
                    pick(&format!("pickle:{p}"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_are_recognised() {
        assert_eq!(unwrap(b"42").envelope, Envelope::AsciiInt);
        assert_eq!(unwrap(b"!\x80\x04K*.").envelope, Envelope::Bang);
        assert_eq!(unwrap(b"\x80\x05K*.").envelope, Envelope::Plain);
        assert_eq!(unwrap(b"(dp1\n.").envelope, Envelope::Plain);
        assert_eq!(unwrap(b"{\"a\": 1}").envelope, Envelope::NotPickle("JSON"));
        assert_eq!(
            unwrap(b"{\"ct\": 1.5, \"v\": 2}|\x80\x04K*.").envelope,
            Envelope::DogpileJson
        );
        let z = {
            use std::io::Write;
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
            e.write_all(b"\x80\x04K*.").unwrap();
            e.finish().unwrap()
        };
        let u = unwrap(&z);
        assert_eq!(
            (u.envelope, u.pickle),
            (Envelope::Zlib, b"\x80\x04K*.".to_vec())
        );
    }

    #[test]
    fn writer_protocols_follow_the_profiles() {
        let rt38 = Runtime::new(3, 8);
        assert_eq!(Writer::parse("werkzeug").unwrap().protocol_on(rt38), 4);
        assert_eq!(
            Writer::parse("werkzeug")
                .unwrap()
                .protocol_on(Runtime::new(2, 7)),
            0
        );
        assert_eq!(Writer::parse("cachelib").unwrap().protocol_on(rt38), 5);
        assert_eq!(Writer::parse("cachelib@0.4").unwrap().protocol_on(rt38), 4);
        assert_eq!(
            Writer::parse("django-redis@5.0").unwrap().protocol_on(rt38),
            5
        );
        assert_eq!(Writer::parse("django-redis").unwrap().protocol_on(rt38), 4);
        assert_eq!(Writer::parse("pickle:2").unwrap().protocol_on(rt38), 2);
        assert!(Writer::parse("memcache").is_err());
    }

    #[test]
    fn int_handling_and_readers_follow_the_versions() {
        let w = |s: &str| Writer::parse(s).unwrap();
        assert_eq!(w("cachelib@0.1.1").ints, Ints::Ascii);
        assert_eq!(w("cachelib@0.2.0").ints, Ints::Pickled);
        assert_eq!(w("cachelib@0.15.3").ints, Ints::Pickled);
        assert_eq!(w("cachelib@0.15.4").ints, Ints::Ascii);
        assert_eq!(w("cachelib").ints, Ints::Ascii);
        assert_eq!(w("cachelib@0.4.1").protocol, Protocol::Default);
        assert_eq!(w("cachelib@0.5").protocol, Protocol::Highest);
        assert_eq!(w("flask-caching@1.10.1").protocol, Protocol::Default);
        assert_eq!(w("flask-caching@2.2").ints, Ints::Pickled);
        assert_eq!(w("flask-caching@2.5").ints, Ints::Ascii);
        assert_eq!(w("dogpile@1.0").reader, Reader::Dogpile10);
        assert_eq!(w("dogpile@1.0.2").wrap, Wrap::DogpileCachedValue);
        assert_eq!(w("dogpile").reader, Reader::Dogpile11);
        assert_eq!(w("kombu@5.0.2").protocol, Protocol::Fixed(2));
        assert_eq!(w("celery").protocol, Protocol::Fixed(4));
        assert!(w("auto").auto);
        assert!(Writer::parse("werkzeug@1.0").is_err());
        assert!(Writer::parse("cachelib@x").is_err());
        assert!(Writer::parse("pickle:9").is_err());
    }

    #[test]
    fn kombu_messages_and_dogpile_cachedvalues_are_unwrapped() {
        // base64 of b"\x80\x02K*." is "gAJLKi4=".
        let msg = br#"{"body": "gAJLKi4=", "content-encoding": "binary", "content-type": "application/x-python-serialize", "headers": {}, "properties": {"body_encoding": "base64"}}"#;
        let u = unwrap(msg);
        assert_eq!(
            (u.envelope, u.pickle),
            (Envelope::Kombu, b"\x80\x02K*.".to_vec())
        );
        let json = br#"{"body": "WzEsIDJd", "content-type": "application/json", "properties": {"body_encoding": "base64"}}"#;
        assert!(matches!(unwrap(json).envelope, Envelope::NotPickle(_)));
        assert_eq!(base64_decode(b"YWJjZA=="), Some(b"abcd".to_vec()));
        assert_eq!(base64_decode(b"a?"), None);
        // pickle.dumps(CachedValue(42, {}), 4) without the frame, as dogpile 1.0 writes it.
        let mut cv = b"\x80\x04\x8c\x11dogpile.cache.api\x94\x8c\x0bCachedValue\x94\x93\x94K*}\x94\x86\x94R\x94.".to_vec();
        assert_eq!(unwrap(&cv).envelope, Envelope::DogpileCachedValue);
        let t = cachedvalue_as_tuple(&cv).unwrap();
        assert_eq!(t[t.len() - 3], 0x86);
        // Another class by the same bytes is not one.
        cv[5] = b'x';
        assert_eq!(unwrap(&cv).envelope, Envelope::Plain);
    }

    #[test]
    fn auto_infers_the_profile_from_the_envelope() {
        let auto = Writer::parse("auto").unwrap();
        let rts = |a: (u8, u8), b: (u8, u8)| [Runtime::new(a.0, a.1), Runtime::new(b.0, b.1)];
        let name = |e: Envelope, p: u8, key: &[u8], field: Option<&[u8]>, r| {
            auto.infer(&e, Some(p), key, field, r).name
        };
        let (r27, r37) = (rts((2, 7), (3, 8)), rts((3, 7), (3, 11)));
        assert_eq!(name(Envelope::Bang, 0, b"k", None, r27), "auto:werkzeug");
        assert_eq!(name(Envelope::Bang, 5, b"k", None, r37), "auto:cachelib");
        assert_eq!(
            name(Envelope::DogpileJson, 4, b"k", None, r37),
            "auto:dogpile@1.1"
        );
        assert_eq!(
            name(Envelope::Plain, 2, b"celery-task-meta-1", None, r27),
            "auto:celery@5.0"
        );
        assert_eq!(
            name(Envelope::Zlib, 5, b"rq:job:1", Some(b"data"), r37),
            "auto:rq"
        );
        assert_eq!(
            name(Envelope::Plain, 5, b"k", None, r37),
            "auto:pickle:highest"
        );
        assert_eq!(name(Envelope::Plain, 4, b"k", None, r37), "auto:pickle");
        assert_eq!(name(Envelope::Plain, 1, b"k", None, r37), "auto:pickle:1");
        let w = Writer::parse("werkzeug").unwrap();
        assert_eq!(w.infer(&Envelope::Plain, Some(5), b"k", None, r37), w);
    }
}
