//! More cache libraries' envelopes end to end, the way tests/django.rs does Django: a real
//! redis-server per test; real interpreters with the real libraries (pinned in
//! tests/e2e/requirements.txt) fill it; `scan --format jsonl --all` must agree, key by key and check
//! by check, with what the real layers then do with those values (their reads, their write-backs,
//! the other side's reads of those), error texts included. Oracle: tests/e2e/cache_layers.py.
//!
//! * cachelib: 0.9.0 on 3.7 (ints pickled, HIGHEST = 4) against 0.13.0 on 3.11 (ints pickled,
//!   HIGHEST = 5) and 0.17.0 on 3.11 (ints as ASCII digits): profiles `cachelib@V`.
//! * Flask-Caching 1.11.1 on 3.7 (cachelib 0.7.0) against 2.3.0 on 3.11 (cachelib 0.9.0).
//! * Damaged `!` values under Werkzeug, cachelib and Flask-Caching: a `pickle.PickleError` is a
//!   cache miss (the layer returns None), other exceptions propagate.
//! * dogpile.cache 1.0.2 on 3.8 (pickled CachedValue) against 1.3.3 on 3.11 (JSON header + `|`).
//! * Beaker ext:redis, 1.11.0 on 2.7 (stdlib `pickle`, so runtime `2.7-pickle`) against 1.13.0 on
//!   3.11, with `--writer auto` (the profile inferred from each value).
//! * Celery with the pickle serializer: 4.4.7 / kombu 4.6.11 on 2.7 (protocol 2) against 5.3.6 /
//!   kombu 5.3.7 on 3.11 (protocol 4) and 5.0.5 / kombu 5.0.2 on 3.8 (protocol 2): result keys
//!   `celery-task-meta-<id>` (live scan), and broker messages in Redis lists (the JSON envelope
//!   with a base64 body), judged from a snapshot of the list items (the live scan reads strings
//!   and hashes).
//! * RQ jobs (tests/e2e/rq_jobs.py, as in tests/django.rs) under `--writer auto`.

mod common;
#[path = "common/layers.rs"]
mod layers;

use layers::{Id, Layer, error_of, judge_rows, rq_layers, scan_source, scenario};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

const P4: &str = "ValueError: unsupported pickle protocol: 4";
const P5: &str = "ValueError: unsupported pickle protocol: 5";

fn layer(version: &'static str, folder: &'static str, name: &'static str) -> Layer {
    let args: &'static [&'static str] = match name {
        "cachelib" => &["cachelib"],
        "flask-caching" => &["flask-caching"],
        "dogpile" => &["dogpile"],
        "beaker" => &["beaker"],
        "celery-result" => &["celery-result"],
        "celery-broker" => &["celery-broker"],
        other => panic!("no layer {other}"),
    };
    Layer {
        version,
        folder,
        script: "cache_layers.py",
        args,
    }
}

fn finish(label: &str, t: Instant, reps: Vec<layers::Report>) {
    let compared: usize = reps.iter().map(|r| r.compared).sum();
    let rows: usize = reps.iter().map(|r| r.rows).sum();
    let unknown: usize = reps.iter().map(|r| r.unknown.len()).sum();
    let dis: Vec<String> = reps.into_iter().flat_map(|r| r.disagreements).collect();
    println!(
        "{label}: {rows} values, {compared} checks compared, {} disagreements, {unknown} unknown, {:.1} s",
        dis.len(),
        t.elapsed().as_secs_f64()
    );
    assert!(dis.is_empty(), "{}", dis.join("\n"));
}

fn outcome<'a>(rows: &'a BTreeMap<Id, Value>, key: &str, check: &str) -> &'a str {
    rows[&(key.to_string(), None)]["checks"][check]["outcome"]
        .as_str()
        .unwrap_or("")
}

