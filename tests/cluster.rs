//! Live sources beyond a single plain server, with real servers and real interpreters:
//! a 3-master Redis Cluster made by `redis-cli --cluster create`; a replica (`--replicaof`,
//! read-only); TLS with certificates made by openssl; lists, sets, sorted sets and hashes of
//! pickles and the size caps, live against `snapshot` + `scan --snapshot` and `SAVE` + `scan --rdb`.
//!
//! Oracles: the keys, fields and values the test wrote (and Redis' own ordering rules: list
//! order, sorted-set rank, set members in byte order as src/source/mod.rs defines the set index);
//! the real Python 2.7 (cPickle) and 3.8 (pickle) `loads` of every value, for the `old_reads` and
//! `new_reads` checks; the server's STRLEN for partial values.

mod common;

use common::{RedisServer, redis_cli, redis_pipe, resp};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn bin(args: &[&str]) -> Output {
    common::cache_compat()
        .args(args)
        .output()
        .expect("run cache-compat")
}

/// Writes pickles as JSON lines {"k", "t", "f", "v" (hex), "s" (score)} with the real pickler of
/// the interpreter running it (cPickle on 2.7). Python 2 strs hold UTF-8 bytes (not ASCII), as
/// a Python 2 app's cache does.
const WRITER: &str = r#"
import sys, json, binascii
try:
    import cPickle as pickle
except ImportError:
    import pickle
prefix, proto, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
PY2 = sys.version_info[0] == 2
text = 'caf\xc3\xa9' if PY2 else 'caf\u00e9'
def out(k, t, f, v, s=None):
    sys.stdout.write(json.dumps({"k": k, "t": t, "f": f, "s": s,
                                 "v": binascii.hexlify(v).decode("ascii")}) + "\n")
for i in range(n):
    name = ("plain %d" % i) if i % 3 == 0 else (text + " %d" % i)
    out("%s:%d" % (prefix, i), "string", None,
        pickle.dumps({"i": i, "name": name, "x": [1.5, None, True]}, proto))
