//! The comparison of tests/django.rs, shared by the tests of more cache layers (tests/envelopes.rs):
//! a real cache layer (an interpreter, its pinned packages, an oracle script) reads every key the
//! scan judged, writes back what it loaded, and the other side reads that; every check of every
//! row is compared with what the real layers did. Include with `#[path = "common/layers.rs"]`.
#![allow(dead_code)]

use super::common;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

pub fn normalize(name: &str) -> String {
    name.to_ascii_lowercase().replace(['-', '.'], "_")
}

/// The folder where the pinned packages of `folder` (tests/e2e/requirements.txt) are installed for
/// interpreter `version`; fails naming the folder and the command that installs it.
pub fn pydeps(version: &str, folder: &str) -> PathBuf {
    let reqs = common::root().join("tests/e2e/requirements.txt");
    let mut text = std::fs::read_to_string(&reqs).expect("tests/e2e/requirements.txt");
    // The incident's folders (py27, py38) are pinned in .ci/test-all itself:
    // `install_pydeps 2.7 "$PYDEPS/py27" werkzeug==0.16.1 redis==3.5.3`.
    let ci = std::fs::read_to_string(common::root().join(".ci/test-all")).unwrap_or_default();
    for l in ci.lines() {
        if let Some(rest) = l.strip_prefix("install_pydeps ") {
            text.push('\n');
            text.push_str(&rest.replace("\"$PYDEPS/", "").replace('"', ""));
        }
    }
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
                    // wheels leave NAME-VER.dist-info, `setup.py install` NAME-VER-pyX.Y.egg-info
                    let stem = n
                        .strip_suffix(".dist-info")
                        .or_else(|| n.strip_suffix(".egg-info"))?;
                    let (name, ver) = stem.split_once('-')?;
                    let ver = ver.split("-py").next().unwrap_or(ver);
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
pub struct Real {
    pub ok: bool,
    pub error: Option<String>,
    pub written_back: Option<String>,
    pub repr: Option<String>,
    /// The type-exact rendering (py2 str, unicode, int and long apart), where the oracle gives
    /// one; compared when both values come from the same runtime (a round trip).
    pub exact: Option<String>,
    /// A py2 value holding a long that py2 itself would have as an int.
    pub small_long: bool,
    /// The layer returned None.
    pub none: bool,
}

/// (Redis key, hash field).
pub type Id = (String, Option<String>);

/// A real cache layer: an interpreter, its package folder, the oracle script and its layer args.
pub struct Layer {
    pub version: &'static str,
    pub folder: &'static str,
    pub script: &'static str,
    pub args: &'static [&'static str],
}

impl Layer {
    pub fn run(&self, mode: &str, port: &str, rest: &[String]) -> String {
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

    pub fn fill(&self, port: &str, prefix: &str) {
        self.run("fill", port, &[prefix.to_string()]);
    }

    pub fn read(&self, port: &str, keys: &BTreeSet<String>) -> BTreeMap<Id, Real> {
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
                        exact: s("exact").or_else(|| s("repr")),
                        small_long: v["small_long"].as_bool().unwrap_or(false),
                        none: v["none"].as_bool().unwrap_or(false),
                    },
                )
            })
            .collect()
    }
}

/// `cache-compat scan --format jsonl --all`: the rows by (key, field), and the exit code.
pub fn scan(port: &str, args: &[&str], matches: &[&str]) -> (BTreeMap<Id, Value>, i32) {
    scan_source(
        &["--redis", &format!("redis://127.0.0.1:{port}/0")],
        args,
        matches,
    )
}

/// `cache-compat scan SOURCE ... --format jsonl --all`.
pub fn scan_source(source: &[&str], args: &[&str], matches: &[&str]) -> (BTreeMap<Id, Value>, i32) {
    let mut cmd = common::cache_compat();
    cmd.arg("scan")
        .args(source)
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
            // What real cache libraries write is data: never a security finding (CC020/CC021).
            assert!(
                v.get("security").is_none(),
                "{id:?}: a real cache layer's value is a security finding: {}",
                v["security"]
            );
            assert!(rows.insert(id.clone(), v).is_none(), "{id:?} twice");
        }
    }
    (rows, code)
}

/// A check's outcome as the real layers showed it.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Ok,
    Changes,
    Fails(String),
    Skipped,
}

pub fn fails(r: &Real) -> Outcome {
    Outcome::Fails(r.error.clone().unwrap_or_default())
}

/// Read `r` of a value the reading side loaded as `before`: the same value, another, or an error.
pub fn reread(before: &Real, r: &Real) -> Outcome {
    if !r.ok {
        fails(r)
    } else if before.repr == r.repr {
        Outcome::Ok
    } else {
        Outcome::Changes
    }
}

