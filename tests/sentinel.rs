//! `scan --sentinel` and `snapshot --sentinel` against a real Redis Sentinel: a master and a
//! replica (`--replicaof`) holding the corpus' real pickles (written by the real 2.7 cPickle and
//! 3.8 pickle, corpora/pickles.jsonl), both behind a password, and real sentinels
//! (`redis-server sentinel.conf --sentinel`) monitoring the master, one of them with its own
//! password. All on free loopback ports, stopped when the test ends.
//!
//! Oracles: `scan --redis` on the master itself (the same report, byte for byte); the keys the test
//! wrote; the servers' own `INFO commandstats` (which node served the reads); the sentinel's own
//! `SENTINEL REPLICAS` (a replica it lists as down is not read).

mod common;

use common::{redis_cli, redis_pipe, resp};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const DATA_PW: &str = "data-pw";
const SENTINEL_PW: &str = "sentinel-pw";
const MASTER: &str = "m";

/// A redis-server running as a sentinel, from a config written to its own temporary directory;
/// stopped (and the directory removed) when dropped.
struct Sentinel {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A sentinel monitoring the master on `master_port` (quorum 1; a node unanswered for 1 s is
/// subjectively down), with `extra` config lines.
fn start_sentinel(master_port: u16, extra: &str) -> Sentinel {
    let port = common::free_port();
    let dir = std::env::temp_dir().join(format!("cc-sentinel-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let conf = dir.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndir {}\n\
             sentinel monitor {MASTER} 127.0.0.1 {master_port} 1\n\
             sentinel auth-pass {MASTER} {DATA_PW}\n\
             sentinel down-after-milliseconds {MASTER} 1000\n{extra}",
            dir.display()
        ),
    )
    .expect("sentinel.conf");
    let child = Command::new("redis-server")
        .arg(&conf)
        .arg("--sentinel")
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server is installed (.ci/test-all installs it)");
    let s = Sentinel { child, port, dir };
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "sentinel did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

fn bin(args: &[&str]) -> Output {
    common::cache_compat()
        .args(args)
        .env_remove("REDISCLI_AUTH")
        .env_remove("CACHE_COMPAT_SENTINEL_PASS")
        .output()
        .expect("run cache-compat")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `redis-cli` on a node behind the data password.
fn cli(port: u16, args: &[&str]) -> String {
    let mut a = vec!["-a", DATA_PW, "--no-auth-warning"];
    a.extend(args);
    redis_cli(port, &a)
}

/// `calls` of a command in `INFO commandstats` (0 when never called).
fn calls(port: u16, cmd: &str) -> u64 {
    let info = cli(port, &["INFO", "commandstats"]);
    let prefix = format!("cmdstat_{cmd}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The reads a scan sends, summed.
fn reads(port: u16) -> u64 {
    ["scan", "get", "getrange", "type", "strlen", "hscan"]
        .iter()
        .map(|c| calls(port, c))
        .sum()
}

/// The value lines of a jsonl report (the summary line left out), and the keys they name.
fn value_lines(out: &str) -> (Vec<&str>, BTreeSet<String>) {
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with("{\"summary\""))
        .collect();
    let keys = lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            v["key"].as_str().expect("key").to_string()
        })
        .collect();
    (lines, keys)
}

/// Poll `ok` for up to 40 s (a sentinel refreshes what it knows of the nodes every 10 s).
fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < Duration::from_secs(40), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn scan_and_snapshot_through_a_real_sentinel() {
    // The master, filled with real pickles (strings, and one hash), then put behind a password.
    let master = common::start_redis();
    let mut cmds = Vec::new();
    let mut written = BTreeSet::new();
    let pickles = common::pickles();
    let mut ids: Vec<&String> = pickles
        .keys()
        .filter(|id| id.starts_with("2.7-cpickle/") || id.starts_with("3.8/"))
        .collect();
    ids.sort();
    for id in &ids {
        let key = format!("cache:{id}");
        resp(&mut cmds, &[b"SET", key.as_bytes(), &pickles[*id]]);
        written.insert(key);
    }
    for id in ids.iter().take(5) {
        resp(
            &mut cmds,
            &[b"HSET", b"cache:hash", id.as_bytes(), &pickles[*id]],
        );
    }
    written.insert("cache:hash".into());
    redis_pipe(master.port, &cmds);
    assert!(redis_cli(master.port, &["CONFIG", "SET", "requirepass", DATA_PW]).contains("OK"));
    let mp = master.port.to_string();
    let replica = common::start_redis_with(&[
        "--replicaof",
        "127.0.0.1",
        &mp,
        "--masterauth",
        DATA_PW,
        "--requirepass",
        DATA_PW,
    ]);
    wait_for("the replica in sync", || {
        cli(replica.port, &["INFO", "replication"]).contains("master_link_status:up")
            && cli(replica.port, &["DBSIZE"]) == cli(master.port, &["DBSIZE"])
    });
    let sentinel = start_sentinel(master.port, "");
    let s_addr = format!("127.0.0.1:{}", sentinel.port);
    // The sentinel sees the replica as up: listed, no down flag, its link to the master ok.
    wait_for("the sentinel to see the replica up", || {
        let r = redis_cli(sentinel.port, &["SENTINEL", "REPLICAS", MASTER]);
        let lines: Vec<&str> = r.lines().collect();
        let field = |k: &str| {
            lines
                .iter()
                .position(|l| *l == k)
                .and_then(|i| lines.get(i + 1).copied())
        };
        field("port") == Some(replica.port.to_string().as_str())
            && field("master-link-status") == Some("ok")
            && field("flags") == Some("slave")
    });

    let judge = ["--old", "2.7", "--new", "3.8", "--format", "jsonl", "--all"];
    let scan = |source: &[&str], extra: &[&str]| {
        let mut a = vec!["scan"];
        a.extend(source);
        a.extend(["--pass", DATA_PW]);
        a.extend(judge);
        a.extend(extra);
        bin(&a)
    };

    // 1. The master, directly: the reference report.
    let direct_url = format!("redis://127.0.0.1:{}", master.port);
    let direct = scan(&["--redis", &direct_url], &[]);
    assert!(
        matches!(direct.status.code(), Some(0 | 1)),
        "{}",
        stderr(&direct)
    );
    let direct_out = stdout(&direct);
    let (direct_lines, direct_keys) = value_lines(&direct_out);
    assert_eq!(direct_keys, written, "every key written is reported");
    assert_eq!(direct_lines.len(), ids.len() + 5);

    // 2. Through the sentinel, the master (the default): the same report, byte for byte, and the
    //    reads went to the master.
    let before = (reads(master.port), reads(replica.port));
    let via = scan(&["--sentinel", &s_addr, "--sentinel-master", MASTER], &[]);
    assert_eq!(via.status.code(), direct.status.code(), "{}", stderr(&via));
    assert_eq!(stdout(&via), stdout(&direct));
    let err = stderr(&via);
    assert!(
        err.contains(&format!("names master \"m\" at 127.0.0.1:{}", master.port))
            && err.contains("reading the master"),
        "{err}"
    );
    assert!(reads(master.port) > before.0);
    assert_eq!(reads(replica.port), before.1, "the replica was not read");

    // 3. --read-from replica: the same values, read from the replica; not one read on the master.
    let before = (
        reads(master.port),
        calls(replica.port, "getrange") + calls(replica.port, "get"),
    );
    let via = scan(
        &["--sentinel", &s_addr, "--sentinel-master", MASTER],
        &["--read-from", "replica"],
    );
    assert_eq!(via.status.code(), direct.status.code(), "{}", stderr(&via));
    assert_eq!(stdout(&via), stdout(&direct));
    let err = stderr(&via);
    assert!(
        err.contains(&format!("reading its replica 127.0.0.1:{}", replica.port)),
        "{err}"
    );
    let on_replica = calls(replica.port, "getrange") + calls(replica.port, "get") - before.1;
    assert!(
        on_replica >= ids.len() as u64,
        "GETRANGE/GET on the replica: {on_replica} for {} strings",
        ids.len()
    );
    assert_eq!(reads(master.port), before.0, "no read on the master");

    // 4. A dead sentinel first: the next one that answers is used.
    let dead = format!("127.0.0.1:{}", common::free_port());
    let via = scan(
        &["--sentinel", &dead, "--sentinel", &s_addr],
        &["--sentinel-master", MASTER],
    );
    assert_eq!(stdout(&via), stdout(&direct), "{}", stderr(&via));

    // 5. Tool errors (exit 2) with their messages: an unknown master name; only dead sentinels.
    let o = scan(&["--sentinel", &s_addr, "--sentinel-master", "nope"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("no master named \"nope\"") && err.contains("--sentinel-master"),
        "{err}"
    );
    let dead2 = format!("127.0.0.1:{}", common::free_port());
    let o = scan(
        &["--sentinel", &dead, "--sentinel", &dead2],
        &["--sentinel-master", MASTER],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("no sentinel answered") && err.contains(&dead) && err.contains(&dead2),
        "{err}"
    );
    assert!(stdout(&o).is_empty());
    // Wrong data password: the data node refuses, exit 2 (the sentinel has none).
    let o = bin(&[
        "scan",
        "--sentinel",
        &s_addr,
        "--sentinel-master",
        MASTER,
        "--pass",
        "wrong",
        "--old",
        "2.7",
        "--new",
        "3.8",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // 6. snapshot through the sentinel, from the replica; judged offline it gives the same value
    //    lines as the live scan.
    let dir = std::env::temp_dir().join(format!("cc-sentinel-snap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let snap = dir.join("cache.snapshot");
    let snap_s = snap.to_str().expect("utf-8 path");
    let before = reads(master.port);
    let o = bin(&[
        "snapshot",
        "--sentinel",
        &s_addr,
        "--sentinel-master",
        MASTER,
        "--read-from",
        "replica",
        "--pass",
        DATA_PW,
        "--out",
        snap_s,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("replica 127.0.0.1:{}", replica.port)),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        reads(master.port),
        before,
        "the snapshot read the replica only"
    );
    let mut a = vec!["scan", "--snapshot", snap_s];
    a.extend(judge);
    let offline = bin(&a);
    assert_eq!(
        value_lines(&stdout(&offline)).0,
        direct_lines,
        "{}",
        stderr(&offline)
    );

    // 7. The config file: [source] sentinel, sentinel_master, read_from; the command line's
    //    --read-from wins over the file's.
    let cfg = dir.join("cache-compat.toml");
    std::fs::write(
        &cfg,
        format!(
            "[source]\nsentinel = [\"{dead}\", \"{s_addr}\"]\nsentinel_master = \"{MASTER}\"\nread_from = \"replica\"\n"
        ),
    )
    .expect("config");
    let cfg_s = cfg.to_str().expect("utf-8 path");
    let o = scan(&["--config", cfg_s], &[]);
    assert_eq!(stdout(&o), stdout(&direct), "{}", stderr(&o));
    assert!(stderr(&o).contains("reading its replica"), "{}", stderr(&o));
    let o = scan(&["--config", cfg_s], &["--read-from", "master"]);
    assert_eq!(stdout(&o), stdout(&direct), "{}", stderr(&o));
    assert!(stderr(&o).contains("reading the master"), "{}", stderr(&o));
    // --read-from without a sentinel source is refused, as is --sentinel with --redis.
    let o = scan(&["--redis", &direct_url], &["--read-from", "replica"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("apply only with --sentinel"),
        "{}",
        stderr(&o)
    );
    let o = bin(&[
        "snapshot",
        "--redis",
        &direct_url,
        "--read-from",
        "replica",
        "--out",
        snap_s,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("apply only with --sentinel"),
        "{}",
        stderr(&o)
    );
    let o = scan(
        &["--redis", &direct_url, "--sentinel", &s_addr],
        &["--sentinel-master", MASTER],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));

    // 8. A sentinel with its own password: refused without it, read with it (from the
    //    environment, as a flag would show in the process list).
    let guarded = start_sentinel(master.port, &format!("requirepass {SENTINEL_PW}\n"));
    let g_addr = format!("127.0.0.1:{}", guarded.port);
    let o = scan(&["--sentinel", &g_addr, "--sentinel-master", MASTER], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("no sentinel answered") && err.contains("--sentinel-pass"),
        "{err}"
    );
    let mut a = vec!["scan", "--sentinel", &g_addr, "--sentinel-master", MASTER];
    a.extend(["--pass", DATA_PW]);
    a.extend(judge);
    let o = common::cache_compat()
        .args(&a)
        .env_remove("REDISCLI_AUTH")
        .env("CACHE_COMPAT_SENTINEL_PASS", SENTINEL_PW)
        .output()
        .expect("run cache-compat");
    assert_eq!(stdout(&o), stdout(&direct), "{}", stderr(&o));
    drop(guarded);

    // 9. The replica goes down: once the sentinel flags it, --read-from replica is a tool error
    //    that names the fix; the master is still read.
    drop(replica);
    wait_for("the sentinel to flag the replica down", || {
        redis_cli(sentinel.port, &["SENTINEL", "REPLICAS", MASTER]).contains("s_down")
    });
    let o = scan(
        &["--sentinel", &s_addr, "--sentinel-master", MASTER],
        &["--read-from", "replica"],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("no replica of \"m\" that is up")
            && err.contains("s_down")
            && err.contains("--read-from master"),
        "{err}"
    );
    assert!(stdout(&o).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
