//! Unit tests of the dump model against bytes the real picklers wrote (cases named by the
//! interpreter that made them).

use super::*;

#[test]
fn float_reprs_follow_python() {
    assert_eq!(float_repr(1.5), "1.5");
    assert_eq!(float_repr(1e16), "1e+16");
    assert_eq!(float_repr(1e15), "1000000000000000.0");
    assert_eq!(float_repr(0.0001), "0.0001");
    assert_eq!(float_repr(0.00001), "1e-05");
    assert_eq!(float_repr(-0.0), "-0.0");
    assert_eq!(float_repr(0.1), "0.1");
    assert_eq!(float_repr(1e300), "1e+300");
    assert_eq!(float_repr(0.0), "0.0");
    assert_eq!(float_repr(100.0), "100.0");
    assert_eq!(format_g17(100.0), "100");
    assert_eq!(format_g17(-1.5), "-1.5");
    assert_eq!(format_g17(0.1), "0.10000000000000001");
    assert_eq!(format_g17(1.0), "1");
    assert_eq!(format_g17(1e300), "1.0000000000000001e+300");
}

/// The word tests against the byte tests they stand for, on words built around each edge.
#[test]
fn word_tests_agree_with_byte_tests() {
    let edges = [
        0u8, 1, 0x0a, 0x0d, 0x1a, 0x1f, 0x20, 0x21, 0x27, 0x5c, 0x7e, 0x7f, 0x80, 0xfe, 0xff,
    ];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for k in 0..20_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut a = (x ^ k).to_le_bytes();
        for (j, b) in a.iter_mut().enumerate() {
            if (x >> (j * 3)) & 1 == 1 {
                *b = edges[((x >> (j + 24)) % edges.len() as u64) as usize];
            }
        }
        let w = u64::from_le_bytes(a);
        for &n in &[1u8, 0x20, 0x80] {
            assert_eq!(has_less(w, n), a.iter().any(|&b| b < n), "{a:?} < {n}");
        }
        for &c in &edges {
            assert_eq!(has_byte(w, c), a.contains(&c), "{a:?} {c}");
        }
    }
}

/// The run-by-run escapers against the byte-at-a-time forms they replace, on strings with
/// the special bytes at every offset of a word.
#[test]
fn escapers_agree_with_byte_at_a_time() {
    fn repr_ref(b: &[u8]) -> String {
        let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
            b'"'
        } else {
            b'\''
        };
        let mut s = String::from(quote as char);
        for &c in b {
            match c {
                b'\\' => s.push_str("\\\\"),
                b'\n' => s.push_str("\\n"),
                b'\r' => s.push_str("\\r"),
                b'\t' => s.push_str("\\t"),
                c if c == quote => {
                    s.push('\\');
                    s.push(c as char);
                }
                0x20..=0x7e => s.push(c as char),
                _ => s.push_str(&format!("\\x{c:02x}")),
            }
        }
        s.push(quote as char);
        s
    }
    fn rue_ref(t: &[u8], ctrl: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for cp in codec::code_points(t) {
            let esc = cp == 0x5c || cp == 0x0a || (ctrl && (cp == 0 || cp == 0x0d || cp == 0x1a));
            if esc || cp >= 0x100 {
                push_u_escape(&mut out, cp);
            } else {
                out.push(cp as u8);
            }
        }
        out
    }
    let specials: &[&[u8]] = &[
        b"\\",
        b"\n",
        b"\r",
        b"\0",
        b"\x1a",
        b"'",
        b"\"",
        b"\x7f",
        b"\xff",
        "\u{e9}".as_bytes(),
        "\u{20ac}".as_bytes(),
        "\u{1f600}".as_bytes(),
        &[0xed, 0xa0, 0x80],
        &[0xc3],
    ];
    for len in 0..40 {
        for (k, sp) in specials.iter().enumerate() {
            let mut t = vec![b'a' + (k as u8); len];
            t.extend_from_slice(sp);
            t.extend_from_slice(b"0123456789abcdef");
            t.extend_from_slice(specials[(k + len) % specials.len()]);
            assert_eq!(py2_repr(&t), repr_ref(&t), "{t:?}");
            for ctrl in [false, true] {
                let mut out = Vec::new();
                raw_unicode_escape_into(&mut out, &t, false, ctrl);
                assert_eq!(out, rue_ref(&t, ctrl), "{t:?} {ctrl}");
            }
        }
    }
}

