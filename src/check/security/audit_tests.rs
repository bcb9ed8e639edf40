//! The audit's unit tests: hostile and benign streams, and the tables' coverage of the standard
//! library of each version.

use super::*;
use crate::pickle::parse::parse;

fn version(s: &str) -> (u32, u32) {
    let (a, b) = s.split_once('.').unwrap_or((s, "0"));
    (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
}

#[test]
fn every_allowed_global_exists_in_the_runtimes_it_names() {
    // Against the tables read off the real interpreters (2.7, 3.6-3.14): the module exists in
    // each runtime of the range, and where the tables list the module's names, the name too.
    let mut checked = 0;
    for e in SAFE {
        let (lo, hi) = (version(e.since), e.until.map(version));
        for t in generated::RUNTIMES {
            let v = version(t.name);
            if v < lo || hi.is_some_and(|h| v > h) {
                continue;
            }
            let top = e.name.split('.').next().unwrap_or(e.name);
            assert!(
                t.has_module(e.module),
                "{}.{}: no module {} in {}",
                e.module,
                e.name,
                e.module,
                t.name
            );
            if let Some(has) = t.module_attr(e.module, top) {
                assert!(
                    has,
                    "{}.{} is not in {} {}",
                    e.module, e.name, e.module, t.name
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked} (entry, runtime) names checked");
}

#[test]
fn allowed_before_dangerous_and_unknown_otherwise() {
    let apps = AppClasses::default();
    assert_eq!(classify("uuid", "UUID", &apps), Class::Safe);
    assert!(matches!(
        classify("uuid", "_get_command_stdout", &apps),
        Class::Dangerous(_)
    ));
    assert!(matches!(
        classify("os", "system", &apps),
        Class::Dangerous(_)
    ));
    assert!(matches!(
        classify("__builtin__", "breakpoint", &apps),
        Class::Dangerous(_)
    ));
    assert!(matches!(
        classify("SocketServer", "TCPServer", &apps),
        Class::Dangerous(_)
    ));
    assert!(matches!(
        classify("textwrap", "dedent", &apps),
        Class::Unknown(Reason::StdlibNotAllowed)
    ));
    assert_eq!(classify("myapp.models", "User", &apps), Class::App);
    for (m, n) in [
        ("_posixsubprocess", "fork_exec"),
        ("platform", "popen"),
        ("io", "open"),
        ("codecs", "open"),
        ("zipimport", "zipimporter"),
        ("dill", "loads"),
        ("yaml", "load"),
        ("signal", "signal"),
    ] {
        assert!(
            matches!(classify(m, n, &apps), Class::Dangerous(_)),
            "{m}.{n}"
        );
    }
}

#[test]
fn a_dangerous_global_stored_as_data_is_denied_an_unknown_one_is_not() {
    let apps = AppClasses::default();
    // [os.system] and [textwrap.dedent]: referenced, never called.
    let d = b"(cos\nsystem\nl.";
    let a = audit(d, &parse(d, 1000).ops, &apps);
    assert_eq!(a.dangerous(), vec!["os.system".to_string()]);
    assert_eq!(a.findings[0].called_by, None);
    let u = b"(ctextwrap\ndedent\nl.";
    assert!(audit(u, &parse(u, 1000).ops, &apps).is_empty());
    // Called, the unknown one is CC021.
    let c = b"ctextwrap\ndedent\n(S'x'\ntR.";
    let a = audit(c, &parse(c, 1000).ops, &apps);
    assert_eq!(a.unknown(), vec!["textwrap.dedent".to_string()]);
}

#[test]
fn a_partial_s_function_and_codecs_arguments_are_judged() {
    let apps = AppClasses::default();
    let run = |d: &[u8]| audit(d, &parse(d, 1000).ops, &apps);
    // partial(max, 1, 2) as 3.x pickles it (corpus value partial_args): nothing to report.
    let ok =
        b"\x80\x02cfunctools\npartial\ncbuiltins\nmax\n\x85R(cbuiltins\nmax\nK\x01K\x02\x86NNtb.";
    assert!(run(ok).is_empty(), "{:?}", run(ok).findings);
    // partial(textwrap.dedent): the application will call it; unknown (CC021).
    let unk = b"\x80\x02cfunctools\npartial\nctextwrap\ndedent\n\x85R.";
    let a = run(unk);
    assert_eq!(a.unknown(), vec!["textwrap.dedent".to_string()]);
    assert_eq!(
        a.findings[0].called_by.unwrap().via,
        Some("functools.partial")
    );
    // _codecs.encode with literal arguments (3.x protocol 2 bytes) is data; with a computed
    // first argument it is CC021.
    let lit = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x06\x00\x00\x00latin1\x86R.";
    assert!(run(lit).is_empty());
    let comp = b"\x80\x02c_codecs\nencode\nctextwrap\ndedent\n)RX\x06\x00\x00\x00latin1\x86R.";
    assert!(run(comp).unknown().contains(&"_codecs.encode".to_string()));
}

#[test]
fn truncated_and_hostile_streams_never_panic() {
    let apps = AppClasses::default();
    let seeds: [&[u8]; 6] = [
        b"R",
        b"\x93\x93\x93",
        b"(((((tR",
        b"\x80\x04\x8c\x02os\x94h\x00h\x00\x93b",
        b"cfunctools\npartial\n)Rb)R",
        b"\x82\xff\x83\xff\xff\x84\xff\xff\xff\xff)R",
    ];
    for s in seeds {
        for cut in 0..=s.len() {
            let d = &s[..cut];
            let _ = audit(d, &parse(d, 1000).ops, &apps);
        }
    }
}
