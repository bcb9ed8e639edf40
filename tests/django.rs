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
#[path = "common/layers.rs"]
mod layers;

use layers::*;
use std::time::Instant;

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
    let (old, new) = rq_layers(&port);
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
