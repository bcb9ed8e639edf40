//! The security view (CC020 code-on-load, CC021 unknown-global) against what others consider
//! malicious and against every benign value of the corpora.
//!
//! Malicious: corpora/malicious/samples.jsonl, written by real CPython interpreters
//! (corpora/malicious/make_samples.py) from the gadgets picklescan 1.0.5 and fickling 0.1.12 name
//! in their tests and deny lists (corpora/malicious/README.md). Benign: every pickle of
//! corpora/pickles.jsonl (real 2.7 and 3.6-3.13 writers: datetime, Decimal, OrderedDict,
//! zoneinfo, partials, corpora/gen/appmod classes, ...) and the demo snapshot.

mod common;

use cache_compat::pickle::parse::parse;
use cache_compat::runtime::load::AppClasses;
use cache_compat::security::{Kind, audit};

fn audit_bytes(b: &[u8], apps: &AppClasses) -> cache_compat::security::Audit {
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
    assert!(n > 9_000, "{n} corpus pickles");
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
    assert!(deny >= 1200, "{deny} denied");
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