for i in range(n // 10):
    for j in range(3):
        out("%s:h:%d" % (prefix, i), "hash", "f%d" % j, pickle.dumps(("h", i, j, text), proto))
    for j in range(4):
        out("%s:l:%d" % (prefix, i), "list", None, pickle.dumps(["l", i, j], proto))
    for j in range(3):
        out("%s:s:%d" % (prefix, i), "set", None, pickle.dumps({"s": i, "j": j, "t": text}, proto))
    for j in range(3):
        out("%s:z:%d" % (prefix, i), "zset", None, pickle.dumps((i, j, text), proto), j * 1.5)
"#;

/// Reads hex pickles, one a line, and prints what the interpreter's loads does: `ok` or the
/// exception as `Type: message`.
const LOADER: &str = r#"
import sys, binascii
try:
    import cPickle as pickle
except ImportError:
    import pickle
for line in sys.stdin:
    b = binascii.unhexlify(line.strip())
    try:
        pickle.loads(b)
        r = "ok"
    except Exception as e:
        name = type(e).__name__
        if type(e).__module__ not in ("builtins", "exceptions", "__builtin__"):
            name = type(e).__module__ + "." + name
        msg = str(e)
        r = name + (": " + msg if msg else "")
    sys.stdout.write(r + "\n")
"#;

fn python(version: &str, script: &str, args: &[&str], stdin: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new(common::interpreter(version))
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("python output");
    let _ = feeder.join();
    assert!(
        out.status.success(),
        "python {version}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One value the test wrote.
#[derive(Debug, Clone)]
struct Written {
    key: String,
    ty: String,
    field: Option<String>,
    score: Option<f64>,
    value: Vec<u8>,
}

fn generate(version: &str, prefix: &str, proto: u8, n: usize) -> Vec<Written> {
    python(
        version,
        WRITER,
        &[prefix, &proto.to_string(), &n.to_string()],
        b"",
    )
    .lines()
    .map(|l| {
        let v: Value = serde_json::from_str(l).expect("json");
        Written {
            key: v["k"].as_str().expect("k").into(),
            ty: v["t"].as_str().expect("t").into(),
            field: v["f"].as_str().map(String::from),
            score: v["s"].as_f64(),
            value: common::unhex(v["v"].as_str().expect("v")),
        }
    })
    .collect()
}

/// The Redis command that stores one written value.
fn command(w: &Written) -> Vec<Vec<u8>> {
    let k = w.key.as_bytes().to_vec();
    let v = w.value.clone();
    match w.ty.as_str() {
        "string" => vec![b"SET".to_vec(), k, v],
        "hash" => vec![
            b"HSET".to_vec(),
            k,
            w.field.clone().unwrap_or_default().into_bytes(),
            v,
        ],
        "list" => vec![b"RPUSH".to_vec(), k, v],
        "set" => vec![b"SADD".to_vec(), k, v],
        _ => vec![
            b"ZADD".to_vec(),
            k,
            format!("{}", w.score.unwrap_or(0.0)).into_bytes(),
            v,
        ],
    }
}

/// (key, field as the report shows it) -> value: hash fields by name, list items by index, sorted
/// set members by rank, set members by index in byte order (src/source/mod.rs).
fn expected(written: &[Written]) -> BTreeMap<(String, Option<String>), Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut lists: BTreeMap<&str, Vec<&[u8]>> = BTreeMap::new();
    let mut sets: BTreeMap<&str, BTreeSet<&[u8]>> = BTreeMap::new();
    let mut zsets: BTreeMap<&str, Vec<(f64, &[u8])>> = BTreeMap::new();
    for w in written {
        match w.ty.as_str() {
            "string" => {
                out.insert((w.key.clone(), None), w.value.clone());
            }
            "hash" => {
                out.insert((w.key.clone(), w.field.clone()), w.value.clone());
            }
            "list" => lists.entry(&w.key).or_default().push(&w.value),
            "set" => {
                sets.entry(&w.key).or_default().insert(&w.value);
            }
            _ => zsets
                .entry(&w.key)
                .or_default()
                .push((w.score.unwrap_or(0.0), &w.value)),
        }
    }
    let mut put = |k: &str, items: Vec<&[u8]>| {
        for (i, v) in items.into_iter().enumerate() {
            out.insert((k.to_string(), Some(i.to_string())), v.to_vec());
        }
    };
    for (k, l) in lists {
        put(k, l);
    }
    for (k, s) in sets {
        put(k, s.into_iter().collect());
    }
    for (k, mut z) in zsets {
        z.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        put(k, z.into_iter().map(|x| x.1).collect());
    }
    out
}

/// A scan's value lines by (key, field), and its summary; panics on a duplicate line.
type Lines = BTreeMap<(String, Option<String>), Value>;

fn parse_jsonl(out: &Output) -> (Lines, Value) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "exit {:?}: {}{stdout}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = Lines::new();
    let mut summary = Value::Null;
    for l in stdout.lines() {
        let v: Value = serde_json::from_str(l).expect("jsonl");
        if let Some(s) = v.get("summary") {
            summary = s.clone();
            continue;
        }
        let id = (
            v["key"].as_str().expect("key").to_string(),
            v["field"].as_str().map(String::from),
        );
        assert!(
            lines.insert(id.clone(), v).is_none(),
            "{id:?} reported twice"
        );
    }
    (lines, summary)
}

/// Every value's `old_reads` (2.7) and `new_reads` (3.8) against the real interpreters' loads.
/// Returns the number of checks compared.
fn compare_with_interpreters(
    lines: &Lines,
    want: &BTreeMap<(String, Option<String>), Vec<u8>>,
) -> usize {
    let ids: Vec<&(String, Option<String>)> = want.keys().collect();
    let input: String = ids
        .iter()
        .map(|id| common::hex(&want[*id]) + "\n")
        .collect();
    let real27: Vec<String> = python("2.7", LOADER, &[], input.as_bytes())
        .lines()
        .map(String::from)
        .collect();
    let real38: Vec<String> = python("3.8", LOADER, &[], input.as_bytes())
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(real27.len(), ids.len());
    assert_eq!(real38.len(), ids.len());
    let mut compared = 0;
    let mut disagreements = Vec::new();
    let mut fails = [0, 0];
    for (i, id) in ids.iter().enumerate() {
        let checks = &lines[*id]["checks"];
        for (n, (check, real)) in [("old_reads", &real27[i]), ("new_reads", &real38[i])]
            .into_iter()
            .enumerate()
        {
            let c = &checks[check];
            let ours_fails = c["outcome"] == "fails";
            compared += 1;
            if real != "ok" {
                fails[n] += 1;
            }
            if ours_fails != (real != "ok") || (ours_fails && c["error"].as_str() != Some(real)) {
                disagreements.push(format!("{id:?} {check}: real {real}, ours {c}"));
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(20)].join("\n")
    );
    // Both sides have failures to agree on (2.7 cannot read protocol 4; 3.8 cannot decode the
    // UTF-8 bytes of Python 2 strs as ASCII).
    assert!(fails[0] > 0 && fails[1] > 0, "{fails:?}");
    compared
}

// ---------------------------------------------------------------------------------------------
// Redis Cluster

/// CRC16/XMODEM, as Redis Cluster hashes keys (with `{hash tags}`).
fn slot(key: &[u8]) -> u16 {
    let k = match key.iter().position(|&b| b == b'{') {
        Some(s) => match key[s + 1..].iter().position(|&b| b == b'}') {
            Some(e) if e > 0 => &key[s + 1..s + 1 + e],
            _ => key,
        },
        None => key,
    };
    let mut crc: u16 = 0;
    for &b in k {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

struct Cluster {
    nodes: Vec<RedisServer>,
}

impl Cluster {
    fn start(n: usize) -> Cluster {
        let nodes: Vec<RedisServer> = (0..n)
            .map(|_| {
                common::start_redis_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "5000",
                ])
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let t = Instant::now();
        for s in &nodes {
            while !redis_cli(s.port, &["CLUSTER", "INFO"]).contains("cluster_state:ok") {
                assert!(t.elapsed() < Duration::from_secs(30), "cluster not ok");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Cluster { nodes }
    }

    /// Slot -> port of its master, from CLUSTER NODES.
    fn owners(&self) -> Vec<u16> {
        let mut owner = vec![0u16; 16384];
        for line in redis_cli(self.nodes[0].port, &["CLUSTER", "NODES"]).lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 9 || !f[2].contains("master") {
                continue;
            }
            let port: u16 = f[1]
                .split('@')
                .next()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .expect("node port");
            for r in &f[8..] {
                if r.starts_with('[') {
                    continue;
                }
                let (a, b) = r.split_once('-').unwrap_or((r, r));
                let (a, b): (usize, usize) = (a.parse().expect("slot"), b.parse().expect("slot"));
                for o in &mut owner[a..=b] {
                    *o = port;
                }
            }
        }
        assert!(owner.iter().all(|&p| p != 0), "every slot is served");
        owner
    }

    /// Store the values, each on its slot's master.
    fn fill(&self, written: &[Written]) {
        let owner = self.owners();
        let mut per: BTreeMap<u16, Vec<u8>> = BTreeMap::new();
        for w in written {
            let cmd = command(w);
            let parts: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
            resp(
                per.entry(owner[slot(w.key.as_bytes()) as usize])
                    .or_default(),
                &parts,
            );
        }
        for (port, cmds) in per {
            redis_pipe(port, &cmds);
        }
    }
}

#[test]
fn crc16_slots_match_redis() {
    // The oracle: CLUSTER KEYSLOT of a real server.
    let c = Cluster::start(3);
    for key in [
        "a",
        "user:1000",
        "{user1000}.following",
        "py27:h:7",
        "",
        "x{}y",
        "é",
    ] {
        let real: u16 = redis_cli(c.nodes[0].port, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("slot");
        assert_eq!(slot(key.as_bytes()), real, "{key}");
    }
}

#[test]
fn a_three_master_cluster_is_scanned_whole_each_key_once() {
    let cluster = Cluster::start(3);
    let mut written = generate("3.8", "py38", 4, 600);
    written.extend(generate("2.7", "py27", 0, 450));
    written.extend(generate("2.7", "py27p2", 2, 150));
    cluster.fill(&written);
    let want = expected(&written);
    let keys: BTreeSet<&str> = written.iter().map(|w| w.key.as_str()).collect();
    // Keys on every master.
    let dbsizes: Vec<u64> = cluster
        .nodes
        .iter()
        .map(|s| {
            redis_cli(s.port, &["DBSIZE"])
                .trim()
                .parse()
                .expect("dbsize")
        })
        .collect();
    assert!(dbsizes.iter().all(|&n| n > 100), "{dbsizes:?}");
    assert_eq!(dbsizes.iter().sum::<u64>(), keys.len() as u64);

    let url = format!("redis://127.0.0.1:{}", cluster.nodes[1].port);
    let args = ["--old", "2.7", "--new", "3.8", "--format", "jsonl", "--all"];
    let mut live_args = vec!["scan", "--redis", &url];
    live_args.extend(args);
    let out = bin(&live_args);
    let (lines, summary) = parse_jsonl(&out);
    let got: BTreeSet<_> = lines.keys().cloned().collect();
    let wanted: BTreeSet<_> = want.keys().cloned().collect();
    assert_eq!(got, wanted, "every value of every master, each once");
    let cov = &summary["coverage"];
    assert_eq!(cov["nodes"], 3, "{summary}");
    assert_eq!(cov["keys_seen"], keys.len() as u64, "{summary}");
    assert_eq!(cov["sampled"], want.len() as u64, "{summary}");
    assert_eq!(cov["vanished"], 0);

    let compared = compare_with_interpreters(&lines, &want);
    println!(
        "cluster: {} keys on 3 masters ({dbsizes:?}), {} values, {compared} checks against real 2.7 and 3.8 loads, 0 disagreements",
        keys.len(),
        want.len()
    );

    // A node scanned alone (--cluster no) gives exactly its own keys' lines, the same ones.
    let one = format!("redis://127.0.0.1:{}", cluster.nodes[0].port);
    let mut single_args = vec!["scan", "--redis", &one, "--cluster", "no"];
    single_args.extend(args);
    let (single, s_summary) = parse_jsonl(&bin(&single_args));
    assert_eq!(s_summary["coverage"]["keys_seen"], dbsizes[0]);
    for (id, v) in &single {
        assert_eq!(Some(v), lines.get(id), "{id:?}");
    }

    // snapshot + scan --snapshot of the cluster: the same lines.
    let snap = cluster.nodes[0].dir.join("cluster.snapshot");
    let snap_s = snap.to_string_lossy().to_string();
    let s = bin(&["snapshot", "--redis", &url, "--out", &snap_s]);
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    let mut off_args = vec!["scan", "--snapshot", &snap_s];
    off_args.extend(args);
    let (offline, o_summary) = parse_jsonl(&bin(&off_args));
    assert_eq!(o_summary["coverage"]["keys_seen"], keys.len() as u64);
    assert_eq!(
        offline, lines,
        "snapshot scan differs from the live cluster scan"
    );

    // SAVE on every master + scan --rdb of each dump: together, the same lines.
    let mut from_rdb = Lines::new();
    for n in &cluster.nodes {
        assert_eq!(redis_cli(n.port, &["SAVE"]).trim(), "OK");
        let dump = n.dir.join("dump.rdb").to_string_lossy().to_string();
        let mut rdb_args = vec!["scan", "--rdb", &dump];
        rdb_args.extend(args);
        let (part, _) = parse_jsonl(&bin(&rdb_args));
        for (id, v) in part {
            assert!(from_rdb.insert(id, v).is_none());
        }
    }
    assert_eq!(
        from_rdb, lines,
        "RDB scans differ from the live cluster scan"
    );

    // --limit and --rate hold across the parallel masters.
    let mut lim_args = vec!["scan", "--redis", &url, "--limit", "77"];
    lim_args.extend(args);
    let (lim, lim_summary) = parse_jsonl(&bin(&lim_args));
    assert_eq!(lim.len(), 77);
    assert_eq!(lim_summary["coverage"]["sampled"], 77);
    for (id, v) in &lim {
        assert_eq!(Some(v), lines.get(id));
    }
    assert_eq!(
        estimate(&url),
        keys.len() as u64,
        "estimate_keys sums DBSIZE over the masters"
    );
}

/// `estimate_keys` through the library.
fn estimate(url: &str) -> u64 {
    cache_compat::source::estimate_keys(url, &cache_compat::source::RedisOpts::default())
        .expect("estimate")
}

#[test]
fn keys_moving_between_masters_during_the_scan_are_read_once() {
    let cluster = Cluster::start(3);
    // Keys in a few slots of node 0, read slowly while those slots move to node 1 and back.
    let owner = cluster.owners();
    let p0 = cluster.nodes[0].port;
    let p1 = cluster.nodes[1].port;
    let mut written = Vec::new();
    let mut i = 0;
    let mut slots = BTreeSet::new();
    while written.len() < 3000 {
        let key = format!("m:{i}");
        i += 1;
        let s = slot(key.as_bytes());
        if owner[s as usize] != p0 || s >= 40 {
            continue;
        }
        slots.insert(s);
        written.push(Written {
            key,
            ty: "string".into(),
            field: None,
            score: None,
            value: b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00\x8c\x01x\x94.".to_vec(),
        });
    }
    cluster.fill(&written);
    let id = |port: u16| redis_cli(port, &["CLUSTER", "MYID"]).trim().to_string();
    let (id0, id1) = (id(p0), id(p1));
    let url = format!("redis://127.0.0.1:{p0}");
    let scan = common::cache_compat()
        .args(["scan", "--redis", &url, "--old", "3.8", "--new", "3.13"])
        .args(["--format", "jsonl", "--all", "--rate", "3000"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("scan");
    // Move every slot from node 0 to node 1 (key by key, with MIGRATE), as
    // `redis-cli --cluster reshard` does, while the scan runs.
    std::thread::sleep(Duration::from_millis(300));
    for &s in &slots {
        let s = s.to_string();
        redis_cli(p1, &["CLUSTER", "SETSLOT", &s, "IMPORTING", &id0]);
        redis_cli(p0, &["CLUSTER", "SETSLOT", &s, "MIGRATING", &id1]);
        loop {
            let keys = redis_cli(p0, &["CLUSTER", "GETKEYSINSLOT", &s, "20"]);
            let keys: Vec<&str> = keys.lines().filter(|l| !l.is_empty()).collect();
            if keys.is_empty() {
                break;
            }
            let mut args = vec!["MIGRATE", "127.0.0.1", "", "", "0", "5000", "KEYS"];
            let p1s = p1.to_string();
            args[2] = &p1s;
            args.extend(keys.iter().copied());
            let r = redis_cli(p0, &args);
            assert!(r.contains("OK"), "MIGRATE: {r}");
            std::thread::sleep(Duration::from_millis(20));
        }
        for p in [p0, p1] {
            redis_cli(p, &["CLUSTER", "SETSLOT", &s, "NODE", &id1]);
        }
    }
    let out = scan.wait_with_output().expect("scan");
    let (lines, summary) = parse_jsonl(&out);
    let got: BTreeSet<String> = lines.keys().map(|k| k.0.clone()).collect();
    let want: BTreeSet<String> = written.iter().map(|w| w.key.clone()).collect();
    let missing: Vec<&String> = want.difference(&got).take(5).collect();
    assert!(
        got == want,
        "every key read once: {} of {} read, missing e.g. {missing:?}: {summary}",
        got.len(),
        want.len()
    );
    let cov = &summary["coverage"];
    assert_eq!(cov["vanished"], 0, "{summary}");
    println!(
        "reshard during the scan: {} keys, {} read from their new node after MOVED/ASK, {} passes repeated",
        want.len(),
        cov["redirected"],
        cov["rescans"]
    );
    assert!(
        cov["redirected"].as_u64().unwrap_or(0) > 0,
        "the scan met keys that had moved: {summary}"
    );
}

// ---------------------------------------------------------------------------------------------
// Lists, sets, sorted sets, hashes and the size caps on one server, live = snapshot = RDB.

#[test]
fn collections_and_caps_agree_live_snapshot_and_rdb() {
    let server = common::start_redis();
    let port = server.port;
    let mut written = generate("3.8", "py38", 4, 200);
    written.extend(generate("2.7", "py27", 0, 200));
    // A list and a sorted set longer than the cap; a sorted set big enough to be a skiplist (the
    // dump holds it highest score first); strings longer than the value cap.
    for j in 0..300 {
        let v = python_free_pickle(j);
        written.push(Written {
            key: "big:list".into(),
            ty: "list".into(),
            field: None,
            score: None,
            value: v.clone(),
        });
        written.push(Written {
            key: "big:zset".into(),
            ty: "zset".into(),
            field: None,
            score: Some(((j * 7919) % 300) as f64 - 150.0),
            value: v,
        });
    }
    let long: Vec<u8> = {
        // A protocol-4 pickle of a 5000-byte str.
        let mut v =
            b"\x80\x04\x95\x93\x13\x00\x00\x00\x00\x00\x00\x8d\x88\x13\x00\x00\x00\x00\x00\x00"
                .to_vec();
        v.extend(std::iter::repeat_n(b'a', 5000));
        v.extend_from_slice(b"\x94.");
        v
    };
    for i in 0..5 {
        written.push(Written {
            key: format!("long:{i}"),
            ty: "string".into(),
            field: None,
            score: None,
            value: long.clone(),
        });
    }
    let mut cmds = Vec::new();
    for w in &written {
        let c = command(w);
        let parts: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
        resp(&mut cmds, &parts);
    }
    redis_pipe(port, &cmds);
    assert_eq!(
        redis_cli(port, &["OBJECT", "ENCODING", "big:zset"]).trim(),
        "skiplist"
    );
    let url = format!("redis://127.0.0.1:{port}");
    let common_args = ["--old", "2.7", "--new", "3.8", "--format", "jsonl", "--all"];

    // Uncapped: every value, checked against the interpreters.
    let mut live_args = vec!["scan", "--redis", &url];
    live_args.extend(common_args);
    let (lines, summary) = parse_jsonl(&bin(&live_args));
    let want = expected(&written);
    let got: BTreeSet<_> = lines.keys().cloned().collect();
    assert_eq!(got, want.keys().cloned().collect::<BTreeSet<_>>());
    assert_eq!(summary["coverage"]["partial"], 0);
    let compared = compare_with_interpreters(&lines, &want);
    println!(
        "collections: {} values, {compared} checks against real 2.7 and 3.8 loads, 0 disagreements",
        want.len()
    );

    // Capped: 5 elements a key, 1000 bytes a value. Live, snapshot and RDB give the same lines.
    let caps = ["--max-elements", "5", "--max-value-bytes", "1000"];
    let mut capped_args = vec!["scan", "--redis", &url];
    capped_args.extend(common_args);
    capped_args.extend(caps);
    let (capped, c_summary) = parse_jsonl(&bin(&capped_args));
    // The lists and sorted sets: their first 5 items / lowest 5 ranks, as LRANGE / ZRANGE say.
    for key in ["big:list", "big:zset"] {
        let ids: Vec<_> = capped.keys().filter(|(k, _)| k == key).collect();
        let expect: Vec<_> = (0..5)
            .map(|i| (key.to_string(), Some(i.to_string())))
            .collect();
        assert_eq!(ids, expect.iter().collect::<Vec<_>>());
        for id in ids {
            assert_eq!(capped[id], lines[id], "{id:?}");
        }
    }
    // Long strings are partial: a note with the server's STRLEN, no check, no failure.
    let strlen = redis_cli(port, &["STRLEN", "long:0"]).trim().to_string();
    for i in 0..5 {
        let v = &capped[&(format!("long:{i}"), None)];
        assert!(v["checks"].is_null(), "{v}");
        assert_eq!(
            v["note"].as_str().unwrap_or(""),
            format!(
                "partial: only the first 1000 of {strlen} bytes were read (--max-value-bytes); not judged"
            )
        );
    }
    assert_eq!(c_summary["coverage"]["partial"], 5, "{c_summary}");
    // Every other value is judged as uncapped.
    for (id, v) in &capped {
        if !id.0.starts_with("long:") {
            assert_eq!(Some(v), lines.get(id), "{id:?}");
        }
    }

    let snap = server
        .dir
        .join("capped.snapshot")
        .to_string_lossy()
        .to_string();
    let mut snap_args = vec!["snapshot", "--redis", &url, "--out", &snap];
    snap_args.extend(caps);
    let s = bin(&snap_args);
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    let mut off_args = vec!["scan", "--snapshot", &snap];
    off_args.extend(common_args);
    let (offline, o_summary) = parse_jsonl(&bin(&off_args));
    assert_eq!(
        offline, capped,
        "snapshot differs from the live capped scan"
    );
    assert_eq!(o_summary["coverage"]["partial"], 5);

    assert_eq!(redis_cli(port, &["SAVE"]).trim(), "OK");
    let dump = server.dir.join("dump.rdb").to_string_lossy().to_string();
    let mut rdb_args = vec!["scan", "--rdb", &dump];
    rdb_args.extend(common_args);
    rdb_args.extend(caps);
    let (from_rdb, r_summary) = parse_jsonl(&bin(&rdb_args));
    assert_eq!(from_rdb, capped, "RDB differs from the live capped scan");
    assert_eq!(r_summary["coverage"]["partial"], 5);
    let mut rdb_full = vec!["scan", "--rdb", &dump];
    rdb_full.extend(common_args);
    let (from_rdb_full, _) = parse_jsonl(&bin(&rdb_full));
    assert_eq!(from_rdb_full, lines, "RDB differs from the live scan");
}

/// A small protocol-2 pickle of the int j (no interpreter needed: BININT2 is two bytes).
fn python_free_pickle(j: u16) -> Vec<u8> {
    let [a, b] = j.to_le_bytes();
    vec![0x80, 2, b'M', a, b, b'.']
}

// ---------------------------------------------------------------------------------------------
// A replica

#[test]
fn a_read_only_replica_is_scanned_like_its_master() {
    let master = common::start_redis();
    let written = generate("2.7", "py27", 0, 300);
    let mut cmds = Vec::new();
    for w in &written {
        let c = command(w);
        let parts: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
        resp(&mut cmds, &parts);
    }
    redis_pipe(master.port, &cmds);
    let mp = master.port.to_string();
    let replica = common::start_redis_with(&["--replicaof", "127.0.0.1", &mp]);
    let t = Instant::now();
    loop {
        let info = redis_cli(replica.port, &["INFO", "replication"]);
        let size = redis_cli(replica.port, &["DBSIZE"]);
        if info.contains("master_link_status:up") && size == redis_cli(master.port, &["DBSIZE"]) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "replica not in sync");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The replica refuses writes (replica-read-only, the default).
    assert!(redis_cli(replica.port, &["SET", "x", "1"]).contains("READONLY"));
    let args = ["--old", "2.7", "--new", "3.8", "--format", "jsonl", "--all"];
    let run = |port: u16| {
        let url = format!("redis://127.0.0.1:{port}");
        let mut a = vec!["scan", "--redis", &url];
        a.extend(args);
        parse_jsonl(&bin(&a))
    };
    let (from_master, _) = run(master.port);
    let (from_replica, summary) = run(replica.port);
    assert_eq!(from_replica.len(), expected(&written).len());
    assert_eq!(from_replica, from_master);
    assert_eq!(summary["coverage"]["nodes"], 1);
}

// ---------------------------------------------------------------------------------------------
// TLS

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA, a server certificate for localhost / 127.0.0.1 and a client certificate, in `dir`.
fn make_certs(dir: &std::path::Path, ca: &str) {
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext");
    let key = format!("{ca}.key");
    let crt = format!("{ca}.crt");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &crt,
            "-days",
            "2",
            "-subj",
            "/CN=cache-compat test CA",
        ],
    );
    for who in ["server", "client"] {
        let k = format!("{who}.key");
        let csr = format!("{who}.csr");
        let c = format!("{who}.crt");
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &k,
                "-out",
                &csr,
                "-subj",
                "/CN=localhost",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &crt,
                "-CAkey",
                &key,
                "-CAcreateserial",
                "-out",
                &c,
                "-days",
                "2",
                "-extfile",
                "san.ext",
            ],
        );
    }
}

#[test]
fn tls_with_client_certificates() {
    let certs = std::env::temp_dir().join(format!("cc-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&certs);
    std::fs::create_dir_all(certs.join("cadir")).expect("dir");
    make_certs(&certs, "ca");
    // Another CA that did not sign the server's certificate.
    let other = certs.join("other");
    std::fs::create_dir_all(&other).expect("dir");
    make_certs(&other, "other");
    std::fs::copy(certs.join("ca.crt"), certs.join("cadir/ca.pem")).expect("copy");
    let p = |f: &str| certs.join(f).to_string_lossy().to_string();
    let port = common::free_port();
    let server = common::start_redis_on(
        port,
        &["--port", "0", "--tls-port", &port.to_string()],
        &[
            "--tls-cert-file",
            &p("server.crt"),
            "--tls-key-file",
            &p("server.key"),
            "--tls-ca-cert-file",
            &p("ca.crt"),
            "--tls-auth-clients",
            "yes",
        ],
    );
    // Fill it over TLS with redis-cli.
    let written = generate("3.8", "py38", 4, 50);
    let mut cmds = Vec::new();
    for w in &written {
        let c = command(w);
        let parts: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
        resp(&mut cmds, &parts);
    }
    {
        use std::io::Write;
        let mut pipe = Command::new("redis-cli")
            .args(["-h", "localhost", "-p", &port.to_string(), "--tls"])
            .args(["--cacert", &p("ca.crt"), "--cert", &p("client.crt")])
            .args(["--key", &p("client.key"), "--pipe"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("redis-cli");
        pipe.stdin
            .take()
            .expect("stdin")
            .write_all(&cmds)
            .expect("write");
        let out = pipe.wait_with_output().expect("wait");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("errors: 0"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let n = expected(&written).len() as u64;
    let scan = |url: &str, extra: &[&str]| {
        let mut a = vec![
            "scan", "--redis", url, "--old", "3.8", "--new", "3.13", "--format", "jsonl",
        ];
        a.extend(extra);
        bin(&a)
    };
    let sampled = |o: &Output| -> u64 {
        let (_, s) = parse_jsonl(o);
        s["coverage"]["sampled"].as_u64().unwrap_or(0)
    };
    let ca = p("ca.crt");
    let cert = p("client.crt");
    let key = p("client.key");
    let client = ["--cert", cert.as_str(), "--key", key.as_str()];
    let tls_url = format!("rediss://localhost:{port}");
    let plain_url = format!("redis://localhost:{port}");
    let ip_url = format!("rediss://127.0.0.1:{port}");

    // rediss:// + --cacert + client certificate.
    let mut a = vec!["--cacert", ca.as_str()];
    a.extend(client);
    assert_eq!(sampled(&scan(&tls_url, &a)), n);
    // redis:// + --tls, the CA from a directory, an IP address in the certificate's SAN.
    let cadir = p("cadir");
    let mut a = vec!["--tls", "--cacertdir", cadir.as_str()];
    a.extend(client);
    assert_eq!(sampled(&scan(&plain_url, &a)), n);
    assert_eq!(sampled(&scan(&ip_url, &a)), n);
    // --insecure: no CA needed.
    let mut a = vec!["--insecure"];
    a.extend(client);
    assert_eq!(sampled(&scan(&tls_url, &a)), n);

    let fails = |o: Output, what: &str| {
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains("cannot reach Redis"), "{what}: {err}");
        err
    };
    // A CA that did not sign the server's certificate.
    let wrong = other.join("other.crt").to_string_lossy().to_string();
    let mut a = vec!["--cacert", wrong.as_str()];
    a.extend(client);
    let err = fails(scan(&tls_url, &a), "wrong CA");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    // No client certificate: the server (tls-auth-clients yes) refuses.
    fails(scan(&tls_url, &["--cacert", &ca]), "no client certificate");
    // Plain text to a TLS port.
    fails(scan(&plain_url, &[]), "no TLS");
    // --sni other than the host is refused clearly (exit 2) rather than ignored.
    let mut a = vec!["--cacert", ca.as_str(), "--sni", "redis.example"];
    a.extend(client);
    let o = scan(&tls_url, &a);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--sni"));
    drop(server);
    let _ = std::fs::remove_dir_all(&certs);
}

// ---------------------------------------------------------------------------------------------
// redis-cli's connection flags, and read-only ACL users

/// `ACL SETUSER reader ...` with the given rules, then the default user switched off, so that a
/// scan that did not authenticate as `reader` fails.
fn reader_only(port: u16, rules: &[&str]) {
    let mut args = vec!["ACL", "SETUSER", "reader", "on", ">s3cret", "~*", "&*"];
    args.extend(rules);
    assert_eq!(redis_cli(port, &args).trim(), "OK");
    assert_eq!(
        redis_cli(port, &["ACL", "SETUSER", "default", "off"]).trim(),
        "OK"
    );
}

#[test]
fn user_pass_and_db_flags_as_redis_cli_has_them() {
    let server = common::start_redis();
    let port = server.port;
    let written = generate("2.7", "py27", 0, 40);
    let mut cmds = Vec::new();
    resp(&mut cmds, &[b"SELECT", b"2"]);
    for w in &written {
        let c = command(w);
        let parts: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
        resp(&mut cmds, &parts);
    }
    redis_pipe(port, &cmds);
    // Reads, plus SELECT for -n (redis-rs sends it on connecting).
    reader_only(port, &["+@read", "+select"]);
    let n = expected(&written).len() as u64;
    let run = |url: &str, extra: &[&str], env: Option<&str>| {
        let mut c = common::cache_compat();
        c.args(["scan", "--redis", url, "--old", "2.7", "--new", "3.8"])
            .args(["--format", "jsonl"])
            .args(extra)
            .env_remove("REDISCLI_AUTH");
        if let Some(pw) = env {
            c.env("REDISCLI_AUTH", pw);
        }
        c.output().expect("scan")
    };
    let sampled = |o: &Output| {
        let (_, s) = parse_jsonl(o);
        s["coverage"]["sampled"].as_u64().unwrap_or(0)
    };
    let url = format!("redis://127.0.0.1:{port}");
    assert_eq!(
        sampled(&run(
            &url,
            &["--user", "reader", "--pass", "s3cret", "-n", "2"],
            None
        )),
        n
    );
    assert_eq!(
        sampled(&run(
            &url,
            &["--user", "reader", "-a", "s3cret", "--db", "2"],
            None
        )),
        n
    );
    // REDISCLI_AUTH with --user; --pass over a URL's (wrong) password; -n over the URL's /0.
    assert_eq!(
        sampled(&run(&url, &["--user", "reader", "-n", "2"], Some("s3cret"))),
        n
    );
    let wrong = format!("redis://reader:nope@127.0.0.1:{port}/0");
    assert_eq!(
        sampled(&run(&wrong, &["--pass", "s3cret", "-n", "2"], None)),
        n
    );
    // Database 0 is empty; the right password is needed; it is never printed.
    assert_eq!(
        sampled(&run(&url, &["--user", "reader", "-a", "s3cret"], None)),
        0
    );
    let o = run(
        &url,
        &["--user", "reader", "-a", "wrong-pw", "-n", "2"],
        None,
    );
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("wrong-pw"), "{err}");
    let o = run(&wrong, &["-n", "2"], None);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        !err.contains("nope") && err.contains("reader:***@"),
        "{err}"
    );
    // Nothing was written.
    let dbsize = Command::new("redis-cli")
        .args([
            "-p",
            &port.to_string(),
            "--user",
            "reader",
            "--pass",
            "s3cret",
        ])
        .args(["--no-auth-warning", "-n", "2", "DBSIZE"])
        .output()
        .expect("dbsize");
    assert_eq!(
        String::from_utf8_lossy(&dbsize.stdout).trim(),
        written
            .iter()
            .map(|w| w.key.as_str())
            .collect::<BTreeSet<_>>()
            .len()
            .to_string()
    );
}

#[test]
fn a_cluster_needs_nothing_but_reads_and_cluster_slots() {
    let cluster = Cluster::start(3);
    let written = generate("3.8", "py38", 4, 300);
    cluster.fill(&written);
    for n in &cluster.nodes {
        let narrow = [
            "ACL", "SETUSER", "narrow", "on", ">s3cret", "~*", "&*", "+@read",
        ];
        assert_eq!(redis_cli(n.port, &narrow).trim(), "OK");
        reader_only(n.port, &["+@read", "+cluster|slots"]);
    }
    let url = format!("redis://reader@127.0.0.1:{}", cluster.nodes[2].port);
    let out = common::cache_compat()
        .args(["scan", "--redis", &url, "--old", "3.8", "--new", "3.13"])
        .args(["--format", "jsonl", "--all"])
        .env("REDISCLI_AUTH", "s3cret")
        .output()
        .expect("scan");
    let (lines, summary) = parse_jsonl(&out);
    assert_eq!(lines.len(), expected(&written).len(), "{summary}");
    assert_eq!(summary["coverage"]["nodes"], 3);
    // Without +cluster|slots the tool says what is missing (exit 2) rather than scanning one node.
    let url = format!("redis://narrow@127.0.0.1:{}", cluster.nodes[2].port);
    let out = common::cache_compat()
        .args(["scan", "--redis", &url, "--old", "3.8", "--new", "3.13"])
        .env("REDISCLI_AUTH", "s3cret")
        .output()
        .expect("scan");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cluster|slots"), "{err}");
}

#[test]
fn connections_killed_on_every_master_mid_scan_lose_no_key() {
    let cluster = Cluster::start(3);
    let written: Vec<Written> = (0..9000)
        .map(|i| Written {
            key: format!("k:{i}"),
            ty: "string".into(),
            field: None,
            score: None,
            value: python_free_pickle(i),
        })
        .collect();
    cluster.fill(&written);
    let url = format!("redis://127.0.0.1:{}", cluster.nodes[0].port);
    let scan = common::cache_compat()
        .args(["scan", "--redis", &url, "--old", "3.8", "--new", "3.13"])
        // 9,000 keys at 3,000 keys/s: both rounds of kills (0.7 s, 1.4 s) land mid-scan, however
        // fast the reads are (at 12,000 keys/s the scan could end before the first round).
        .args(["--format", "jsonl", "--rate", "3000"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("scan");
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(700));
        for n in &cluster.nodes {
            redis_cli(
                n.port,
                &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"],
            );
        }
    }
    let out = scan.wait_with_output().expect("scan");
    let (_, summary) = parse_jsonl(&out);
    let cov = &summary["coverage"];
    assert_eq!(cov["sampled"], 9000, "{summary}");
    assert_eq!(cov["keys_seen"], 9000, "{summary}");
    assert!(cov["reconnects"].as_u64().unwrap_or(0) >= 3, "{summary}");
}