#[test]
fn cachelib_versions_and_their_ints_agree_with_real_cachelib() {
    let t = Instant::now();
    let server = common::start_redis();
    let port = server.port.to_string();
    let old = layer("3.7", "py37-cachelib", "cachelib");
    old.fill(&port, "cl37:");
    let mut reps = Vec::new();
    for (folder, ver, tag) in [
        ("py311-cachelib013", "cachelib@0.13", "cl13:"),
        ("py311-cachelib017", "cachelib@0.17", "cl17:"),
    ] {
        let new = layer("3.11", folder, "cachelib");
        new.fill(&port, tag);
        let (rows, rep) = scenario(
            &port,
            &format!("cachelib 0.9 on 3.7 <-> {ver} on 3.11"),
            &[
                "--old",
                "3.7",
                "--new",
                "3.11",
                "--old-writer",
                "cachelib@0.9",
                "--new-writer",
                ver,
            ],
            &["cl37:*", &format!("{tag}*")],
            &old,
            &new,
        );
        let count = |p: &str| rows[&(format!("{p}count"), None)].clone();
        // 0.9 pickles ints (`!` + protocol 4 on 3.7), 0.17 stores digits, 0.13 pickles them at 5.
        assert_eq!(count("cl37:")["envelope"], "bang");
        if ver == "cachelib@0.17" {
            assert_eq!(count(tag)["envelope"], "ascii-int");
            // 3.11 reads the 3.7 int and writes digits back, which 3.7 reads.
            assert_eq!(outcome(&rows, "cl37:count", "old_reads_new_write"), "ok");
        } else {
            assert_eq!(error_of(&rows, "cl13:count", None, "old_reads"), P5);
            assert_eq!(
                error_of(&rows, "cl37:count", None, "old_reads_new_write"),
                format!("{P5}")
            );
        }
        reps.push(rep);
    }
    finish("cachelib", t, reps);
}

/// Flask-Caching 1.11.1 (3.7, cachelib 0.7.0: Flask-Caching's own dump_object, default protocol,
/// ints as digits) against 2.3.0 (3.11, cachelib 0.9.0: cachelib's serializer, HIGHEST, ints
/// pickled): profiles `flask-caching@1.11` and `flask-caching@2.3.0`.
#[test]
fn flask_caching_1_11_and_2_3_agree_with_real_flask_caching() {
    let t = Instant::now();
    let server = common::start_redis();
    let port = server.port.to_string();
    let old = layer("3.7", "py37-flaskcaching111", "flask-caching");
    let new = layer("3.11", "py311-flaskcaching23", "flask-caching");
    old.fill(&port, "fc111:");
    new.fill(&port, "fc23:");
    let (rows, rep) = scenario(
        &port,
        "Flask-Caching 1.11.1 on 3.7 <-> 2.3.0 on 3.11",
        &[
            "--old",
            "3.7",
            "--new",
            "3.11",
            "--old-writer",
            "flask-caching@1.11",
            "--new-writer",
            "flask-caching@2.3.0",
        ],
        &["fc111:*", "fc23:*"],
        &old,
        &new,
    );
    // 1.11 writes ints as digits and pickles at 3.7's default (3); 2.3 pickles ints too, at 5,
    // which 3.7 cannot read.
    assert_eq!(
        rows[&("fc111:count".to_string(), None)]["envelope"],
        "ascii-int"
    );
    assert_eq!(rows[&("fc23:count".to_string(), None)]["envelope"], "bang");
    assert_eq!(error_of(&rows, "fc23:count", None, "old_reads"), P5);
    finish("flask-caching", t, vec![rep]);
}

