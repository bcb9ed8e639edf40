//! Django's cache layers and RQ's job hashes end to end, the way tests/incident.rs rebuilds the
//! Werkzeug incident: a real redis-server per test; real interpreters with the real libraries
//! (pinned in tests/e2e/requirements.txt) fill it; `scan --format jsonl --all` must agree, key by key
//! (and hash field by hash field) and check by check, with what the real layers then do with those
//! values, error texts included. Oracles: tests/e2e/django_cache.py and tests/e2e/rq_jobs.py.
//!
//! * Django's built-in RedisCache (5.1 on 3.13, 4.2 on 3.8; on 3.6 and 3.7, where no Django with
//!   that backend runs, its RedisSerializer code over redis-py), writer profile `django`.
//! * django-redis with the zlib compressor: 5.4 on 3.13 with the default PICKLE_VERSION (profile
//!   `django-redis`) and with PICKLE_VERSION = -1 (`pickle:highest`); 5.0 on 3.6 and 3.7
//!   (`django-redis@5.0`).
//! * RQ jobs (hash `rq:job:<id>`, fields `data` = zlib(pickle) and `meta` = pickle): RQ 2.6 on
//!   3.13, RQ 1.16 on 3.7, profile `pickle:highest`.
//!
//! For each value the real checks are: `old_reads` / `new_reads` (the layer's own get), the cross
//! checks (one side reads what the other side's layer wrote back after reading the value), and
//! `round_trip` (written by one side, read and written back by the other, read by the first: same
//! value?). Values read by both sides are compared through a canonical repr (sets sorted).

mod common;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn normalize(name: &str) -> String {
    name.to_ascii_lowercase().replace(['-', '.'], "_")
}

/// The folder where the pinned packages of `folder` (tests/e2e/requirements.txt) are installed for
/// interpreter `version`; fails naming the folder and the command that installs it.
fn pydeps(version: &str, folder: &str) -> PathBuf {
    let reqs = common::root().join("tests/e2e/requirements.txt");
    let text = std::fs::read_to_string(&reqs).expect("tests/e2e/requirements.txt");
    let pins: Vec<String> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.len() > 2 && w[0] == version && w[1] == folder)
        .unwrap_or_else(|| panic!("no line `{version} {folder} ...` in {}", reqs.display()))[2..]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let base = std::env::var("CACHE_COMPAT_PYDEPS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| common::root().join("target/pydeps"));
    let dir = base.join(folder);
    let installed: BTreeSet<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let stem = n.strip_suffix(".dist-info")?;
                    let (name, ver) = stem.split_once('-')?;
                    Some(format!("{}=={ver}", normalize(name)))
                })
                .collect()
        })
        .unwrap_or_default();
    let missing: Vec<&String> = pins
        .iter()
        .filter(|p| {
            let (n, v) = p.split_once("==").expect("pins are NAME==VERSION");
            !installed.contains(&format!("{}=={v}", normalize(n)))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "the pinned Python {version} packages of {folder} are not installed in {} (missing {missing:?}): \
         run `bash .ci/test-all`, or `{} -m pip install --no-deps --target {} {}`",
        dir.display(),
        common::interpreter(version).display(),
        dir.display(),
        pins.join(" ")
    );
    dir
}

/// What a real cache layer did with one stored value.
#[derive(Debug, Clone)]
struct Real {
    ok: bool,
    error: Option<String>,
    written_back: Option<String>,
    repr: Option<String>,
}

/// (Redis key, hash field).
type Id = (String, Option<String>);

/// A real cache layer: an interpreter, its package folder, the oracle script and its layer args.
struct Layer {
    version: &'static str,
    folder: &'static str,
    script: &'static str,
    args: &'static [&'static str],
}

