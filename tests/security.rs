//! The security view (CC020 code-on-load, CC021 unknown-global) against what others consider
//! malicious and against every benign value of the corpora.
//!
//! Malicious: corpora/malicious/samples.jsonl, written by real CPython interpreters
//! (corpora/malicious/make_samples.py) from the gadgets picklescan 1.0.5 and fickling 0.1.12 name
//! in their tests and deny lists (corpora/malicious/README.md). Benign: every pickle of
//! corpora/pickles.jsonl (real 2.7 and 3.6-3.13 writers: datetime, Decimal, OrderedDict,
//! zoneinfo, partials, corpora/gen/appmod classes, ...) and the demo snapshot.

mod common;

use cache_compat::check::security::{Kind, audit};
use cache_compat::pickle::parse::parse;
use cache_compat::runtime::load::AppClasses;

fn audit_bytes(b: &[u8], apps: &AppClasses) -> cache_compat::check::security::Audit {
    let p = parse(b, 10_000_000);
    audit(b, &p.ops, apps)
}

#[test]
fn no_benign_corpus_value_is_a_security_finding() {
    let apps = AppClasses::default();
    let mut n = 0;
    let mut flagged = Vec::new();
    let mut app_seen = 0;
    for v in common::read_jsonl(&common::root().join("corpora/pickles.jsonl")) {
        // hostile_small and pickletester hold damaged and test-suite pickles, not cached data.
        if matches!(v["writer"].as_str(), Some("hostile_small" | "pickletester")) {
            continue;
        }
        let b = common::unhex(v["pickle"].as_str().unwrap());
        let a = audit_bytes(&b, &apps);
        n += 1;
        if !a.app_classes.is_empty() {
            app_seen += 1;
        }
        if !a.findings.is_empty() {
            flagged.push(format!(
                "{}: {:?}",
                v["id"].as_str().unwrap(),
                a.findings.iter().map(|f| f.sentence()).collect::<Vec<_>>()
            ));
        }
    }
    assert_eq!(n, 10_624, "benign corpus pickles");
    assert!(app_seen > 500, "app classes seen in {app_seen} values");
    assert!(
        flagged.is_empty(),
        "{} of {n} benign values flagged:\n{}",
        flagged.len(),
        flagged[..flagged.len().min(40)].join("\n")
    );
    eprintln!("benign corpus: {n} values, 0 flagged, {app_seen} with app classes");
    let _ = Kind::Dangerous;
}

fn samples() -> Vec<serde_json::Value> {
    common::read_jsonl(&common::root().join("corpora/malicious/samples.jsonl"))
}

#[test]
fn every_malicious_sample_is_denied() {
    let apps = AppClasses::default();
    let (mut deny, mut warn, mut allowed, mut missed) = (0, 0, 0, Vec::new());
    let mut from_picklescan_files = 0;
    for v in samples() {
        let id = v["id"].as_str().unwrap().to_string();
        let b = common::unhex(v["pickle"].as_str().unwrap());
        let a = audit_bytes(&b, &apps);
        let dangerous = a.dangerous();
        match v["expect"].as_str().unwrap() {
            "deny" => {
                // A classifier that says "unknown" to everything fails here: deny needs a
                // known-dangerous global.
                if dangerous.is_empty() {
                    missed.push(format!("{id}: {:?}", a.findings));
                    continue;
                }
                deny += 1;
                if id.starts_with("picklescan/") {
                    from_picklescan_files += 1;
                }
            }
            "allow" => {
                // Listed by picklescan, allowed here (corpora/malicious/README.md says why).
                if !a.findings.is_empty() {
                    missed.push(format!("{id} (expected no finding): {:?}", a.findings));
                    continue;
                }
                allowed += 1;
            }
            _ => {
                if a.unknown().is_empty() || !dangerous.is_empty() {
                    missed.push(format!("{id} (expected warn only): {:?}", a.findings));
                    continue;
                }
                warn += 1;
            }
        }
    }
    assert!(
        missed.is_empty(),
        "{} samples not flagged as expected:\n{}",
        missed.len(),
        missed.join("\n")
    );
    // The counts of corpora/malicious/README.md: every sample, named by id above.
    assert_eq!(deny, 1227, "denied");
    assert_eq!(warn, 1);
    assert_eq!(allowed, 11);
    assert_eq!(from_picklescan_files, 37);
    eprintln!(
        "malicious samples: {deny} denied (CC020), {warn} unknown (CC021), {allowed} allowed on purpose"
    );
}