#[test]
fn dogpile_10_and_13_agree_with_real_dogpile() {
    let t = Instant::now();
    let server = common::start_redis();
    let port = server.port.to_string();
    let old = layer("3.8", "py38-dogpile10", "dogpile");
    let new = layer("3.11", "py311-dogpile13", "dogpile");
    old.fill(&port, "dp10:");
    new.fill(&port, "dp13:");
    // Values other layers left in the same Redis: cachelib's `!` + pickle, a py2 protocol-0
    // pickle, a bare protocol-4 pickle. Both dogpile versions fail on them, differently.
    for (key, value) in [
        (
            "dpraw:bang",
            &b"!\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00\x8c\x01x\x94."[..],
        ),
        ("dpraw:p0", b"S'abc'\np0\n."),
        ("dpraw:plain", b"\x80\x04K*."),
    ] {
        let mut child = std::process::Command::new("redis-cli")
            .args(["-p", &port, "-x", "set", key])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-cli");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(value)
            .expect("write");
        assert!(child.wait().expect("redis-cli").success());
    }
    let (rows, rep) = scenario(
        &port,
        "dogpile.cache 1.0 on 3.8 <-> 1.3 on 3.11",
        &[
            "--old",
            "3.8",
            "--new",
            "3.11",
            "--old-writer",
            "dogpile@1.0",
            "--new-writer",
            "dogpile@1.3",
        ],
        &["dp10:*", "dp13:*", "dpraw:*"],
        &old,
        &new,
    );
    assert_eq!(
        rows[&("dp10:count".to_string(), None)]["envelope"],
        "dogpile-cachedvalue"
    );
    assert_eq!(
        rows[&("dp13:count".to_string(), None)]["envelope"],
        "dogpile-json"
    );
    assert_eq!(
        error_of(&rows, "dp13:count", None, "old_reads"),
        "_pickle.UnpicklingError: invalid load key, '{'."
    );
    assert_eq!(
        error_of(&rows, "dp10:count", None, "new_reads"),
        "UnicodeDecodeError: 'utf-8' codec can't decode byte 0x80 in position 0: invalid start byte"
    );
    for (key, check, error) in [
        (
            "dpraw:p0",
            "old_reads",
            "AttributeError: 'str' object has no attribute 'metadata'",
        ),
        (
            "dpraw:p0",
            "new_reads",
            "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
        ),
        (
            "dpraw:bang",
            "new_reads",
            "UnicodeDecodeError: 'utf-8' codec can't decode byte 0x80 in position 1: invalid start byte",
        ),
        (
            "dpraw:bang",
            "old_reads",
            "_pickle.UnpicklingError: invalid load key, '!'.",
        ),
    ] {
        assert_eq!(error_of(&rows, key, None, check), error, "{key} {check}");
    }
    finish("dogpile", t, vec![rep]);
}

#[test]
fn beaker_py27_and_py311_agree_with_real_beaker_under_auto() {
    let t = Instant::now();
    let server = common::start_redis();
    let port = server.port.to_string();
    let old = layer("2.7", "py27-beaker", "beaker");
    let new = layer("3.11", "py311-beaker", "beaker");
    old.fill(&port, "bk27:");
    new.fill(&port, "bk311:");
    let (rows, rep) = scenario(
        &port,
        "Beaker 1.11 on 2.7 (stdlib pickle) <-> 1.13 on 3.11, --writer auto",
        &["--old", "2.7-pickle", "--new", "3.11", "--writer", "auto"],
        &["beaker_cache:ns:*"],
        &old,
        &new,
    );
    for ((key, _), r) in &rows {
        assert_eq!(r["writer"], "auto:beaker", "{key}: {r}");
    }
    assert_eq!(
        error_of(&rows, "beaker_cache:ns:bk311:count", None, "old_reads"),
        P4
    );
    let ours = error_of(&rows, "beaker_cache:ns:bk27:native_utf8", None, "new_reads");
    assert!(ours.starts_with("UnicodeDecodeError: 'ascii'"), "{ours}");
    finish("beaker", t, vec![rep]);
}