impl Layer {
    fn run(&self, mode: &str, port: &str, rest: &[String]) -> String {
        let deps = pydeps(self.version, self.folder);
        let o = Command::new(common::interpreter(self.version))
            .arg(common::root().join("tests/e2e").join(self.script))
            .arg(mode)
            .args(self.args)
            .args(["127.0.0.1", port])
            .args(rest)
            .env("PYTHONPATH", deps)
            .env("PYTHONWARNINGS", "ignore")
            .env("PYTHONHASHSEED", "0")
            .output()
            .expect("run python");
        assert!(
            o.status.success(),
            "python {} {} {mode} {:?}: {}",
            self.version,
            self.script,
            self.args,
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn fill(&self, port: &str, prefix: &str) {
        self.run("fill", port, &[prefix.to_string()]);
    }

    fn read(&self, port: &str, keys: &BTreeSet<String>) -> BTreeMap<Id, Real> {
        if keys.is_empty() {
            return BTreeMap::new();
        }
        let keys: Vec<String> = keys.iter().cloned().collect();
        self.run("read", port, &keys)
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("json");
                let s = |n: &str| v[n].as_str().map(str::to_string);
                (
                    (s("key").expect("key"), s("field")),
                    Real {
                        ok: v["ok"].as_bool().expect("ok"),
                        error: s("error"),
                        written_back: s("written_back"),
                        repr: s("repr"),
                    },
                )
            })
            .collect()
    }
}

/// `cache-compat scan --format jsonl --all`: the rows by (key, field), and the exit code.
fn scan(port: &str, args: &[&str], matches: &[&str]) -> (BTreeMap<Id, Value>, i32) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cache-compat"));
    cmd.args(["scan", "--redis", &format!("redis://127.0.0.1:{port}/0")])
        .args(args)
        .args(["--format", "jsonl", "--all"]);
    for m in matches {
        cmd.args(["--match", m]);
    }
    let out = cmd.output().expect("scan");
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "scan {args:?} exit {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rows = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line).expect("jsonl");
        if v.get("summary").is_none() {
            let id = (
                v["key"].as_str().expect("key").to_string(),
                v["field"].as_str().map(str::to_string),
            );
            assert!(rows.insert(id.clone(), v).is_none(), "{id:?} twice");
        }
    }
    (rows, code)
}

/// A check's outcome as the real layers showed it.
#[derive(Debug, PartialEq)]
enum Outcome {
    Ok,
    Changes,
    Fails(String),
    Skipped,
}

fn fails(r: &Real) -> Outcome {
    Outcome::Fails(r.error.clone().unwrap_or_default())
}

/// Read `r` of a value the reading side loaded as `before`: the same value, another, or an error.
fn reread(before: &Real, r: &Real) -> Outcome {
    if !r.ok {
        fails(r)
    } else if before.repr == r.repr {
        Outcome::Ok
    } else {
        Outcome::Changes
    }
}

struct Report {
    rows: usize,
    compared: usize,
    disagreements: Vec<String>,
    real_findings: usize,
}