pub struct Report {
    /// Checks the models answered `unknown` where the real layer did something.
    pub unknown: Vec<String>,
    pub rows: usize,
    pub compared: usize,
    pub disagreements: Vec<String>,
    pub real_findings: usize,
}

/// Runs the real layers over the scanned keys and compares every check of every row.
pub fn compare(port: &str, rows: &BTreeMap<Id, Value>, old: &Layer, new: &Layer) -> Report {
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
        unknown: Vec::new(),
        rows: 0,
        compared: 0,
        disagreements: Vec::new(),
        real_findings: 0,
    };
    for (id, row) in rows {
        let (key, field) = id;
        let checks = &row["checks"];
        if checks.is_null() {
            if field.is_some() {
                // Hash fields that are no pickle (RQ's status, timestamps, ...) are RQ's text.
                continue;
            }
            // A string value that is no pickle: ASCII digits, which both layers read as ints.
            assert_eq!(row["envelope"], "ascii-int", "{key}: {row}");
            assert!(
                o1[id].ok && n1[id].ok && o1[id].repr == n1[id].repr,
                "{key}: ints load on both sides"
            );
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
        // A py2 reader of what a py3 layer wrote that gets a long where py2 has an int: a change.
        let py2 = |l: &Layer| l.version.starts_with("2.");
        let cross = |from: &Real, m: &BTreeMap<Id, Real>, writer: &Layer, reader: &Layer| match at(
            m, from, field,
        ) {
            Some(back) if back.ok && py2(reader) && !py2(writer) && back.small_long => {
                Outcome::Changes
            }
            Some(back) => reread(from, &back),
            None => Outcome::Skipped,
        };
        let old_reads_new_write = cross(n, &o2, new, old);
        let new_reads_old_write = cross(o, &n2, old, new);
        // a -> b -> a, from the side that loaded the stored value (the old one first).
        let trip = |v: &Real, b1: &BTreeMap<Id, Real>, a2: &BTreeMap<Id, Real>| {
            let vb = at(b1, v, field).expect("written back");
            if !vb.ok {
                return fails(&vb);
            }
            let back = at(a2, &vb, field).expect("written back");
            if !back.ok {
                return fails(&back);
            }
            // Both values are the same runtime's: compare them type for type.
            if v.exact == back.exact {
                Outcome::Ok
            } else {
                Outcome::Changes
            }
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
            if ours.is_none() && real != Outcome::Skipped {
                // Not a wrong answer, but no answer: counted and listed apart.
                rep.unknown
                    .push(format!("{key} {field:?} {name}: real {real:?}, ours {c}"));
                continue;
            }
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

/// The RQ case of tests/django.rs and tests/envelopes.rs: RQ 1.16 on 3.7 (old) and RQ 2.6 on 3.13
/// (new), each having filled the server with its jobs (tests/e2e/rq_jobs.py; keys `rq:job:py37-*`
/// and `rq:job:py313-*`).
pub fn rq_layers(port: &str) -> (Layer, Layer) {
    let rq = |version, folder| Layer {
        version,
        folder,
        script: "rq_jobs.py",
        args: &[],
    };
    let new = rq("3.13", "py313-rq");
    let old = rq("3.7", "py37-rq");
    new.fill(port, "py313-");
    old.fill(port, "py37-");
    (old, new)
}

/// One scan compared with the real layers; prints the counts, returns the rows and the report.
pub fn scenario(
    port: &str,
    label: &str,
    args: &[&str],
    matches: &[&str],
    old: &Layer,
    new: &Layer,
) -> (BTreeMap<Id, Value>, Report) {
    let (rows, code) = scan(port, args, matches);
    let rep = judge_rows(port, label, &rows, code, old, new);
    (rows, rep)
}

/// The rows of a scan compared with the real layers; prints the counts.
pub fn judge_rows(
    port: &str,
    label: &str,
    rows: &BTreeMap<Id, Value>,
    code: i32,
    old: &Layer,
    new: &Layer,
) -> Report {
    assert!(!rows.is_empty(), "{label}: the scan saw no key");
    let rep = compare(port, rows, old, new);
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
    for u in &rep.unknown {
        println!("  unknown (not compared): {u}");
    }
    let ours_findings = rows.values().any(|r| {
        r["checks"].as_object().is_some_and(|c| {
            c.values()
                .any(|x| matches!(x["outcome"].as_str(), Some("fails" | "changes")))
        })
    });
    assert_eq!(code, i32::from(ours_findings), "{label}: exit status");
    rep
}

pub fn error_of<'a>(
    rows: &'a BTreeMap<Id, Value>,
    key: &str,
    field: Option<&str>,
    check: &str,
) -> &'a str {
    rows[&(key.to_string(), field.map(str::to_string))]["checks"][check]["error"]
        .as_str()
        .unwrap_or("")
}