/// Celery 4.4.7 on 2.7 against a newer Celery on 3.x: result keys (live scan) and broker
/// messages (a snapshot of the list items), each compared with the real layers.
fn celery_case(
    new_version: &'static str,
    new_folder: &'static str,
    new_profile: &str,
    tag: &str,
) -> (
    BTreeMap<Id, Value>,
    BTreeMap<Id, Value>,
    Vec<layers::Report>,
) {
    let server = common::start_redis();
    let port = server.port.to_string();
    let args = [
        "--old",
        "2.7",
        "--new",
        new_version,
        "--old-writer",
        "celery@4.4",
        "--new-writer",
        new_profile,
    ];
    let label = format!("Celery 4.4 on 2.7 <-> {new_profile} on {new_version}");
    // Result keys, scanned live.
    let old = layer("2.7", "py27-celery", "celery-result");
    let new = layer(new_version, new_folder, "celery-result");
    old.fill(&port, "cr27:");
    new.fill(&port, &format!("cr{tag}:"));
    let (results, rep_results) = scenario(
        &port,
        &format!("{label}: results"),
        &args,
        &["celery-task-meta-cr*"],
        &old,
        &new,
    );
    // Broker messages: one kombu message in each list; their bytes go into a snapshot.
    let old = layer("2.7", "py27-celery", "celery-broker");
    let new = layer(new_version, new_folder, "celery-broker");
    old.fill(&port, "cb27:");
    new.fill(&port, &format!("cb{tag}:"));
    let lists: Vec<String> = String::from_utf8_lossy(
        &std::process::Command::new("redis-cli")
            .args(["-p", &port, "--scan", "--pattern", "cb*"])
            .output()
            .expect("redis-cli")
            .stdout,
    )
    .lines()
    .filter(|k| !k.contains("binding")) // kombu's exchange bindings (a set per exchange)
    .map(str::to_string)
    .collect();
    assert_eq!(lists.len(), 21 + 22, "{lists:?}");
    let raw = old.run("raw", &port, &lists);
    let snap = server.dir.join("broker.snapshot.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&snap).expect("snapshot"),
        flate2::Compression::new(6),
    );
    writeln!(
        gz,
        "{}",
        serde_json::json!({"cache_compat_snapshot": 1, "source": "redis-cli LRANGE"})
    )
    .expect("write");
    for line in raw.lines() {
        let v: Value = serde_json::from_str(line).expect("json");
        let key = v["key"].as_str().expect("key");
        let field = v["field"].as_str().expect("field");
        writeln!(
            gz,
            "{}",
            serde_json::json!({"key": common::hex(key.as_bytes()), "type": "list",
                "field": common::hex(field.as_bytes()), "ttl_ms": null, "value": v["hex"]})
        )
        .expect("write");
    }
    gz.finish().expect("gzip");
    let (broker, code) = scan_source(&["--snapshot", snap.to_str().expect("path")], &args, &[]);
    for ((key, _), r) in &broker {
        assert_eq!(r["envelope"], "kombu", "{key}: {r}");
    }
    let rep_broker = judge_rows(
        &port,
        &format!("{label}: broker messages (snapshot of the lists)"),
        &broker,
        code,
        &old,
        &new,
    );
    (results, broker, vec![rep_results, rep_broker])
}

fn check_of<'a>(
    rows: &'a BTreeMap<Id, Value>,
    key: &str,
    field: Option<&str>,
    check: &str,
) -> &'a Value {
    &rows[&(key.to_string(), field.map(str::to_string))]["checks"][check]
}

#[test]
fn celery_53_results_and_broker_messages_agree_with_real_celery() {
    // kombu 5.1+ pickles at protocol 4: py2 workers cannot read what 3.11 sends.
    let t = Instant::now();
    let (results, broker, reps) = celery_case("3.11", "py311-celery", "celery@5.3", "311");
    assert_eq!(
        error_of(&results, "celery-task-meta-cr311:count", None, "old_reads"),
        P4
    );
    assert_eq!(
        check_of(&broker, "cb311:count", Some("0"), "old_reads")["error"],
        P4
    );
    finish("celery 5.3", t, reps);
}

#[test]
fn celery_50_results_and_broker_messages_agree_with_real_celery() {
    // kombu 5.0 pickles at protocol 2, which 2.7 reads: what changes is the values.
    let t = Instant::now();
    let (results, broker, reps) = celery_case("3.8", "py38-celery50", "celery@5.0", "38");
    for rows in [&results, &broker] {
        let find = |suffix: &str| {
            rows.keys()
                .find(|(k, _)| k.ends_with(suffix))
                .unwrap_or_else(|| panic!("no {suffix}"))
                .clone()
        };
        // 3.8 wrote the int at protocol 2 as LONG: 2.7 gets a long.
        let (k, f) = find("38:epoch_ms");
        let c = check_of(rows, &k, f.as_deref(), "old_reads_new_write");
        assert_eq!(c["outcome"], "changes", "{k}: {c}");
        assert!(
            c["explanation"]
                .as_str()
                .unwrap_or("")
                .contains("int -> long"),
            "{c}"
        );
        let (k, f) = find("38:token_ascii");
        let c = check_of(rows, &k, f.as_deref(), "old_reads_new_write");
        assert!(
            c["explanation"]
                .as_str()
                .unwrap_or("")
                .starts_with("bytes -> py2 str"),
            "{c}"
        );
    }
    finish("celery 5.0", t, reps);
}