/// Runs the real layers over the scanned keys and compares every check of every row.
fn compare(port: &str, rows: &BTreeMap<Id, Value>, old: &Layer, new: &Layer) -> Report {
    let keys: BTreeSet<String> = rows.keys().map(|(k, _)| k.clone()).collect();
    let wb = |m: &BTreeMap<Id, Real>| -> BTreeSet<String> {
        m.values().filter_map(|r| r.written_back.clone()).collect()
    };
    let o1 = old.read(port, &keys);
    let n1 = new.read(port, &keys);
    let n2 = new.read(port, &wb(&o1)); // new reads what old wrote back
    let o2 = old.read(port, &wb(&n1)); // old reads what new wrote back
    let o3 = old.read(port, &wb(&n2)); // ... and what new wrote back of that
    let n3 = new.read(port, &wb(&o2));
    let at = |m: &BTreeMap<Id, Real>, r: &Real, field: &Option<String>| -> Option<Real> {
        let k = r.written_back.clone()?;
        Some(
            m.get(&(k.clone(), field.clone()))
                .unwrap_or_else(|| panic!("no real read of {k} {field:?}"))
                .clone(),
        )
    };
    let mut rep = Report {
        rows: 0,
        compared: 0,
        disagreements: Vec::new(),
        real_findings: 0,
    };
    for (id, row) in rows {
        let (key, field) = id;
        let checks = &row["checks"];
        if checks.is_null() {
            if field.is_none() {
                // A string value that is no pickle: Django's ints, ASCII digits. Both layers read them.
                assert_eq!(row["envelope"], "ascii-int", "{key}: {row}");
                assert!(o1[id].ok && n1[id].ok, "{key}: ints load on both sides");
            }
            // Hash fields that are no pickle (RQ's status, timestamps, ...) are RQ's text.
            continue;
        }
        rep.rows += 1;
        let (o, n) = (
            o1.get(id)
                .unwrap_or_else(|| panic!("{id:?}: the old layer did not read it")),
            n1.get(id)
                .unwrap_or_else(|| panic!("{id:?}: the new layer did not read it")),
        );
        let old_reads = if o.ok { Outcome::Ok } else { fails(o) };
        let new_reads = if !n.ok {
            fails(n)
        } else if o.ok {
            reread(o, n)
        } else {
            Outcome::Ok
        };
        let cross = |from: &Real, m: &BTreeMap<Id, Real>| match at(m, from, field) {
            Some(back) => reread(from, &back),
            None => Outcome::Skipped,
        };
        let old_reads_new_write = cross(n, &o2);
        let new_reads_old_write = cross(o, &n2);
        // a -> b -> a, from the side that loaded the stored value (the old one first).
        let trip = |v: &Real, b1: &BTreeMap<Id, Real>, a2: &BTreeMap<Id, Real>| {
            let vb = at(b1, v, field).expect("written back");
            if !vb.ok {
                return fails(&vb);
            }
            let back = at(a2, &vb, field).expect("written back");
            reread(v, &back)
        };
        let round_trip = if o.ok {
            trip(o, &n2, &o3)
        } else if n.ok {
            trip(n, &o2, &n3)
        } else {
            Outcome::Skipped
        };
        for (name, real) in [
            ("old_reads", old_reads),
            ("new_reads", new_reads),
            ("old_reads_new_write", old_reads_new_write),
            ("new_reads_old_write", new_reads_old_write),
            ("round_trip", round_trip),
        ] {
            let c = &checks[name];
            let ours = match c["outcome"].as_str().unwrap_or("") {
                "ok" => Some(Outcome::Ok),
                "changes" => Some(Outcome::Changes),
                "fails" => Some(Outcome::Fails(
                    c["error"].as_str().unwrap_or_default().to_string(),
                )),
                "skipped" => Some(Outcome::Skipped),
                _ => None, // unknown: the model could not say; the real layer did.
            };
            if matches!(real, Outcome::Changes | Outcome::Fails(_)) {
                rep.real_findings += 1;
            }
            if real != Outcome::Skipped {
                rep.compared += 1;
            }
            if ours.as_ref() != Some(&real) {
                let what = match field {
                    Some(f) => format!("{key} [{f}]"),
                    None => key.clone(),
                };
                rep.disagreements
                    .push(format!("{what} {name}: real {real:?}, ours {c}"));
            }
        }
    }
    rep
}

