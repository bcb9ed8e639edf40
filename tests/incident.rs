//! The incident rebuilt end to end: a real redis-server; Python 2.7 + Werkzeug 0.16.1 (+ redis-py
//! 3.5.3) fills it, then Python 3.8 + Werkzeug 0.16.1 writes part of the keys; `scan --old 2.7
//! --new 3.8 --writer werkzeug` must agree, key by key and check by check, with what the real 2.7
//! and 3.8 cache layers do with those keys (and with what each wrote back for the other).
//! Oracle: tests/e2e/werkzeug_cache.py run by the real interpreters against the same server.

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Where .ci/test-all installed the pinned Python packages for an interpreter.
fn pydeps(version: &str) -> PathBuf {
    let base = std::env::var("CACHE_COMPAT_PYDEPS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| common::root().join("target/pydeps"));
    let d = base.join(format!("py{}", version.replace('.', "")));
    assert!(
        d.join("werkzeug").is_dir(),
        "Werkzeug 0.16.1 for Python {version} is not installed in {}: run `bash .ci/test-all`",
        d.display()
    );
    d
}

fn py(version: &str, args: &[&str]) -> String {
    let o = Command::new(common::interpreter(version))
        .arg(common::root().join("tests/e2e/werkzeug_cache.py"))
        .args(args)
        .env("PYTHONPATH", pydeps(version))
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .expect("run python");
    assert!(
        o.status.success(),
        "python {version} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// key -> (ok, error, written_back) as the real cache layer of `version` saw it.
fn real_reads(
    version: &str,
    port: &str,
    keys: &[String],
) -> BTreeMap<String, (bool, Option<String>, Option<String>)> {
    let mut args = vec!["read", "127.0.0.1", port];
    args.extend(keys.iter().map(String::as_str));
    py(version, &args)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json");
            (
                v["key"].as_str().expect("key").to_string(),
                (
                    v["ok"].as_bool().expect("ok"),
                    v["error"].as_str().map(str::to_string),
                    v["written_back"].as_str().map(str::to_string),
                ),
            )
        })
        .collect()
}

#[test]
fn werkzeug_py27_to_py38_agrees_with_the_real_cache_layers() {
    let server = common::start_redis();
    let port = server.port.to_string();
    py("2.7", &["fill", "127.0.0.1", &port, "py27:"]);
    py("3.8", &["fill", "127.0.0.1", &port, "py38:"]);

    let out = common::cache_compat()
        .args([
            "scan",
            "--redis",
            &format!("redis://127.0.0.1:{port}/0"),
            "--old",
            "2.7",
            "--new",
            "3.8",
            "--writer",
            "werkzeug",
        ])
        .args([
            "--match", "py27:*", "--match", "py38:*", "--format", "jsonl", "--all",
        ])
        .output()
        .expect("scan");
    assert_eq!(
        out.status.code(),
        Some(1),
        "findings expected: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut ours: BTreeMap<String, Value> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line).expect("jsonl");
        if v.get("summary").is_none() {
            ours.insert(v["key"].as_str().expect("key").to_string(), v);
        }
    }
    let keys: Vec<String> = ours.keys().cloned().collect();
    assert!(keys.len() >= 12, "{keys:?}");

    // The same keys through `snapshot` + `scan --snapshot` give the same report, byte for byte.
    let snap = std::env::temp_dir().join(format!("cc-incident-{}.snapshot", std::process::id()));
    let s = common::cache_compat()
        .args([
            "snapshot",
            "--redis",
            &format!("redis://127.0.0.1:{port}/0"),
            "--match",
            "py27:*",
            "--match",
            "py38:*",
            "--out",
        ])
        .arg(&snap)
        .output()
        .expect("snapshot");
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    // Written under `<out>.partial` while the values arrive, moved to its name when complete.
    let mut partial = snap.clone().into_os_string();
    partial.push(".partial");
    assert!(!std::path::Path::new(&partial).exists());
    let offline = common::cache_compat()
        .args(["scan", "--snapshot"])
        .arg(&snap)
        .args([
            "--old", "2.7", "--new", "3.8", "--writer", "werkzeug", "--format", "jsonl", "--all",
        ])
        .output()
        .expect("scan --snapshot");
    let _ = std::fs::remove_file(&snap);
    // And through `redis-cli save` + `scan --rdb`.
    let save = Command::new("redis-cli")
        .args(["-p", &port, "SAVE"])
        .output()
        .expect("save");
    assert_eq!(String::from_utf8_lossy(&save.stdout).trim(), "OK");
    let from_rdb = common::cache_compat()
        .args(["scan", "--rdb"])
        .arg(server.dir.join("dump.rdb"))
        .args([
            "--old", "2.7", "--new", "3.8", "--writer", "werkzeug", "--match", "py27:*", "--match",
            "py38:*",
        ])
        .args(["--format", "jsonl", "--all"])
        .output()
        .expect("scan --rdb");
    let strip_coverage = |b: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(b)
            .lines()
            .filter(|l| !l.starts_with("{\"summary\""))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        strip_coverage(&offline.stdout),
        strip_coverage(&out.stdout),
        "snapshot scan differs from the live scan"
    );
    assert_eq!(
        strip_coverage(&from_rdb.stdout),
        strip_coverage(&out.stdout),
        "RDB scan differs from the live scan: {}",
        String::from_utf8_lossy(&from_rdb.stderr)
    );

    let old = real_reads("2.7", &port, &keys);
    let new = real_reads("3.8", &port, &keys);
    // What each side wrote back, read by the other side.
    let new_wb: Vec<String> = new.values().filter_map(|r| r.2.clone()).collect();
    let old_wb: Vec<String> = old.values().filter_map(|r| r.2.clone()).collect();
    let old_reads_new_write = real_reads("2.7", &port, &new_wb);
    let new_reads_old_write = real_reads("3.8", &port, &old_wb);

    let mut compared = 0;
    let mut disagreements = Vec::new();
    for key in &keys {
        let checks = &ours[key]["checks"];
        if checks.is_null() {
            // An ASCII integer: both real layers must read it.
            assert!(old[key].0 && new[key].0, "{key}: ints load on both sides");
            continue;
        }
        let mut cmp = |check: &str, real: Option<&(bool, Option<String>, Option<String>)>| {
            let c = &checks[check];
            let ours_outcome = c["outcome"].as_str().unwrap_or("");
            let Some(real) = real else {
                // The real layer never got this far: ours must say skipped.
                if ours_outcome != "skipped" {
                    disagreements.push(format!("{key} {check}: real skipped, ours {ours_outcome}"));
                }
                return;
            };
            compared += 1;
            let ours_fails = ours_outcome == "fails";
            if ours_fails == real.0 || (ours_fails && c["error"].as_str() != real.1.as_deref()) {
                disagreements.push(format!("{key} {check}: real {:?}, ours {c}", real.1));
            }
        };
        cmp("old_reads", old.get(key));
        cmp("new_reads", new.get(key));
        let nwb = new[key].2.as_ref().map(|k| old_reads_new_write[k].clone());
        cmp("old_reads_new_write", nwb.as_ref());
        let owb = old[key].2.as_ref().map(|k| new_reads_old_write[k].clone());
        cmp("new_reads_old_write", owb.as_ref());
    }
    println!(
        "incident: {} keys, {compared} checks compared with the real Werkzeug cache layers, {} disagreements",
        keys.len(),
        disagreements.len()
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    // The incident's two failures are there, with CPython's words.
    let errors: Vec<String> = ours
        .values()
        .flat_map(|v| {
            ["new_reads", "old_reads_new_write"]
                .into_iter()
                .filter_map(|c| v["checks"][c]["error"].as_str().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(errors.iter().any(|e| {
        e.starts_with("UnicodeDecodeError: 'ascii' codec can't decode byte 0xe2 in position 842")
    }));
    assert!(
        errors
            .iter()
            .any(|e| e == "ValueError: unsupported pickle protocol: 4")
    );
}

#[test]
fn a_read_only_acl_user_is_enough() {
    let server = common::start_redis();
    let port = server.port.to_string();
    py("2.7", &["fill", "127.0.0.1", &port, "py27:"]);
    // An ACL user that can run read commands and nothing else (robustness.md: +@read is enough).
    let acl = Command::new("redis-cli")
        .args([
            "-p", &port, "ACL", "SETUSER", "reader", "on", ">s3cret", "~*", "&*", "+@read", "+ping",
        ])
        .output()
        .expect("redis-cli");
    assert_eq!(String::from_utf8_lossy(&acl.stdout).trim(), "OK");
    // The default user is switched off, so a scan that did not authenticate as `reader` fails.
    let off = Command::new("redis-cli")
        .args(["-p", &port, "ACL", "SETUSER", "default", "off"])
        .output()
        .expect("redis-cli");
    assert_eq!(String::from_utf8_lossy(&off.stdout).trim(), "OK");
    let dbsize = || {
        Command::new("redis-cli")
            .args([
                "-p",
                &port,
                "--user",
                "reader",
                "--pass",
                "s3cret",
                "--no-auth-warning",
                "DBSIZE",
            ])
            .output()
            .expect("dbsize")
            .stdout
    };
    let before = dbsize();
    let out = common::cache_compat()
        .args([
            "scan",
            "--redis",
            &format!("redis://reader@127.0.0.1:{port}/0"),
            "--old",
            "2.7",
            "--new",
            "3.8",
            "--writer",
            "werkzeug",
            "--format",
            "jsonl",
        ])
        .env("REDISCLI_AUTH", "s3cret")
        .output()
        .expect("scan");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        !stdout.contains("s3cret") && !stderr.contains("s3cret"),
        "the password is never printed"
    );
    let summary: Value =
        serde_json::from_str(stdout.lines().last().expect("summary")).expect("json");
    // tests/e2e/werkzeug_cache.py writes 8 values under Python 2.
    assert_eq!(summary["summary"]["coverage"]["sampled"], 8, "{stdout}");
    // Nothing was written: the key count is unchanged.
    assert_eq!(before, dbsize());
    // The same user cannot write, which is what makes the read-only claim checkable.
    let w = Command::new("redis-cli")
        .args([
            "-p",
            &port,
            "--user",
            "reader",
            "--pass",
            "s3cret",
            "--no-auth-warning",
            "SET",
            "x",
            "1",
        ])
        .output()
        .expect("redis-cli");
    assert!(
        String::from_utf8_lossy(&w.stdout).contains("NOPERM"),
        "{}",
        String::from_utf8_lossy(&w.stdout)
    );
}

/// One command in RESP, appended to `out`, for `redis-cli --pipe`.
fn resp(out: &mut Vec<u8>, parts: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", parts.len()).as_bytes());
    for part in parts {
        out.extend_from_slice(format!("${}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
}

fn resp_set(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    resp(out, &[b"SET", key, value]);
}

/// Send RESP commands to the server with `redis-cli --pipe`.
fn redis_pipe(port: &str, commands: &[u8]) {
    use std::io::Write;
    let mut pipe = Command::new("redis-cli")
        .args(["-p", port, "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-cli");
    pipe.stdin
        .take()
        .expect("stdin")
        .write_all(commands)
        .expect("write");
    assert!(pipe.wait().expect("wait").success());
}

#[test]
fn a_connection_killed_mid_scan_loses_no_key() {
    let server = common::start_redis();
    let port = server.port.to_string();
    let n = 20_000;
    let mut resp = Vec::new();
    for i in 0..n {
        // What Werkzeug on 3.8 stores for the text "value <i>".
        let text = format!("value {i}");
        let mut v = vec![b'!', 0x80, 4, 0x8c, text.len() as u8];
        v.extend_from_slice(text.as_bytes());
        v.extend_from_slice(b"\x94.");
        resp_set(&mut resp, format!("k:{i}").as_bytes(), &v);
    }
    redis_pipe(&port, &resp);
    let scan = common::cache_compat()
        .args([
            "scan",
            "--redis",
            &format!("redis://127.0.0.1:{port}/0"),
            "--old",
            "3.8",
            "--new",
            "3.13",
            "--format",
            "jsonl",
        ])
        .args(["--rate", "40000"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("scan");
    // Kill every normal client connection (ours) while the scan runs, twice.
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(400));
        let _ = Command::new("redis-cli")
            .args([
                "-p", &port, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes",
            ])
            .output();
    }
    let out = scan.wait_with_output().expect("scan output");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("summary")
        .to_string();
    let v: Value = serde_json::from_str(&last).expect("json");
    assert_eq!(v["summary"]["coverage"]["sampled"], n, "{last}");
    assert!(
        v["summary"]["coverage"]["reconnects"]
            .as_u64()
            .expect("reconnects")
            >= 1,
        "{last}"
    );
}

#[test]
fn keys_expiring_during_the_scan_are_counted_not_failed() {
    let server = common::start_redis();
    let port = server.port.to_string();
    let mut sets = Vec::new();
    for i in 0..6000 {
        resp_set(
            &mut sets,
            format!("k:{i}").as_bytes(),
            b"!\x80\x04\x8c\x05hello\x94.",
        );
    }
    redis_pipe(&port, &sets);
    // The scan is slowed (~6 s); half the keys get a 100 ms expiry one second in, so they expire
    // while the scan runs, some of them between SCAN listing them and the scan reading them.
    let scan = common::cache_compat()
        .args([
            "scan",
            "--redis",
            &format!("redis://127.0.0.1:{port}/0"),
            "--old",
            "3.8",
            "--new",
            "3.13",
        ])
        .args([
            "--writer", "werkzeug", "--format", "jsonl", "--rate", "3000",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("scan");
    std::thread::sleep(Duration::from_millis(1000));
    let mut expire = Vec::new();
    for i in (0..6000).step_by(2) {
        resp(
            &mut expire,
            &[b"PEXPIRE", format!("k:{i}").as_bytes(), b"100"],
        );
    }
    redis_pipe(&port, &expire);
    let out = scan.wait_with_output().expect("scan output");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "the scan must not fail on vanished keys"
    );
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("summary")
        .to_string();
    let v: Value = serde_json::from_str(&last).expect("json");
    let cov = &v["summary"]["coverage"];
    let n = |k: &str| cov[k].as_u64().expect(k);
    // Every key that never expired is judged; an expiring one is judged, counted as vanished, or
    // (expired before SCAN reached it) not seen at all.
    assert!(n("sampled") >= 3000, "{last}");
    assert!(
        n("vanished") > 0,
        "keys expired between SCAN and GET: {last}"
    );
    assert_eq!(n("sampled") + n("vanished"), n("keys_seen"), "{last}");
}