#[test]
fn rq_job_hashes_under_auto_agree_with_real_rq() {
    // The jobs of tests/django.rs's RQ case (RQ 2.6 on 3.13, RQ 1.16 on 3.7), judged with
    // `--writer auto`: `rq:job:*` hash fields infer the RQ profile (HIGHEST_PROTOCOL).
    let t = Instant::now();
    let server = common::start_redis();
    let port = server.port.to_string();
    let (old, new) = rq_layers(&port);
    let (rows, rep) = scenario(
        &port,
        "rq 3.7 (1.16) <-> 3.13 (2.6), --writer auto",
        &["--old", "3.7", "--new", "3.13", "--writer", "auto"],
        &["rq:job:py313-*", "rq:job:py37-*"],
        &old,
        &new,
    );
    for ((key, field), r) in &rows {
        if !r["checks"].is_null() {
            assert_eq!(r["writer"], "auto:rq", "{key} {field:?}: {r}");
        }
    }
    assert_eq!(
        rows[&("rq:job:py37-text_cjk".to_string(), Some("data".to_string()))]["checks"]["old_reads_new_write"]
            ["error"],
        P5
    );
    finish("rq (auto)", t, vec![rep]);
}

#[test]
fn werkzeug_incident_under_auto_agrees_with_real_werkzeug() {
    // The incident of tests/incident.rs (Werkzeug 0.16.1, py2.7 and py3.8), judged with
    // `--writer auto`: `!` + protocol 0 (2.7's default) and `!` + protocol 4 (3.8's default)
    // both infer Werkzeug's profile. The oracle reports loads and errors, not values.
    let t = Instant::now();
    let server = common::start_redis();
    let port = server.port.to_string();
    let wz = |version, folder| Layer {
        version,
        folder,
        script: "werkzeug_cache.py",
        args: &[],
    };
    let old = wz("2.7", "py27");
    let new = wz("3.8", "py38");
    old.fill(&port, "wz27:");
    new.fill(&port, "wz38:");
    let (rows, rep) = scenario(
        &port,
        "werkzeug 0.16.1 2.7 <-> 3.8, --writer auto",
        &["--old", "2.7", "--new", "3.8", "--writer", "auto"],
        &["wz27:*", "wz38:*"],
        &old,
        &new,
    );
    for ((key, _), r) in &rows {
        if r["envelope"] == "bang" {
            assert_eq!(r["writer"], "auto:werkzeug", "{key}: {r}");
        }
    }
    assert_eq!(
        error_of(&rows, "wz38:page_text", None, "old_reads"),
        "ValueError: unsupported pickle protocol: 4"
    );
    finish("werkzeug (auto)", t, vec![rep]);
}