/// One scan compared with the real layers; prints the counts, returns the rows and the report.
fn scenario(
    port: &str,
    label: &str,
    args: &[&str],
    matches: &[&str],
    old: &Layer,
    new: &Layer,
) -> (BTreeMap<Id, Value>, Report) {
    let (rows, code) = scan(port, args, matches);
    assert!(!rows.is_empty(), "{label}: the scan saw no key");
    let rep = compare(port, &rows, old, new);
    println!(
        "{label}: {} rows ({} pickles), {} checks compared with the real layers ({} real findings), {} disagreements",
        rows.len(),
        rep.rows,
        rep.compared,
        rep.real_findings,
        rep.disagreements.len()
    );
    for d in &rep.disagreements {
        println!("  {d}");
    }
    let ours_findings = rows.values().any(|r| {
        r["checks"].as_object().is_some_and(|c| {
            c.values()
                .any(|x| matches!(x["outcome"].as_str(), Some("fails" | "changes")))
        })
    });
    assert_eq!(code, i32::from(ours_findings), "{label}: exit status");
    (rows, rep)
}

fn error_of<'a>(
    rows: &'a BTreeMap<Id, Value>,
    key: &str,
    field: Option<&str>,
    check: &str,
) -> &'a str {
    rows[&(key.to_string(), field.map(str::to_string))]["checks"][check]["error"]
        .as_str()
        .unwrap_or("")
}

const P5: &str = "ValueError: unsupported pickle protocol: 5";