#[test]
fn each_direct_gadget_names_the_global_it_calls() {
    // A sample written from one (module, name): the global the pickler wrote is the one reported
    // (os.system is written as posix.system; a method below protocol 4 as getattr(cls, name)).
    let apps = AppClasses::default();
    let mut checked = 0;
    for v in samples() {
        let id = v["id"].as_str().unwrap();
        if id.starts_with("hand/") || id.starts_with("picklescan/") || v["expect"] == "allow" {
            continue;
        }
        let b = common::unhex(v["pickle"].as_str().unwrap());
        let a = audit_bytes(&b, &apps);
        let target = id.splitn(3, '/').nth(2).unwrap();
        let written: Vec<String> = v["globals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap().to_string())
            .collect();
        let dangerous = a.dangerous();
        let named = dangerous.iter().any(|d| d == target)
            || written
                .iter()
                .filter(|w| !w.ends_with(".getattr"))
                .all(|w| dangerous.contains(w));
        assert!(
            named,
            "{id}: wrote {written:?}, reported {dangerous:?} ({:?})",
            a.findings
        );
        let called = a.findings.iter().any(|f| f.called_by.is_some());
        assert!(
            called,
            "{id}: no finding says what calls it: {:?}",
            a.findings
        );
        checked += 1;
    }
    assert!(checked > 1000, "{checked}");
}

/// A real redis-server holding a poisoned key beside benign ones written by a real Python 3.12:
/// `scan` exits 1 in every format and reports CC020 before any compatibility finding; nothing
/// loaded it (the marker file the payload would create never appears).
#[test]
fn a_poisoned_key_in_a_real_redis_is_denied_first_in_every_format() {
    let redis = common::start_redis();
    let dir = std::env::temp_dir().join(format!("cc-security-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("pwned");
    // os.system('touch <marker>'): what the example does, with a visible effect.
    let poison = format!("cos\nsystem\n(S'touch {}'\ntR.", marker.display());
    // Benign values pickled by the real interpreter (datetime, Decimal, OrderedDict).
    let py = common::interpreter("3.12");
    let o = std::process::Command::new(&py)
        .args([
            "-c",
            "import pickle,sys,datetime,decimal,collections\n\
             for v in [datetime.datetime(2024,1,2,3,4,5), decimal.Decimal('1.10'), collections.OrderedDict(a=1)]:\n\
             \x20   sys.stdout.write(pickle.dumps(v, 4).hex() + '\\n')",
        ])
        .output()
        .expect("python3.12");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let benign: Vec<Vec<u8>> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(common::unhex)
        .collect();
    assert_eq!(benign.len(), 3);
    let mut cmds = Vec::new();
    common::resp(&mut cmds, &[b"SET", b"cache:poisoned", poison.as_bytes()]);
    for (i, b) in benign.iter().enumerate() {
        common::resp(&mut cmds, &[b"SET", format!("cache:ok:{i}").as_bytes(), b]);
    }
    common::redis_pipe(redis.port, &cmds);
    let url = format!("redis://127.0.0.1:{}/0", redis.port);
    for format in ["table", "json", "jsonl", "markdown", "junit", "github"] {
        let o = common::cache_compat()
            .args(["scan", "--redis", &url, "--old", "3.11", "--new", "3.12"])
            .args([
                "--writer",
                "pickle:4",
                "--progress",
                "none",
                "--format",
                format,
            ])
            .env_remove("CACHE_COMPAT_CONFIG")
            .current_dir(&dir)
            .output()
            .expect("run cache-compat");
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{format}: {out}");
        let first_code = ["CC0", "CC1"]
            .iter()
            .filter_map(|p| out.find(p))
            .min()
            .expect("a code");
        assert_eq!(&out[first_code..first_code + 5], "CC020", "{format}: {out}");
        assert!(out.contains("os.system"), "{format}: {out}");
        match format {
            "table" | "github" => assert!(
                out.contains("NOT SAFE: 1 values run code when loaded"),
                "{format}: {out}"
            ),
            "markdown" => assert!(
                out.contains("**NOT SAFE**: 1 values run code when loaded"),
                "{format}: {out}"
            ),
            "jsonl" => {
                let line: serde_json::Value =
                    serde_json::from_str(out.lines().next().unwrap()).unwrap();
                assert_eq!(line["key"], "cache:poisoned");
                assert_eq!(line["dangerous"], serde_json::json!(["os.system"]));
                assert_eq!(line["security"][0]["opcode"], "GLOBAL");
                assert_eq!(line["security"][0]["called_by"]["opcode"], "REDUCE");
                // Only the poisoned value has a finding.
                assert_eq!(out.lines().count(), 2, "{out}");
            }
            "json" => {
                let v: serde_json::Value = serde_json::from_str(&out).unwrap();
                assert_eq!(v["rolling_deploy"]["values_running_code"], 1);
                assert_eq!(v["findings"][0]["code"], "CC020");
                assert_eq!(v["findings"][0]["check"], "security");
                let sec: Vec<_> = v["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|f| f["check"] == "security")
                    .collect();
                assert_eq!(sec.len(), 1, "only the poisoned key: {sec:?}");
            }
            _ => {}
        }
    }
    // The baseline round trip: a written baseline holds the security finding and reads back
    // (accepted with a reason, the run exits 0; the verdict line still says what runs).
    let baseline = dir.join("baseline.toml");
    let run = |extra: &[&str]| {
        common::cache_compat()
            .args(["scan", "--redis", &url, "--old", "3.11", "--new", "3.12"])
            .args(["--writer", "pickle:4", "--progress", "none"])
            .args(extra)
            .env_remove("CACHE_COMPAT_CONFIG")
            .current_dir(&dir)
            .output()
            .expect("run cache-compat")
    };
    let o = run(&["--write-baseline", baseline.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let text = std::fs::read_to_string(&baseline).unwrap();
    assert!(
        text.contains("check = \"security\"\ncode = \"CC020\""),
        "{text}"
    );
    std::fs::write(
        &baseline,
        text.replace(
            "TODO: say why this finding is accepted",
            "under investigation",
        ),
    )
    .unwrap();
    let o = run(&["--baseline", baseline.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("NOT SAFE: 1 values run code when loaded"),
        "{out}"
    );
    assert!(out.contains("[accepted: under investigation]"), "{out}");
    assert!(!marker.exists(), "the payload ran");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn obfuscations_report_the_global_they_reach() {
    // The hand-written streams of make_samples.py: what each must name, and the kind.
    let want: &[(&str, &[&str])] = &[
        ("hand/memo_stack_global", &["os.system"]),
        (
            "hand/getattr_import",
            &["__builtin__.getattr", "__builtin__.__import__", "os.system"],
        ),
        (
            "hand/attrgetter_import",
            &["operator.attrgetter", "__builtin__.__import__", "os.system"],
        ),
        (
            "hand/methodcaller_import",
            &[
                "_operator.methodcaller",
                "__builtin__.__import__",
                "os.system",
            ],
        ),
        ("hand/partial_call", &["os.system"]),
        ("hand/partial_setstate", &["os.system"]),
        ("hand/reconstructor_popen", &["subprocess.Popen"]),
        ("hand/inst", &["os.system"]),
        ("hand/obj", &["os.system"]),
        ("hand/newobj_popen", &["subprocess.Popen"]),
        ("hand/dotted_through_module", &["pathlib.os.system"]),
        (
            "hand/getattr_builtins_eval",
            &[
                "__builtin__.getattr",
                "__builtin__.__import__",
                "builtins.eval",
            ],
        ),
        (
            "hand/dunder_globals",
            &["collections.OrderedDict.__init__.__globals__"],
        ),
        ("hand/build_patches_module", &["myapp.utils"]),
    ];
    let apps = AppClasses::default();
    let all = samples();
    for (id, names) in want {
        let v = all.iter().find(|v| v["id"] == *id).expect(id);
        let b = common::unhex(v["pickle"].as_str().unwrap());
        let a = audit_bytes(&b, &apps);
        let d = a.dangerous();
        for n in *names {
            assert!(d.iter().any(|x| x == n), "{id}: {n} not in {d:?}");
        }
    }
    // The EXT code: unknown (nothing registered by default), never dangerous.
    let v = all
        .iter()
        .find(|v| v["id"] == "hand/import_default_ext")
        .unwrap();
    let a = audit_bytes(&common::unhex(v["pickle"].as_str().unwrap()), &apps);
    assert_eq!(a.unknown(), vec!["ext:1".to_string()]);
    assert!(a.dangerous().is_empty());
}

#[test]
fn app_class_option_makes_other_modules_unknown() {
    // appmod.New called through copyreg._reconstructor (a real 2.7 pickle of the corpus): an
    // application class by default; with only `otherapp` named, an unknown global (CC021).
    let p = common::pickles();
    let b = &p["2.7-cpickle/p0/app_new"];
    let default = audit_bytes(b, &AppClasses::default());
    assert!(default.findings.is_empty());
    assert_eq!(default.app_classes, vec!["appmod.New".to_string()]);
    let strict = audit_bytes(b, &AppClasses::only(["otherapp".to_string()]));
    assert_eq!(strict.unknown(), vec!["appmod.New".to_string()]);
    assert!(strict.dangerous().is_empty());
    let named = audit_bytes(b, &AppClasses::only(["appmod".to_string()]));
    assert!(named.findings.is_empty());
}

#[path = "common/layers.rs"]
mod layers;

/// What a real Django 5.1.15 site caches (pinned in tests/e2e/requirements.txt, py313-django),
/// pickled by real Python 3.13: no security finding (its page cache holds http.cookies objects,
/// whose module is otherwise on the danger table), and Django's classes are application classes.
#[test]
fn real_django_cache_values_are_not_security_findings() {
    let deps = layers::pydeps("3.13", "py313-django");
    let o = std::process::Command::new(common::interpreter("3.13"))
        .arg(common::root().join("tests/e2e/django_cached_objects.py"))
        .env("PYTHONPATH", &deps)
        .output()
        .expect("python3.13");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let apps = AppClasses::default();
    let mut n = 0;
    let mut app = 0;
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let b = common::unhex(line);
        let a = audit_bytes(&b, &apps);
        assert!(a.findings.is_empty(), "{line}: {:?}", a.findings);
        app += usize::from(a.app_classes.iter().any(|c| c.starts_with("django.")));
        n += 1;
    }
    assert_eq!(n, 18);
    assert_eq!(app, 15, "every value but the datetime calls a Django class");
}