/// The `!` layers (werkzeug.contrib.cache 0.16.1, cachelib, Flask-Caching) catch `pickle.PickleError` around
/// their `pickle.loads` and return None: a damaged value is a cache miss the app never sees as
/// an exception, while other errors (EOFError, ValueError, ...) propagate. Values written
/// straight into Redis, read by the real layers; ours must say `changes` (a miss) exactly where
/// the real layer returned None, and `fails` with the real error text where it raised.
#[test]
fn pickle_errors_are_cache_misses_in_the_bang_layers() {
    let t = Instant::now();
    let server = common::start_redis();
    let port = server.port.to_string();
    let bad: &[(&str, &[u8])] = &[
        ("garbage", b"garbage"),
        ("truncated", b"\x80\x02]q\x00(K\x01K\x02"),
        ("empty", b""),
        ("underflow", b"0."),
        ("memo", b"\x80\x02h\x05."),
        ("proto5", b"\x80\x05K\x01."),
        ("unquoted", b"Sabc\n."),
        ("nomark", b"\x80\x02K\x01e."),
        ("badstate", b"\x80\x02c__builtin__\nobject\n)\x81K\x01b."),
        ("persid", b"Pabc\n."),
        ("negative", b"\x80\x02T\xff\xff\xff\xff."),
        ("pickled_none", b"N."),
        ("ok", b"\x80\x02]q\x00(K\x01K\x02e."),
    ];
    let mut cmds = Vec::new();
    for (name, p) in bad {
        common::resp(
            &mut cmds,
            &[
                b"SET",
                format!("bad:{name}").as_bytes(),
                &[b"!", *p].concat(),
            ],
        );
    }
    common::redis_pipe(server.port, &cmds);
    let keys: std::collections::BTreeSet<String> =
        bad.iter().map(|(n, _)| format!("bad:{n}")).collect();
    let werkzeug = |version: &'static str, folder: &'static str| Layer {
        version,
        folder,
        script: "werkzeug_cache.py",
        args: &[],
    };
    let cases = [
        (
            werkzeug("2.7", "py27"),
            werkzeug("3.8", "py38"),
            ["--old-writer", "werkzeug", "--new-writer", "werkzeug"],
        ),
        (
            layer("3.7", "py37-cachelib", "cachelib"),
            layer("3.11", "py311-cachelib017", "cachelib"),
            [
                "--old-writer",
                "cachelib@0.9",
                "--new-writer",
                "cachelib@0.17",
            ],
        ),
        (
            layer("3.7", "py37-flaskcaching111", "flask-caching"),
            layer("3.11", "py311-flaskcaching23", "flask-caching"),
            [
                "--old-writer",
                "flask-caching@1.11",
                "--new-writer",
                "flask-caching@2.3.0",
            ],
        ),
    ];
    let (mut compared, mut misses, mut raised) = (0, 0, 0);
    let mut dis = Vec::new();
    for (old, new, writers) in cases {
        let (rows, _) = layers::scan(
            &port,
            &[
                "--old",
                old.version,
                "--new",
                new.version,
                writers[0],
                writers[1],
                writers[2],
                writers[3],
            ],
            &["bad:*"],
        );
        let (o, n) = (old.read(&port, &keys), new.read(&port, &keys));
        for key in &keys {
            let id = (key.clone(), None);
            // What the app sees: a miss (None for a value that is no pickled None), an
            // exception, or a value.
            let seen = |r: &layers::Real| -> (&'static str, Option<String>) {
                if !r.ok {
                    ("fails", r.error.clone())
                } else if r.none && key != "bad:pickled_none" {
                    ("changes", None)
                } else {
                    ("ok", None)
                }
            };
            let (ro, rn) = (seen(&o[&id]), seen(&n[&id]));
            let new_reads = match (ro.0, rn.0) {
                (_, "fails" | "changes") => rn.clone(),
                _ => ("ok", None),
            };
            for (check, real) in [("old_reads", ro), ("new_reads", new_reads)] {
                let c = &rows[&id]["checks"][check];
                let ours = c["outcome"].as_str().unwrap_or("");
                compared += 1;
                match real.0 {
                    "changes" => misses += 1,
                    "fails" => raised += 1,
                    _ => {}
                }
                let agrees = ours == real.0
                    && match real.0 {
                        "fails" => c["error"].as_str() == real.1.as_deref(),
                        "changes" => c["explanation"]
                            .as_str()
                            .is_some_and(|e| e.starts_with("a cache miss: ")),
                        _ => true,
                    };
                if !agrees {
                    dis.push(format!(
                        "{} -> {} {key} {check}: real {real:?}, ours {c}",
                        old.version, new.version
                    ));
                }
            }
        }
    }
    println!(
        "bang layers on damaged values: {compared} reads compared ({misses} misses, {raised} raised), {} disagreements, {:.1} s",
        dis.len(),
        t.elapsed().as_secs_f64()
    );
    assert!(dis.is_empty(), "{}", dis.join("\n"));
    // Both kinds were met: the test can tell a miss from an exception.
    assert!(
        misses >= 8 && raised >= 4,
        "{misses} misses, {raised} raised"
    );
}