fn django_layer(version: &'static str, args: &'static [&'static str]) -> Layer {
    let folder = match version {
        "3.13" => "py313-django",
        "3.8" => "py38-django",
        "3.7" => "py37-django-redis",
        "3.6" => "py36-django-redis",
        v => panic!("no Django folder for {v}"),
    };
    Layer {
        version,
        folder,
        script: "django_cache.py",
        args,
    }
}

#[test]
fn django_rediscache_py313_agrees_with_real_readers_on_36_37_38() {
    let t = Instant::now();
    let server = common::start_redis();
    let port = server.port.to_string();
    let new = django_layer("3.13", &["django"]);
    new.fill(&port, "dj313:");
    let mut all = Vec::new();
    for old_v in ["3.6", "3.7", "3.8"] {
        let old = django_layer(old_v, &["django"]);
        let tag = old_v.replace('.', "");
        old.fill(&port, &format!("dj{tag}:"));
        let mine = format!(":1:dj{tag}:*");
        let (rows, rep) = scenario(
            &port,
            &format!("django RedisCache {old_v} <-> 3.13"),
            &["--old", old_v, "--new", "3.13", "--writer", "django"],
            &[":1:dj313:*", &mine],
            &old,
            &new,
        );
        assert!(rep.rows >= 30, "{}", rep.rows);
        // What 3.13's Django writes (protocol 5), with CPython's words.
        let ours = error_of(&rows, ":1:dj313:text_cjk", None, "old_reads");
        if old_v == "3.8" {
            assert_eq!(ours, "");
        } else {
            assert_eq!(ours, P5);
        }
        all.push(rep);
    }
    let compared: usize = all.iter().map(|r| r.compared).sum();
    let dis: Vec<String> = all.into_iter().flat_map(|r| r.disagreements).collect();
    println!(
        "django RedisCache: {compared} checks compared, {} disagreements, {:.1} s",
        dis.len(),
        t.elapsed().as_secs_f64()
    );
    assert!(dis.is_empty(), "{}", dis.join("\n"));
}

#[test]
fn django_redis_zlib_py313_agrees_with_real_django_redis_on_36_37() {
    let t = Instant::now();
    let server = common::start_redis();
    let port = server.port.to_string();
    let new = django_layer("3.13", &["django-redis"]);
    let new_highest = django_layer("3.13", &["django-redis-highest"]);
    new.fill(&port, "dr313:");
    new_highest.fill(&port, "drh313:");
    let mut all = Vec::new();
    for old_v in ["3.6", "3.7"] {
        let old = django_layer(old_v, &["django-redis"]);
        let tag = old_v.replace('.', "");
        old.fill(&port, &format!("dr{tag}:"));
        let mine = format!(":1:dr{tag}:*");
        // django-redis 5.4 default: DEFAULT_PROTOCOL (4 on 3.13), which 3.6 and 3.7 read.
        let (rows, rep) = scenario(
            &port,
            &format!("django-redis zlib {old_v} (5.0) <-> 3.13 (5.4)"),
            &[
                "--old",
                old_v,
                "--new",
                "3.13",
                "--old-writer",
                "django-redis@5.0",
                "--new-writer",
                "django-redis",
            ],
            &[":1:dr313:*", &mine],
            &old,
            &new,
        );
        let page = &rows[&(":1:dr313:page_text".to_string(), None)];
        assert_eq!(page["envelope"], "zlib", "{page}");
        assert_eq!(page["protocol"], 4, "{page}");
        // Pickles of 15 bytes or less are stored uncompressed (ZlibCompressor.min_length).
        assert_eq!(
            rows[&(":1:dr313:flag".to_string(), None)]["envelope"],
            "plain"
        );
        all.push(rep);
        // PICKLE_VERSION = -1: protocol 5, which they do not.
        let (rows, rep) = scenario(
            &port,
            &format!("django-redis zlib PICKLE_VERSION=-1 {old_v} (5.0) <-> 3.13 (5.4)"),
            &[
                "--old",
                old_v,
                "--new",
                "3.13",
                "--old-writer",
                "django-redis@5.0",
                "--new-writer",
                "pickle:highest",
            ],
            &[":1:drh313:*"],
            &old,
            &new_highest,
        );
        assert_eq!(
            error_of(&rows, ":1:drh313:page_text", None, "old_reads"),
            P5
        );
        assert_eq!(error_of(&rows, ":1:drh313:flag", None, "old_reads"), P5);
        all.push(rep);
    }
    let compared: usize = all.iter().map(|r| r.compared).sum();
    let dis: Vec<String> = all.into_iter().flat_map(|r| r.disagreements).collect();
    println!(
        "django-redis: {compared} checks compared, {} disagreements, {:.1} s",
        dis.len(),
        t.elapsed().as_secs_f64()
    );
    assert!(dis.is_empty(), "{}", dis.join("\n"));
}

#[test]
fn rq_job_hashes_py313_agree_with_real_rq_on_37() {
    let t = Instant::now();
    let server = common::start_redis();
    let port = server.port.to_string();
    let rq = |version, folder| Layer {
        version,
        folder,
        script: "rq_jobs.py",
        args: &[],
    };
    let new = rq("3.13", "py313-rq");
    let old = rq("3.7", "py37-rq");
    new.fill(&port, "py313-");
    old.fill(&port, "py37-");
    let (rows, rep) = scenario(
        &port,
        "rq 3.7 (1.16) <-> 3.13 (2.6)",
        &[
            "--old",
            "3.7",
            "--new",
            "3.13",
            "--writer",
            "pickle:highest",
        ],
        &["rq:job:py313-*", "rq:job:py37-*"],
        &old,
        &new,
    );
    // Every job has a zlib `data` and a bare `meta`, both pickles.
    assert_eq!(rep.rows, 2 * 2 * 12, "{}", rep.rows);
    for ((key, field), r) in &rows {
        match field.as_deref() {
            Some("data") => assert_eq!(r["envelope"], "zlib", "{key}"),
            Some("meta") => assert_eq!(r["envelope"], "plain", "{key}"),
            _ => assert!(r["checks"].is_null(), "{key} {field:?}: {r}"),
        }
    }
    assert_eq!(
        error_of(&rows, "rq:job:py313-text_cjk", Some("data"), "old_reads"),
        P5
    );
    assert_eq!(
        error_of(
            &rows,
            "rq:job:py37-text_cjk",
            Some("data"),
            "old_reads_new_write"
        ),
        P5
    );
    println!(
        "rq: {} checks compared, {} disagreements, {:.1} s",
        rep.compared,
        rep.disagreements.len(),
        t.elapsed().as_secs_f64()
    );
    assert!(
        rep.disagreements.is_empty(),
        "{}",
        rep.disagreements.join("\n")
    );
}
