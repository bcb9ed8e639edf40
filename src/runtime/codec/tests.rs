//! The codecs' unit tests: error positions and messages as CPython prints them.

use super::*;

fn err(s: &[u8]) -> String {
    match decode_utf8(s, Handler::Strict, "utf-8") {
        Err(Failure::Decode(e)) => e.message(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn utf8_error_ranges_follow_cpython() {
    // Texts as CPython 3 prints them for b'...'.decode('utf-8').
    assert_eq!(
        err(b"\xff"),
        "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"
    );
    assert_eq!(
        err(b"caf\xc3"),
        "'utf-8' codec can't decode byte 0xc3 in position 3: unexpected end of data"
    );
    assert_eq!(
        err(b"\xe2\x82"),
        "'utf-8' codec can't decode bytes in position 0-1: unexpected end of data"
    );
    assert_eq!(
        err(b"\xe9t\xe9"),
        "'utf-8' codec can't decode byte 0xe9 in position 0: invalid continuation byte"
    );
    assert_eq!(
        err(b"\xed\xa0\x80"),
        "'utf-8' codec can't decode byte 0xed in position 0: invalid continuation byte"
    );
}

#[test]
fn surrogatepass_keeps_lone_surrogates() {
    let t = decode_utf8(b"\xed\xa0\x80", Handler::SurrogatePass, "utf-8").unwrap();
    assert_eq!(code_points(&t).collect::<Vec<_>>(), vec![0xd800]);
}

#[test]
fn escape_decode_runs_of_hex_escapes() {
    // Expected values: CPython 3.11's codecs.escape_decode.
    assert_eq!(
        escape_decode(b"\\xe2\\x80\\x99\\xff\\x00abc\\x41").unwrap(),
        b"\xe2\x80\x99\xff\x00abcA"
    );
    for s in [&b"\\xe2\\x80\\x9"[..], b"\\xe2\\x80\\xzz\\x41"] {
        assert_eq!(
            escape_decode(s).unwrap_err().0,
            "invalid \\x escape at position 8"
        );
    }
    assert_eq!(
        escape_decode(b"\\xe2\\x80\\\\x41").unwrap(),
        b"\xe2\x80\\x41"
    );
}

#[test]
fn raw_unicode_escape_and_escape_decode() {
    let t = decode_raw_unicode_escape(b"caf\xe9\\u20ac\\U0001f600", false).unwrap();
    assert_eq!(
        code_points(&t).collect::<Vec<_>>(),
        vec![0x63, 0x61, 0x66, 0xe9, 0x20ac, 0x1f600]
    );
    assert_eq!(escape_decode(b"a\\x41\\n\\101\\q").unwrap(), b"aA\nA\\q");
    assert_eq!(escape_decode(b"\\").unwrap_err().0, "Trailing \\ in string");
}

// Long plain runs go through the word-at-a-time scans: the slow paths must resume exactly
// where they stop. Expected values are CPython 3.11's (`codecs.escape_decode`,
// `bytes.decode('raw-unicode-escape')`) and 2.7.18's for the py2 rule.
#[test]
fn fast_paths_resume_where_cpython_reports() {
    assert_eq!(
        escape_decode(b"abcdefghijklmnopqrstuvwxyz\\x4")
            .unwrap_err()
            .0,
        "invalid \\x escape at position 26"
    );
    let mut s = b"0123456789abcdef\\x41".to_vec();
    s.extend_from_slice(&[b'z'; 17]);
    s.extend_from_slice(b"\\xg1");
    assert_eq!(
        escape_decode(&s).unwrap_err().0,
        "invalid \\x escape at position 37"
    );
    assert_eq!(
        escape_decode(b"plain run of text\\").unwrap_err().0,
        "Trailing \\ in string"
    );
    assert_eq!(
        escape_decode(b"\xff\xfeabcdefghij\\x41\\n\\101\\q").unwrap(),
        b"\xff\xfeabcdefghijA\nA\\q"
    );
    let raw = |s: &[u8], py2: bool| match decode_raw_unicode_escape(s, py2) {
        Ok(t) => Ok(code_points(&t).collect::<Vec<_>>()),
        Err(e) => Err(e.message()),
    };
    assert_eq!(
        raw(b"abcdefghijklmnop\\u004", false).unwrap_err(),
        "'rawunicodeescape' codec can't decode bytes in position 16-20: truncated \\uXXXX escape"
    );
    assert_eq!(
        raw(b"0123456789abcdefgh\\U00110000", false).unwrap_err(),
        "'rawunicodeescape' codec can't decode bytes in position 18-27: \\Uxxxxxxxx out of range"
    );
    let want: Vec<u32> = "\u{e9}abcdefghijklmnopqrstuvw\u{20ac}\u{ff}\u{1f600}tail"
        .chars()
        .map(|c| c as u32)
        .collect();
    assert_eq!(
        raw(
            b"\xe9abcdefghijklmnopqrstuvw\\u20ac\xff\\U0001F600tail",
            false
        )
        .unwrap(),
        want
    );
    let want: Vec<u32> = "abcdefghijklmnop\\\\A\\\\u0041"
        .chars()
        .map(|c| c as u32)
        .collect();
    assert_eq!(
        raw(b"abcdefghijklmnop\\\\\\u0041\\\\u0041", true).unwrap(),
        want
    );
    assert_eq!(
        code_points(&decode_latin1(b"abcdefghijk\xe9\xff\x80z")).collect::<Vec<_>>(),
        "abcdefghijk\u{e9}\u{ff}\u{80}z"
            .chars()
            .map(|c| c as u32)
            .collect::<Vec<_>>()
    );
}
