//! Cache libraries' envelopes around pickles, and what each library writes back
//! (../shared/reference/writer-profiles.md).

use crate::runtime::Runtime;
use std::io::Read;

/// How a stored value was wrapped.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        return ok(Envelope::Plain, value.to_vec());
    }
    let what = if std::str::from_utf8(value).is_ok() {
        "text"
    } else {
        "binary data"
    };
    ok(Envelope::NotPickle(what), Vec::new())
}

/// Which protocol a writer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `pickle.dumps(v)`: the runtime's default.
    Default,
    /// `pickle.HIGHEST_PROTOCOL` (or -1).
    Highest,
    Fixed(u8),
}

/// What a cache library writes back, per writer-profiles.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    pub name: String,
    pub protocol: Protocol,
    /// Prefix the pickle with `!`.
    pub bang: bool,
}

impl Writer {
    /// Parse a profile name: `werkzeug`, `cachelib`, `cachelib@0.4`, `flask-caching`, `django`,
    /// `django-redis`, `django-redis@5.0`, `pickle`, `pickle:N`, `pickle:highest`.
    pub fn parse(s: &str) -> Result<Writer, String> {
        let (name, version) = match s.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (s, None),
        };
        let ver = |v: Option<&str>| -> Vec<u32> {
            v.unwrap_or("999")
                .split('.')
                .map(|x| x.parse().unwrap_or(0))
                .collect()
        };
        let (protocol, bang) = match name {
            // werkzeug.contrib.cache 0.x: cPickle / pickle default protocol.
            "werkzeug" => (Protocol::Default, true),
            // cachelib >= 0.5 pickles with HIGHEST_PROTOCOL; earlier with the default.
            "cachelib" | "flask-caching" => {
                let v = ver(version);
                let highest = name == "flask-caching" || v >= vec![0, 5];
                (
                    if highest {
                        Protocol::Highest
                    } else {
                        Protocol::Default
                    },
                    true,
                )
            }
            "django" => (Protocol::Highest, false),
            // django-redis: PICKLE_VERSION -1 (HIGHEST) up to 5.0, DEFAULT_PROTOCOL from 5.1.
            "django-redis" => {
                let v = ver(version);
                (
                    if v < vec![5, 1] {
                        Protocol::Highest
                    } else {
                        Protocol::Default
                    },
                    false,
                )
            }
            "pickle" => (Protocol::Default, false),
            other => {
                if let Some(p) = other.strip_prefix("pickle:") {
                    let proto = match p {
                        "highest" | "-1" => Protocol::Highest,
                        n => Protocol::Fixed(
                            n.parse()
                                .map_err(|_| format!("bad protocol in {other:?}"))?,
                        ),
                    };
                    (proto, false)
                } else {
                    return Err(format!(
                        "unknown writer profile {other:?} (known: werkzeug, cachelib[@VERSION], flask-caching, django, django-redis[@VERSION], pickle, pickle:N)"
                    ));
                }
            }
        };
        Ok(Writer {
            name: s.to_string(),
            protocol,
            bang,
        })
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
}