/// Expected values printed by CPython 2.7.18 (`repr(s)`).
#[test]
fn py2_repr_follows_python_2_7() {
    let cases: [(&[u8], &str); 6] = [
        (b"", "''"),
        (b"abc", "'abc'"),
        (b"it's", r#""it's""#),
        (br#"say "hi""#, r#"'say "hi"'"#),
        (br#"both '""#, r#"'both \'"'"#),
        (
            b"a\\b\n\r\t\x00\x7f\x80\xff~ ",
            r"'a\\b\n\r\t\x00\x7f\x80\xff~ '",
        ),
    ];
    for (s, want) in cases {
        assert_eq!(py2_repr(s), want, "{s:?}");
    }
}

/// The UNICODE argument of `pickle.dumps(u'a\\b\n\r\x00\x1a\xe9\u20ac\U0001f600', 0)` as
/// CPython 2.7.18 and 3.12 wrote it.
#[test]
fn unicode_escapes_follow_python() {
    let t = "a\\b\n\r\0\x1a\u{e9}\u{20ac}\u{1f600}".as_bytes();
    let mut py2 = Vec::new();
    raw_unicode_escape_into(&mut py2, t, true, true);
    assert_eq!(py2, b"a\\u005cb\\u000a\r\x00\x1a\xe9\\u20ac\\U0001f600");
    let mut py3 = Vec::new();
    raw_unicode_escape_into(&mut py3, t, false, true);
    assert_eq!(
        py3,
        b"a\\u005cb\\u000a\\u000d\\u0000\\u001a\xe9\\u20ac\\U0001f600"
    );
}

/// py2 write-backs whose memo the refcount rule alone got wrong (a dict's non-empty list or
/// dict value, an object saved by reduce as a dict's value: cPickle's put2 and the bound
/// __reduce_ex__) and the collections' reduces. Oracle: CPython 2.7.18's cPickle, for which
/// `cPickle.dumps(cPickle.loads(s), p) == s` held for each of these (`s = cPickle.dumps(v,
/// p)`, for the exceptions `s` re-dumped once: their literals' refcounts differ) of {'a': [1]}, {'a': {'b': 1}}, {'a': date(2020, 1, 2)}, {'k': OrderedDict([('ab',
/// [1])])}, {'k': deque(['xy'], 5)}, {'k': defaultdict(list, {'a': 1})}, {'k': xrange(1, 10,
/// 2)}, {'k': Counter({'ab': 2})}, [set(['ab'])] * 2, {'result': ValueError('boom')},
/// {'r': KeyError('k', 2)}, [object()] * 2).
#[test]
fn py2_write_backs_follow_cpickle() {
    use crate::runtime::load::{self, LoadConfig, Outcome};
    let cases: &[(u8, &str)] = &[
        (0, "286470310a532761270a286c70320a49310a61732e"),
        (1, "7d71015501615d71024b0161732e"),
        (2, "80027d71015501615d71024b0161732e"),
        (0, "286470310a532761270a286470320a532762270a49310a73732e"),
        (1, "7d71015501617d71025501624b0173732e"),
        (2, "80027d71015501617d71025501624b0173732e"),
        (
            0,
            "286470310a532761270a636461746574696d650a646174650a70320a2853275c7830375c7865345c7830315c783032270a745270330a732e",
        ),
        (
            1,
            "7d7101550161636461746574696d650a646174650a710228550407e4010274527103732e",
        ),
        (
            2,
            "80027d7101550161636461746574696d650a646174650a7102550407e4010285527103732e",
        ),
        (
            0,
            "286470310a53276b270a63636f6c6c656374696f6e730a4f726465726564446963740a70320a28286c70330a286c70340a53276162270a70350a61286c70360a49310a616161745270370a732e",
        ),
        (
            1,
            "7d710155016b63636f6c6c656374696f6e730a4f726465726564446963740a7102285d71035d7104285502616271055d71064b0161656174527107732e",
        ),
        (
            2,
            "80027d710155016b63636f6c6c656374696f6e730a4f726465726564446963740a71025d71035d7104285502616271055d71064b0161656185527107732e",
        ),
        (
            0,
            "286470310a53276b270a63636f6c6c656374696f6e730a64657175650a70320a28286c70330a53277879270a70340a6149350a745270350a732e",
        ),
        (
            1,
            "7d710155016b63636f6c6c656374696f6e730a64657175650a7102285d7103550278797104614b0574527105732e",
        ),
        (
            2,
            "80027d710155016b63636f6c6c656374696f6e730a64657175650a71025d7103550278797104614b0586527105732e",
        ),
        (
            0,
            "286470310a53276b270a63636f6c6c656374696f6e730a64656661756c74646963740a70320a28635f5f6275696c74696e5f5f0a6c6973740a70330a745270340a532761270a49310a73732e",
        ),
        (
            1,
            "7d710155016b63636f6c6c656374696f6e730a64656661756c74646963740a710228635f5f6275696c74696e5f5f0a6c6973740a7103745271045501614b0173732e",
        ),
        (
            2,
            "80027d710155016b63636f6c6c656374696f6e730a64656661756c74646963740a7102635f5f6275696c74696e5f5f0a6c6973740a7103855271045501614b0173732e",
        ),
        (
            0,
            "286470310a53276b270a635f5f6275696c74696e5f5f0a7872616e67650a70320a2849310a4931310a49320a745270330a732e",
        ),
        (
            1,
            "7d710155016b635f5f6275696c74696e5f5f0a7872616e67650a7102284b014b0b4b0274527103732e",
        ),
        (
            2,
            "80027d710155016b635f5f6275696c74696e5f5f0a7872616e67650a71024b014b0b4b0287527103732e",
        ),
        (
            0,
            "286470310a53276b270a63636f6c6c656374696f6e730a436f756e7465720a70320a28286470330a53276162270a70340a49320a73745270350a732e",
        ),
        (
            1,
            "7d710155016b63636f6c6c656374696f6e730a436f756e7465720a7102287d71035502616271044b027374527105732e",
        ),
        (
            2,
            "80027d710155016b63636f6c6c656374696f6e730a436f756e7465720a71027d71035502616271044b027385527105732e",
        ),
        (
            0,
            "286c70310a635f5f6275696c74696e5f5f0a7365740a70320a28286c70330a53276162270a70340a61745270350a6167350a612e",
        ),
        (
            1,
            "5d710128635f5f6275696c74696e5f5f0a7365740a7102285d710355026162710461745271056805652e",
        ),
        (
            2,
            "80025d710128635f5f6275696c74696e5f5f0a7365740a71025d710355026162710461855271056805652e",
        ),
        (
            0,
            "286470310a5327726573756c74270a70320a63657863657074696f6e730a56616c75654572726f720a70330a285327626f6f6d270a70340a7470350a5270360a732e",
        ),
        (
            0,
            "286470310a5327726573756c74270a70320a63657863657074696f6e730a56616c75654572726f720a70330a285327626f6f6d270a70340a7470350a5270360a732e",
        ),
        (
            1,
            "7d71015506726573756c7463657863657074696f6e730a56616c75654572726f720a7102285504626f6f6d7103747104527105732e",
        ),
        (
            2,
            "80027d71015506726573756c7463657863657074696f6e730a56616c75654572726f720a71025504626f6f6d7103857104527105732e",
        ),
        (
            0,
            "286470310a532772270a63657863657074696f6e730a4b65794572726f720a70320a2853276b270a49320a7470330a5270340a732e",
        ),
        (
            1,
            "7d710155017263657863657074696f6e730a4b65794572726f720a71022855016b4b02747103527104732e",
        ),
        (
            2,
            "80027d710155017263657863657074696f6e730a4b65794572726f720a710255016b4b02867103527104732e",
        ),
        (
            0,
            "286c70310a63636f70795f7265670a5f7265636f6e7374727563746f720a70320a28635f5f6275696c74696e5f5f0a6f626a6563740a70330a67330a4e745270340a6167340a612e",
        ),
        (
            1,
            "5d71012863636f70795f7265670a5f7265636f6e7374727563746f720a710228635f5f6275696c74696e5f5f0a6f626a6563740a710368034e745271046804652e",
        ),
        (
            2,
            "80025d710128635f5f6275696c74696e5f5f0a6f626a6563740a7102298171036803652e",
        ),
    ];
    // Instances of corpora/gen/appmod.py's New (a new-style class: reduce_2 at protocol 2,
    // copy_reg._reduce_ex below) as a dict value and with an empty __dict__.
    let apps: &[(u8, &str)] = &[
        (
            0,
            "286470310a53276b270a63636f70795f7265670a5f7265636f6e7374727563746f720a70320a28636170706d6f640a4e65770a70330a635f5f6275696c74696e5f5f0a6f626a6563740a70340a4e745270350a286470360a532761270a49310a73532762270a53276162270a70370a7362732e",
        ),
        (
            1,
            "7d710155016b63636f70795f7265670a5f7265636f6e7374727563746f720a710228636170706d6f640a4e65770a7103635f5f6275696c74696e5f5f0a6f626a6563740a71044e745271057d7106285501614b01550162550261627562732e",
        ),
        (
            2,
            "80027d710155016b636170706d6f640a4e65770a7102298171037d7104285501614b01550162550261627562732e",
        ),
        (
            0,
            "286c70310a63636f70795f7265670a5f7265636f6e7374727563746f720a70320a28636170706d6f640a4e65770a70330a635f5f6275696c74696e5f5f0a6f626a6563740a70340a4e745270350a612e",
        ),
        (
            1,
            "5d710163636f70795f7265670a5f7265636f6e7374727563746f720a710228636170706d6f640a4e65770a7103635f5f6275696c74696e5f5f0a6f626a6563740a71044e74527105612e",
        ),
        (
            2,
            "80025d7101636170706d6f640a4e65770a7102298171037d710462612e",
        ),
    ];
    let rt = Runtime::parse("2.7").expect("2.7");
    let app_cfg = LoadConfig {
        apps: load::AppClasses::only(["appmod".to_string()]),
        ..LoadConfig::default()
    };
    let plain = LoadConfig::default();
    let all = cases.iter().map(|c| (c, &plain));
    for (&(p, hex), cfg) in all.chain(apps.iter().map(|c| (c, &app_cfg))) {
        let data: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        let Outcome::Loaded { heap, root } = load::load(&data, rt, cfg).outcome else {
            panic!("{hex} does not load");
        };
        assert_eq!(dump(&heap, root, rt, p), Ok(data), "p{p} {hex}");
    }
}
