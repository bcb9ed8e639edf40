//! The `changes` explanations on values written by real interpreters. Each case: real Python 2.7
//! (cPickle) or 3.8 writes the pickle; the real other interpreter shows what it gets (its repr,
//! its type, whether a lookup still works); `check::judge` must call the check `changes` and its
//! one-line explanation must name what the real interpreter showed.

mod common;

use cache_compat::check::{Check, Checks, Side, judge};
use cache_compat::envelope::Writer;
use cache_compat::runtime::load::LoadConfig;
use cache_compat::runtime::{LoadOptions, Runtime};
use std::process::Command;

/// Run a Python snippet under `version`; its stdout, trimmed.
fn py(version: &str, code: &str) -> String {
    let o = Command::new(common::interpreter(version))
        .args(["-c", code])
        .output()
        .expect("python");
    assert!(
        o.status.success(),
        "python {version}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The pickle a py2 expression gives with cPickle at `protocol`.
fn py2_pickle(expr: &str, protocol: u8) -> Vec<u8> {
    common::unhex(&py(
        "2.7",
        &format!(
            "import cPickle, binascii; print binascii.hexlify(cPickle.dumps({expr}, {protocol}))"
        ),
    ))
}

fn side(rt: &str, load: &str, writer: &str) -> Side {
    Side {
        runtime: Runtime::parse(rt).expect("runtime"),
        load: LoadConfig {
            options: LoadOptions::parse(load).expect("options"),
            ..LoadConfig::default()
        },
        writer: Writer::parse(writer).expect("writer"),
    }
}

fn changes(c: &Check) -> String {
    match c {
        Check::Changes(ch) => ch.to_string(),
        other => panic!("expected changes, got {other:?}"),
    }
}

fn checks(p: &[u8], old: Side, new: Side) -> Checks {
    judge(p, &old, &new)
}

#[test]
fn mojibake_names_the_latin1_text_python_3_gets_and_the_repair_works() {
    let p = py2_pickle("'caf\\xc3\\xa9 cr\\xc3\\xa8me'", 2);
    let hex = common::hex(&p);
    // What 3.8 gets with encoding='latin1', and whether the suggested repair gives the text back.
    let real = py(
        "3.8",
        &format!(
            "import pickle, binascii; v = pickle.loads(binascii.unhexlify('{hex}'), encoding='latin1'); \
             print(repr(v)); print(v.encode('latin-1').decode('utf-8') == 'caf\\xe9 cr\\xe8me')"
        ),
    );
    let (real_repr, repaired) = real.split_once('\n').expect("two lines");
    assert_eq!(repaired, "True");
    let original = py("2.7", "print repr('caf\\xc3\\xa9 cr\\xc3\\xa8me')");
    let c = checks(
        &p,
        side("2.7", "", "pickle:2"),
        side("3.8", "encoding=latin1", "pickle:2"),
    );
    let e = changes(&c.new_reads);
    println!("{e}");
    assert!(e.starts_with("mojibake"), "{e}");
    assert!(e.contains(real_repr), "{e} should name {real_repr}");
    assert!(e.contains(&original), "{e} should name {original}");
    assert!(e.contains(".encode('latin-1').decode('utf-8')"), "{e}");
}

#[test]
fn str_to_bytes_names_the_keys_members_and_values_python_3_gets() {
    // encoding='bytes': every py2 str is bytes, dict keys and set members included.
    for (expr, role) in [
        ("{'name': u'x', 'id': 1}", "dict key"),
        ("set(['tag'])", "set member"),
        ("'abc'", "str"),
    ] {
        let p = py2_pickle(expr, 2);
        let hex = common::hex(&p);
        // The real 3.8: the bytes objects it got, and whether the str spelling still finds them.
        let real = py(
            "3.8",
            &format!(
                "import pickle, binascii; v = pickle.loads(binascii.unhexlify('{hex}'), encoding='bytes')\n\
                 items = list(v) if isinstance(v, (dict, set)) else [v]\n\
                 for b in items:\n    print(repr(b), b.decode() in v if isinstance(v, (dict, set)) else b.decode() == v)"
            ),
        );
        let c = checks(
            &p,
            side("2.7", "", "pickle:2"),
            side("3.8", "encoding=bytes", "pickle:2"),
        );
        let e = changes(&c.new_reads);
        println!("{e}");
        assert!(e.starts_with("str -> bytes"), "{e}");
        assert!(e.contains(role), "{e}");
        // It names one of the real bytes objects, none of which the str spelling finds.
        let mut named = false;
        for line in real.lines() {
            let (repr, found) = line.rsplit_once(' ').expect("repr found");
            assert!(repr.starts_with("b'"), "{line}");
            assert_eq!(found, "False", "{line}");
            named |= e.contains(repr);
        }
        assert!(named, "{e} names none of {real}");
        if role == "dict key" {
            assert!(e.contains("KeyError"), "{e}");
        }
    }
}

/// 2.7 writes `expr`; 3.8 loads it and writes it back at protocol 2; 2.7 loads that:
/// (repr, type name) of what 2.7 gets back.
fn py2_after_py3_write_back(expr: &str) -> (Vec<u8>, String, String) {
    let p = py2_pickle(expr, 2);
    let back = py(
        "3.8",
        &format!(
            "import pickle, binascii; print(binascii.hexlify(pickle.dumps(pickle.loads(binascii.unhexlify('{}')), 2)).decode())",
            common::hex(&p)
        ),
    );
    let real = py(
        "2.7",
        &format!(
            "import cPickle, binascii; v = cPickle.loads(binascii.unhexlify('{back}')); print repr(v); print type(v).__name__"
        ),
    );
    let (r, t) = real.split_once('\n').expect("two lines");
    (p, r.to_string(), t.to_string())
}

#[test]
fn str_to_unicode_after_a_py3_write_back_names_what_python_2_gets() {
    let (p, real_repr, real_type) = py2_after_py3_write_back("'abc'");
    assert_eq!(real_type, "unicode");
    let c = checks(&p, side("2.7", "", "pickle:2"), side("3.8", "", "pickle:2"));
    assert_eq!(c.new_reads, Check::Ok);
    let e = changes(&c.round_trip);
    println!("{e}");
    assert!(e.contains("str -> unicode"), "{e}");
    assert!(e.contains(&real_repr), "{e} should name {real_repr}");
}

#[test]
fn int_to_long_names_what_python_2_gets_and_small_ints_stay_ints() {
    let (p, real_repr, real_type) = py2_after_py3_write_back("1099511627776");
    assert_eq!(real_type, "long");
    let c = checks(&p, side("2.7", "", "pickle:2"), side("3.8", "", "pickle:2"));
    for e in [changes(&c.round_trip), changes(&c.old_reads_new_write)] {
        println!("{e}");
        assert!(e.contains("int -> long"), "{e}");
        assert!(e.contains(&real_repr), "{e} should name {real_repr}");
    }
    // The control: an int that fits 4 bytes comes back an int.
    let (p, _, real_type) = py2_after_py3_write_back("42");
    assert_eq!(real_type, "int");
    let c = checks(&p, side("2.7", "", "pickle:2"), side("3.8", "", "pickle:2"));
    assert_eq!(c.round_trip, Check::Ok);
    assert_eq!(c.old_reads_new_write, Check::Ok);
}

#[test]
fn py3_bytes_become_a_py2_str() {
    // 3.8 writes bytes at protocol 2; 2.7 gets a str.
    let p = common::unhex(&py(
        "3.8",
        "import pickle, binascii; print(binascii.hexlify(pickle.dumps(b'abc', 2)).decode())",
    ));
    let real = py(
        "2.7",
        &format!(
            "import cPickle, binascii; v = cPickle.loads(binascii.unhexlify('{}')); print repr(v), type(v).__name__",
            common::hex(&p)
        ),
    );
    assert_eq!(real, "'abc' str");
    let c = checks(&p, side("2.7", "", "pickle:2"), side("3.8", "", "pickle:2"));
    // 2.7 reading what 3.8 wrote: the old side's reads of the stored (3.8-written) value.
    let e = changes(&c.old_reads_new_write);
    println!("{e}");
    assert!(e.starts_with("bytes -> py2 str"), "{e}");
    assert!(e.contains("'abc' on 2.7"), "{e}");
}

/// What a py3 expression gives with 3.11's pickle at `protocol`.
fn py311_pickle(expr: &str, protocol: u8) -> Vec<u8> {
    common::unhex(&py(
        "3.11",
        &format!(
            "import pickle, binascii; print(binascii.hexlify(pickle.dumps({expr}, {protocol})).decode())"
        ),
    ))
}

#[test]
fn a_nan_is_no_change_even_where_the_runtimes_parse_another_sign_bit() {
    // Protocol 0 writes `Fnan`: 2.7 parses it as a NaN with the sign bit set, 3.11 without
    // (the models hold both bit patterns); both are NaN, print 'nan' and compare unequal.
    let p = py311_pickle("{'a': float('nan'), 'b': [1.5, float('inf')]}", 0);
    let hex = common::hex(&p);
    for v in ["2.7", "3.11"] {
        let real = py(
            v,
            &format!(
                "import pickle, binascii, math; d = pickle.loads(binascii.unhexlify('{hex}')); print(math.isnan(d['a']))"
            ),
        );
        assert_eq!(real, "True", "{v} loads a NaN");
    }
    let c = checks(
        &p,
        side("2.7", "", "pickle:0"),
        side("3.11", "", "pickle:0"),
    );
    assert_eq!(c.new_reads, Check::Ok, "{:?}", c.new_reads);
    assert_eq!(
        c.new_reads_old_write,
        Check::Ok,
        "{:?}",
        c.new_reads_old_write
    );
}

#[test]
fn the_explanation_blames_the_mojibake_value_not_an_ascii_key() {
    // {'d': 'caf\xc3\xa9'} by 2.7; 3.11 with encoding='latin1': the key 'd' is text as intended,
    // the value is mojibake (what real 3.11 shows), at ['d'].
    let p = py2_pickle("{'d': 'caf\\xc3\\xa9', 'e': 1}", 2);
    let hex = common::hex(&p);
    let real = py(
        "3.11",
        &format!(
            "import pickle, binascii; d = pickle.loads(binascii.unhexlify('{hex}'), encoding='latin1'); print(type(list(d)[0]).__name__); print(repr(d['d']))"
        ),
    );
    let (key_type, value_repr) = real.split_once('\n').expect("two lines");
    assert_eq!(key_type, "str");
    let c = checks(
        &p,
        side("2.7", "", "pickle:2"),
        side("3.11", "encoding=latin1", "pickle:2"),
    );
    let Check::Changes(ch) = &c.new_reads else {
        panic!("expected changes, got {:?}", c.new_reads)
    };
    assert_eq!(ch.hazard().code(), "CC010", "{ch}");
    assert_eq!(ch.path, "['d']");
    let e = ch.to_string();
    assert!(e.starts_with("mojibake at ['d']: "), "{e}");
    assert!(e.contains(value_repr), "{e} names {value_repr}");
}

#[test]
fn an_ascii_str_back_as_unicode_after_a_round_trip_is_a_warning_not_a_deny() {
    // 2.7 writes {'c': 'x'}; 3.11 reads it and writes it back at protocol 2; 2.7 reads u'x'
    // (real interpreters), which is CC013 (warn), not CC014.
    let p = py2_pickle("{'c': 'x'}", 2);
    let back = py(
        "3.11",
        &format!(
            "import pickle, binascii; print(binascii.hexlify(pickle.dumps(pickle.loads(binascii.unhexlify('{}')), 2)).decode())",
            common::hex(&p)
        ),
    );
    let real = py(
        "2.7",
        &format!(
            "import cPickle, binascii; d = cPickle.loads(binascii.unhexlify('{back}')); print repr(d)"
        ),
    );
    assert_eq!(real, "{u'c': u'x'}");
    let c = checks(
        &p,
        side("2.7", "", "pickle:2"),
        side("3.11", "", "pickle:2"),
    );
    let Check::Changes(ch) = &c.round_trip else {
        panic!("expected changes, got {:?}", c.round_trip)
    };
    assert_eq!(ch.hazard().code(), "CC013", "{ch}");
    assert_eq!(ch.hazard().default_level().name(), "warn");
    let e = ch.to_string();
    assert!(
        e.starts_with("after 2.7 -> 3.11 -> 2.7: str -> unicode"),
        "{e}"
    );
    assert!(e.contains("u'c'") || e.contains("u'x'"), "{e}");
}
