//! `src/rdb.rs` against real `redis-server` dumps. Each test starts its own server on a free
//! loopback port with its own `--dir`, writes data through a small RESP client (binary-safe, so
//! values with `\0` and `\xff` go in as they are), asks the server what it holds (GET, HGETALL,
//! LRANGE, SMEMBERS, ZRANGE, PTTL: the oracle), runs SAVE and reads `dump.rdb`.
//! Encodings Redis 7 no longer writes (zipmap, ziplists, quicklist 1, intsets of every width, the
//! old zset scores) are written by hand into an RDB 9 file that the real server then loads: what
//! it serves back is the oracle for those, and its checksum verification the oracle for ours.

use cache_compat::source::rdb::{
    Elem, Kind, RdbError, read_rdb, read_rdb_bytes, visit_rdb, visit_rdb_bytes,
};
use cache_compat::source::{Caps, Coverage, Filter, Sample};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// A redis-server of our own, and a RESP client.

struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static SERVERS: AtomicU32 = AtomicU32::new(0);

/// A server with `extra` options, loading `dump` at start if given.
fn start(extra: &[&str], dump: Option<&[u8]>) -> Server {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let n = SERVERS.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("cc-rdb-{}-{port}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    if let Some(d) = dump {
        std::fs::write(dir.join("dump.rdb"), d).expect("write dump");
    }
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--dbfilename",
            "dump.rdb",
        ])
        .args(["--rdbcompression", "yes", "--rdbchecksum", "yes"])
        .args(["--hash-max-listpack-entries", "128"])
        .args(["--hash-max-listpack-value", "64"])
        .args(["--enable-debug-command", "yes"])
        .args(extra)
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server is installed (.ci/test-all installs it)");
    let server = Server { child, port, dir };
    let t = Instant::now();
    loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            let mut c = Conn::new(s);
            if c.cmd(&["PING"]) == Reply::Status("PONG".into()) {
                break;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "redis-server did not start (or refused the dump)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

impl Server {
    fn conn(&self) -> Conn {
        Conn::new(TcpStream::connect(("127.0.0.1", self.port)).expect("connect"))
    }

    /// SAVE, and the dump's path.
    fn save(&self) -> PathBuf {
        assert_eq!(self.conn().cmd(&["SAVE"]), Reply::Status("OK".into()));
        self.dir.join("dump.rdb")
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Reply>),
}

impl Reply {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Reply::Bulk(b) => b.clone(),
            other => panic!("expected a bulk string, got {other:?}"),
        }
    }
    fn array(&self) -> Vec<Reply> {
        match self {
            Reply::Array(a) => a.clone(),
            other => panic!("expected an array, got {other:?}"),
        }
    }
    fn int(&self) -> i64 {
        match self {
            Reply::Int(i) => *i,
            other => panic!("expected an integer, got {other:?}"),
        }
    }
}

struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    fn new(s: TcpStream) -> Conn {
        Conn {
            w: s.try_clone().expect("clone"),
            r: BufReader::new(s),
        }
    }

    fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        let mut buf = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            let a = a.as_ref();
            buf.extend(format!("${}\r\n", a.len()).bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&buf).expect("write");
    }

    fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Reply {
        self.send(args);
        self.read()
    }

    /// A command that must not fail.
    fn ok<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Reply {
        let r = self.cmd(args);
        if let Reply::Error(e) = &r {
            let shown: Vec<String> = args
                .iter()
                .map(|a| {
                    String::from_utf8_lossy(a.as_ref())
                        .chars()
                        .take(40)
                        .collect()
                })
                .collect();
            panic!("{shown:?}: {e}");
        }
        r
    }

    /// Many commands at once, replies checked.
    fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) {
        for c in cmds {
            self.send(c);
        }
        for _ in cmds {
            if let Reply::Error(e) = self.read() {
                panic!("{e}");
            }
        }
    }

    fn read(&mut self) -> Reply {
        let mut line = Vec::new();
        self.r.read_until(b'\n', &mut line).expect("read");
        assert!(line.ends_with(b"\r\n"), "bad reply line {line:?}");
        let text = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        match line[0] {
            b'+' => Reply::Status(text),
            b'-' => Reply::Error(text),
            b':' => Reply::Int(text.parse().expect("int")),
            b'$' => {
                let n: i64 = text.parse().expect("len");
                if n < 0 {
                    return Reply::Nil;
                }
                let mut b = vec![0u8; n as usize + 2];
                std::io::Read::read_exact(&mut self.r, &mut b).expect("bulk");
                b.truncate(n as usize);
                Reply::Bulk(b)
            }
            b'*' => {
                let n: i64 = text.parse().expect("len");
                if n < 0 {
                    return Reply::Nil;
                }
                Reply::Array((0..n).map(|_| self.read()).collect())
            }
            c => panic!("unknown reply type {c}"),
        }
    }
}

fn args(a: &[&[u8]]) -> Vec<Vec<u8>> {
    a.iter().map(|x| x.to_vec()).collect()
}

// ---------------------------------------------------------------------------------------------
// What a database holds, from the server (the oracle) and from the dump (the reader).

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Str(Vec<u8>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    List(Vec<Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    /// Sorted by score then member (the dump may store them in reverse).
    ZSet(Vec<(Vec<u8>, String)>),
    Stream,
}

/// (db, key) -> (value, has an expiry)
type Model = BTreeMap<(u64, Vec<u8>), (Val, bool)>;
/// key, hash field, value
type Triple = (Vec<u8>, Option<Vec<u8>>, Vec<u8>);
/// (key, hash field) -> (value, ttl rounded)
type Flat = BTreeMap<(Vec<u8>, Option<Vec<u8>>), (Vec<u8>, Option<i64>)>;
type Scores = Vec<(Vec<u8>, f64)>;

fn score_text(s: f64) -> String {
    if s.is_infinite() {
        if s > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{s:?}")
    }
}

fn sort_zset(mut v: Vec<(Vec<u8>, f64)>) -> Vec<(Vec<u8>, String)> {
    v.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    v.into_iter().map(|(m, s)| (m, score_text(s))).collect()
}

/// Everything the server holds in databases 0..16, read with read commands.
fn server_model(s: &Server) -> Model {
    let mut c = s.conn();
    let mut m = Model::new();
    for db in 0..16u64 {
        c.ok(&["SELECT", &db.to_string()]);
        let keys: Vec<Vec<u8>> = c
            .ok(&["KEYS", "*"])
            .array()
            .iter()
            .map(Reply::bytes)
            .collect();
        for k in keys {
            let ty = match c.ok(&[&b"TYPE"[..], &k]) {
                Reply::Status(t) => t,
                other => panic!("{other:?}"),
            };
            let list = |r: Reply| -> Vec<Vec<u8>> { r.array().iter().map(Reply::bytes).collect() };
            let v = match ty.as_str() {
                "string" => Val::Str(c.ok(&[&b"GET"[..], &k]).bytes()),
                "hash" => {
                    let kv = list(c.ok(&[&b"HGETALL"[..], &k]));
                    Val::Hash(kv.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect())
                }
                "list" => Val::List(list(c.ok(&[&b"LRANGE"[..], &k, b"0", b"-1"]))),
                "set" => Val::Set(list(c.ok(&[&b"SMEMBERS"[..], &k])).into_iter().collect()),
                "zset" => {
                    let kv = list(c.ok(&[&b"ZRANGE"[..], &k, b"0", b"-1", b"WITHSCORES"]));
                    let v = kv
                        .chunks(2)
                        .map(|p| {
                            let s = String::from_utf8_lossy(&p[1]).into_owned();
                            (p[0].clone(), s.parse::<f64>().expect("score"))
                        })
                        .collect();
                    Val::ZSet(sort_zset(v))
                }
                "stream" => Val::Stream,
                t => panic!("type {t}"),
            };
            let ttl = c.ok(&[&b"PTTL"[..], &k]).int();
            m.insert((db, k), (v, ttl >= 0));
        }
    }
    m
}

/// Everything `visit_rdb` finds in the dump.
fn dump_model(path: &Path) -> Model {
    let mut m = Model::new();
    let mut zsets: BTreeMap<(u64, Vec<u8>), Scores> = BTreeMap::new();
    let mut kinds: Vec<(u64, Vec<u8>, Kind, bool)> = Vec::new();
    let r = visit_rdb(
        path,
        |k| {
            kinds.push((k.db, k.name.to_vec(), k.kind, k.expire_at_ms.is_some()));
            true
        },
        |k, e| {
            let id = (k.db, k.name.to_vec());
            let has_ttl = k.expire_at_ms.is_some();
            match e {
                Elem::String(v) => {
                    m.insert(id, (Val::Str(v.to_vec()), has_ttl));
                }
                Elem::Field { field, value, .. } => {
                    if let (Val::Hash(h), _) =
                        m.entry(id).or_insert((Val::Hash(BTreeMap::new()), has_ttl))
                    {
                        assert!(
                            h.insert(field.to_vec(), value.to_vec()).is_none(),
                            "duplicate field"
                        );
                    }
                }
                Elem::Member(v) => {
                    let proto = if k.kind == Kind::List {
                        Val::List(Vec::new())
                    } else {
                        Val::Set(BTreeSet::new())
                    };
                    match &mut m.entry(id).or_insert((proto, has_ttl)).0 {
                        Val::List(l) => l.push(v.to_vec()),
                        Val::Set(s) => assert!(s.insert(v.to_vec()), "duplicate member"),
                        other => panic!("{other:?}"),
                    }
                }
                Elem::Scored { member, score } => {
                    zsets.entry(id).or_default().push((member.to_vec(), score));
                }
            }
            ControlFlow::Continue(())
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(r, ControlFlow::Continue(()));
    for (id, v) in zsets {
        m.insert(id, (Val::ZSet(sort_zset(v)), false));
    }
    for (db, name, kind, ttl) in kinds {
        let e = m.entry((db, name)).or_insert((Val::Stream, ttl));
        e.1 = ttl;
        match (kind, &e.0) {
            (Kind::String, Val::Str(_))
            | (Kind::Hash, Val::Hash(_))
            | (Kind::List, Val::List(_))
            | (Kind::Set, Val::Set(_))
            | (Kind::ZSet, Val::ZSet(_))
            | (Kind::Stream | Kind::Module, Val::Stream) => {}
            (k, v) => panic!("kind {k:?} for {v:?}"),
        }
    }
    m
}

/// Every element of every key decoded.
fn visit_all(path: &Path) -> Result<ControlFlow<()>, RdbError> {
    visit_rdb(path, |_| true, |_, _| ControlFlow::Continue(()))
}

fn read_all(path: &Path, filter: &Filter) -> (Result<(), RdbError>, Vec<Sample>, Coverage) {
    let mut cov = Coverage::default();
    let mut out = Vec::new();
    let r = read_rdb(path, filter, |s| out.push(s), &mut cov);
    (r, out, cov)
}

/// The samples `read_rdb` must give for a model (with the default caps, which these tests stay
/// under): strings, hash fields, list items by index, set members by index in byte order, sorted-set
/// members by rank (src/source/mod.rs), key by key.
fn expected_samples(m: &Model) -> BTreeSet<Triple> {
    let mut out = BTreeSet::new();
    let idx = |i: usize| Some(i.to_string().into_bytes());
    for ((_, k), (v, _)) in m {
        match v {
            Val::Str(s) => {
                out.insert((k.clone(), None, s.clone()));
            }
            Val::Hash(h) => {
                for (f, x) in h {
                    out.insert((k.clone(), Some(f.clone()), x.clone()));
                }
            }
            Val::List(l) => {
                for (i, x) in l.iter().enumerate() {
                    out.insert((k.clone(), idx(i), x.clone()));
                }
            }
            // A BTreeSet iterates in byte order.
            Val::Set(st) => {
                for (i, x) in st.iter().enumerate() {
                    out.insert((k.clone(), idx(i), x.clone()));
                }
            }
            Val::ZSet(z) => {
                for (i, (x, _)) in z.iter().enumerate() {
                    out.insert((k.clone(), idx(i), x.clone()));
                }
            }
            Val::Stream => {}
        }
    }
    out
}

fn sample_set(s: &[Sample]) -> BTreeSet<Triple> {
    s.iter()
        .map(|s| (s.key.clone(), s.field.clone(), s.value.clone()))
        .collect()
}

/// Deterministic bytes that do not compress.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

/// Text that compresses, like a pickled dict of records.
fn pickle_like(n: usize) -> Vec<u8> {
    let mut v = b"\x80\x04\x95".to_vec();
    let mut i = 0u64;
    while v.len() < n {
        v.extend_from_slice(b"\x8c\x05title\x94\x8c\x0farticle number ");
        v.extend(i.to_string().bytes());
        v.extend_from_slice(b"\x94\x8c\x04body\x94");
        i += 1;
    }
    v.truncate(n);
    v
}

// ---------------------------------------------------------------------------------------------

#[test]
fn strings_of_every_encoding_read_back_as_written() {
    let s = start(&[], None);
    let mut c = s.conn();
    let mut written: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let ints = [
        "0",
        "7",
        "12",
        "-1",
        "127",
        "-128",
        "128",
        "-129",
        "32767",
        "-32768",
        "40000",
        "-40000",
        "2147483647",
        "-2147483648",
        "2147483648",
        "12345678901234",
        "9223372036854775807",
        "-9223372036854775808",
        "007",
        "+5",
        "1.5",
        "1e3",
        " 1",
    ];
    for (i, v) in ints.iter().enumerate() {
        written.push((format!("int:{i}").into_bytes(), v.as_bytes().to_vec()));
    }
    written.push((b"empty".to_vec(), Vec::new()));
    written.push((b"short".to_vec(), b"hello".to_vec()));
    written.push((
        b"bin".to_vec(),
        b"\x00\xff\x00pickle\x80\x02}q\x00.\xff".to_vec(),
    ));
    written.push((b"lzf:21".to_vec(), vec![b'a'; 21]));
    written.push((b"lzf:text".to_vec(), pickle_like(5000)));
    written.push((b"len:63".to_vec(), noise(63, 1)));
    written.push((b"len:64".to_vec(), noise(64, 2)));
    written.push((b"len:16383".to_vec(), noise(16383, 3)));
    written.push((b"len:16384".to_vec(), noise(16384, 4)));
    written.push((b"big:200k".to_vec(), pickle_like(200 * 1024)));
    written.push((b"big:noise".to_vec(), noise(100 * 1024, 5)));
    // Keys are strings too: integer-like, binary, long and compressible.
    written.push((b"12345".to_vec(), b"key is an int".to_vec()));
    written.push((b"-7".to_vec(), b"negative int key".to_vec()));
    written.push((b"\x00k\xff\n".to_vec(), b"binary key".to_vec()));
    written.push((vec![b'k'; 300], b"long compressible key".to_vec()));
    for (k, v) in &written {
        c.ok(&[&b"SET"[..], k, v]);
    }
    c.ok(&["SET", "ttl:px", "expiring", "PX", "3600000"]);
    c.ok(&["SET", "ttl:ex", "expiring", "EX", "7200"]);
    written.push((b"ttl:px".to_vec(), b"expiring".to_vec()));
    written.push((b"ttl:ex".to_vec(), b"expiring".to_vec()));

    // The oracle: the server holds what was written (and redis-cli --raw says so too).
    let model = server_model(&s);
    for (k, v) in &written {
        assert_eq!(model[&(0, k.clone())].0, Val::Str(v.clone()), "{k:?}");
    }
    let raw = Command::new("redis-cli")
        .args(["-p", &s.port.to_string(), "--raw", "GET", "int:15"])
        .output()
        .expect("redis-cli");
    assert_eq!(
        String::from_utf8_lossy(&raw.stdout).trim_end(),
        "12345678901234"
    );

    // The same data saved without and with LZF compression: both read the same.
    s.conn().ok(&["CONFIG", "SET", "rdbcompression", "no"]);
    let plain_path = s.dir.join("plain.rdb");
    std::fs::rename(s.save(), &plain_path).expect("rename");
    s.conn().ok(&["CONFIG", "SET", "rdbcompression", "yes"]);
    let path = s.save();
    let size = std::fs::metadata(&path).expect("dump").len();
    let plain_size = std::fs::metadata(&plain_path).expect("dump").len();
    assert!(
        size + 150_000 < plain_size,
        "LZF: {size} vs {plain_size} bytes"
    );
    let (r, plain_samples, _) = read_all(&plain_path, &Filter::default());
    r.expect("read");

    let (r, samples, cov) = read_all(&path, &Filter::default());
    r.expect("read");
    assert_eq!(samples.len(), written.len());
    assert_eq!(cov.keys_seen, written.len() as u64);
    assert_eq!(cov.sampled, written.len() as u64);
    assert_eq!(cov.skipped_types, 0);
    let got: BTreeMap<Vec<u8>, &Sample> = samples.iter().map(|s| (s.key.clone(), s)).collect();
    for (k, v) in &written {
        let smp = got.get(k).unwrap_or_else(|| panic!("{k:?} missing"));
        assert_eq!(&smp.value, v, "{}", String::from_utf8_lossy(k));
        assert_eq!(smp.kind, "string");
        assert_eq!(smp.field, None);
        match k.as_slice() {
            b"ttl:px" => {
                let t = smp.ttl_ms.expect("ttl");
                assert!(t > 3_500_000 && t <= 3_600_000, "{t}");
            }
            b"ttl:ex" => {
                let t = smp.ttl_ms.expect("ttl");
                assert!(t > 7_100_000 && t <= 7_200_000, "{t}");
            }
            _ => assert_eq!(smp.ttl_ms, None, "{k:?}"),
        }
    }
    assert_eq!(dump_model(&path), model);
    assert_eq!(dump_model(&plain_path), model);
    assert_eq!(sample_set(&plain_samples), sample_set(&samples));
}

#[test]
fn hashes_small_and_large_read_back_field_by_field() {
    let s = start(&[], None);
    let mut c = s.conn();
    // listpack: every integer width listpacks use, strings, binary, empty
    let small: Vec<(&[u8], Vec<u8>)> = vec![
        (b"a", b"1".to_vec()),
        (b"b", b"hello".to_vec()),
        (b"c", b"-5000".to_vec()),
        (b"d", b"100000".to_vec()),
        (b"e", b"-100000".to_vec()),
        (b"f", b"9999999999".to_vec()),
        (b"g", b"-1".to_vec()),
        (b"h", b"4095".to_vec()),
        (b"i", b"-4096".to_vec()),
        (b"j", b"127".to_vec()),
        (b"k", b"2147483647".to_vec()),
        (b"l", b"-9223372036854775808".to_vec()),
        (b"m", Vec::new()),
        (b"n", b"\x00\xff\x80\x04.".to_vec()),
        (b"12", b"an int field name".to_vec()),
        (b"\x00\xff", b"binary field name".to_vec()),
        (b"o", vec![b'z'; 64]),
    ];
    for (f, v) in &small {
        c.ok(&[&b"HSET"[..], b"h:small", f, v]);
    }
    // hashtable: more fields than hash-max-listpack-entries (128)
    let mut cmds = Vec::new();
    for i in 0..300 {
        let v = if i % 3 == 0 {
            i.to_string().into_bytes()
        } else {
            pickle_like(40 + i)
        };
        cmds.push(args(&[
            b"HSET",
            b"h:many",
            format!("field:{i}").as_bytes(),
            &v,
        ]));
    }
    c.pipeline(&cmds);
    // hashtable: a value longer than hash-max-listpack-value (64)
    c.ok(&["HSET", "h:wide", "x", "1", "y", "2"]);
    c.ok(&[&b"HSET"[..], b"h:wide", b"long", &[b'w'; 100]]);
    // hashtable with LZF-compressed values and a binary one
    c.ok(&[&b"HSET"[..], b"h:lzf", b"text", &pickle_like(3000)]);
    c.ok(&[&b"HSET"[..], b"h:lzf", b"noise", &noise(3000, 9)]);
    c.ok(&["HSET", "h:ttl", "f", "v"]);
    c.ok(&["PEXPIRE", "h:ttl", "3600000"]);
    c.ok(&["SET", "plain", "string"]);

    let model = server_model(&s);
    match &model[&(0, b"h:small".to_vec())].0 {
        Val::Hash(h) => {
            assert_eq!(h.len(), small.len());
            for (f, v) in &small {
                assert_eq!(&h[*f], v);
            }
        }
        other => panic!("{other:?}"),
    }
    let path = s.save();
    assert_eq!(dump_model(&path), model);
    let (r, samples, cov) = read_all(&path, &Filter::default());
    r.expect("read");
    assert_eq!(sample_set(&samples), expected_samples(&model));
    assert_eq!(samples.len(), small.len() + 300 + 3 + 2 + 1 + 1);
    assert_eq!(cov.sampled, samples.len() as u64);
    assert_eq!(cov.keys_seen, 6);
    for smp in &samples {
        if smp.key == b"plain" {
            assert_eq!((smp.kind.as_str(), &smp.field), ("string", &None));
            continue;
        }
        assert_eq!(smp.kind, "hash");
        assert!(smp.field.is_some());
        if smp.key == b"h:ttl" {
            assert!(smp.ttl_ms.is_some_and(|t| t > 3_500_000 && t <= 3_600_000));
        } else {
            assert_eq!(smp.ttl_ms, None);
        }
    }
}

/// Lists, sets, sorted sets, a stream, a function library and plain quicklist nodes around
/// strings; fills `s` and returns nothing: the oracle is `server_model`.
fn fill_other_types(s: &Server, scale: usize) {
    let mut c = s.conn();
    c.ok(&["SET", "before", "first string"]);
    c.ok(&[
        "RPUSH",
        "l:small",
        "a",
        "1",
        "-2",
        "300",
        "",
        "70000",
        "-5000000000",
    ]);
    c.ok(&[&b"RPUSH"[..], b"l:small", b"\x00\xff"]);
    let mut cmds = Vec::new();
    for i in 0..(200 * scale) {
        // Entries of every listpack string size (6-, 12- and 32-bit lengths, 1- to 3-byte
        // back-lengths) and integer width.
        let v = match i % 6 {
            0 => i.to_string().into_bytes(),
            1 => pickle_like(20 + i % 90),
            2 => noise(10 + i % 50, i as u64 + 1),
            3 => pickle_like(100 + (i * 37) % 6000),
            4 => format!("{}", (i as i64 - 100) * 7919 * 104_729).into_bytes(),
            _ => format!("-{i}").into_bytes(),
        };
        cmds.push(args(&[b"RPUSH", b"l:big", &v]));
    }
    c.pipeline(&cmds);
    // An entry over 16 KiB: a node of its own, 32-bit string length, 3-byte back-length.
    c.ok(&[&b"RPUSH"[..], b"l:big", &noise(20_000, 3)]);
    c.ok(&["RPUSH", "l:big", "after the big one"]);
    // A plain quicklist node: elements over the packed threshold are stored on their own.
    c.ok(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1000"]);
    c.ok(&["RPUSH", "l:plain", "small", "x"]);
    c.ok(&[&b"RPUSH"[..], b"l:plain", &pickle_like(5000)]);
    c.ok(&[&b"RPUSH"[..], b"l:plain", &noise(3000, 77)]);
    c.ok(&["RPUSH", "l:plain", "tail"]);
    c.ok(&["SADD", "s:int16", "1", "2", "3", "-5", "300"]);
    c.ok(&["SADD", "s:int32", "1", "100000", "-100000"]);
    c.ok(&[
        "SADD",
        "s:int64",
        "1",
        "10000000000",
        "-9223372036854775808",
    ]);
    let mut cmds = Vec::new();
    for i in 0..(300 * scale) {
        cmds.push(args(&[b"SADD", b"s:manyints", i.to_string().as_bytes()]));
    }
    c.pipeline(&cmds);
    c.ok(&["SADD", "s:str", "a", "b", "c", "1"]);
    c.ok(&[&b"SADD"[..], b"s:str", b"\x00\xff", &pickle_like(200)]);
    c.ok(&[
        "ZADD", "z:small", "1", "a", "2.5", "b", "-3", "c", "inf", "d", "-inf", "e", "0.1", "f",
        "1e100", "g",
    ]);
    let mut cmds = Vec::new();
    for i in 0..(150 * scale) {
        let score = format!("{}", (i as f64) * 1.25 - 37.0);
        cmds.push(args(&[
            b"ZADD",
            b"z:big",
            score.as_bytes(),
            format!("member:{i}").as_bytes(),
        ]));
    }
    c.pipeline(&cmds);
    c.ok(&[&b"ZADD"[..], b"z:big", b"3", &pickle_like(300)]);
    // A stream with two groups, pending entries, a deleted entry, consumers with and without PEL.
    for i in 0..(5 * scale) {
        c.ok(&["XADD", "st", "*", "field", &i.to_string(), "other", "x"]);
    }
    c.ok(&["XADD", "st", "*", "different", "fields", "n", "1"]);
    c.ok(&["XGROUP", "CREATE", "st", "g1", "0"]);
    c.ok(&["XGROUP", "CREATE", "st", "g2", "$"]);
    c.ok(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "alice",
        "COUNT",
        "3",
        "STREAMS",
        "st",
        ">",
    ]);
    c.ok(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "bob",
        "COUNT",
        "1",
        "STREAMS",
        "st",
        ">",
    ]);
    c.ok(&["XGROUP", "CREATECONSUMER", "st", "g2", "carol"]);
    let first = c.ok(&["XRANGE", "st", "-", "+", "COUNT", "1"]).array()[0].array()[0].bytes();
    c.ok(&[&b"XDEL"[..], b"st", &first]);
    c.ok(&["XADD", "st:empty", "*", "a", "b"]);
    c.ok(&["XTRIM", "st:empty", "MAXLEN", "0"]);
    c.ok(&[
        "FUNCTION",
        "LOAD",
        "#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return 1 end)",
    ]);
    c.ok(&["SET", "after", "last string"]);
    c.ok(&["HSET", "h:after", "f", "v"]);
}

#[test]
fn lists_sets_zsets_read_streams_skipped_and_parsed_over() {
    let s = start(&[], None);
    fill_other_types(&s, 3);
    let model = server_model(&s);
    let path = s.save();

    // read_rdb: strings, hash fields, list items, set and sorted-set members; streams counted.
    let (r, samples, cov) = read_all(&path, &Filter::default());
    r.expect("read");
    let expected = expected_samples(&model);
    assert_eq!(sample_set(&samples), expected);
    assert_eq!(samples.len(), expected.len());
    let streams = model
        .values()
        .filter(|(v, _)| matches!(v, Val::Stream))
        .count() as u64;
    assert_eq!(streams, 2);
    assert_eq!(cov.skipped_types, streams);
    assert_eq!(cov.keys_seen, model.len() as u64);

    // visit_rdb decodes every element of lists, sets and sorted sets: the same as the server.
    let dumped = dump_model(&path);
    for (k, v) in &model {
        assert_eq!(dumped.get(k), Some(v), "{}", String::from_utf8_lossy(&k.1));
    }
    assert_eq!(dumped, model);
}

#[test]
fn expiring_keys_and_several_databases() {
    let s = start(&[], None);
    let mut c = s.conn();
    c.ok(&["SET", "dup", "db0"]);
    c.ok(&["SET", "k0", "v0", "PX", "3600000"]);
    c.ok(&["SELECT", "1"]);
    c.ok(&["SET", "dup", "db1"]);
    c.ok(&["SET", "k1", "v1", "PX", "3600000"]);
    c.ok(&["HSET", "h1", "f", "v"]);
    c.ok(&["RPUSH", "l1", "x"]);
    c.ok(&["SELECT", "15"]);
    c.ok(&["SET", "dup", "db15"]);
    c.ok(&["PEXPIRE", "dup", "1800000"]);
    let model = server_model(&s);
    let path = s.save();
    let dumped = dump_model(&path);
    assert_eq!(dumped, model);
    assert!(dumped[&(1, b"k1".to_vec())].1 && dumped[&(15, b"dup".to_vec())].1);
    assert!(!dumped[&(1, b"dup".to_vec())].1);

    let (r, samples, cov) = read_all(&path, &Filter::default());
    r.expect("read");
    assert_eq!(cov.keys_seen, 7);
    assert_eq!(cov.skipped_types, 0);
    let dups: Vec<(&[u8], Option<i64>)> = samples
        .iter()
        .filter(|s| s.key == b"dup")
        .map(|s| (s.value.as_slice(), s.ttl_ms.map(|t| t / 600_000)))
        .collect();
    // Databases in order; ttl_ms is relative to now (here: within a 10-minute bucket).
    assert_eq!(
        dups,
        vec![(&b"db0"[..], None), (b"db1", None), (b"db15", Some(2))]
    );

    // The absolute expiry from visit_rdb is the server's PEXPIRETIME.
    let mut c = s.conn();
    c.ok(&["SELECT", "15"]);
    let server_at = c.ok(&["PEXPIRETIME", "dup"]).int();
    let mut at = None;
    let _ = visit_rdb(
        &path,
        |k| {
            if k.db == 15 {
                at = k.expire_at_ms;
            }
            false
        },
        |_, _| ControlFlow::Continue(()),
    )
    .expect("visit");
    assert_eq!(at, Some(server_at));
}

#[test]
fn filter_and_limit_as_for_live_redis() {
    let s = start(&[], None);
    let mut c = s.conn();
    for i in 0..20 {
        c.ok(&["SET", &format!("user:{i}"), &format!("u{i}")]);
        c.ok(&["SET", &format!("other:{i}"), "o"]);
    }
    c.ok(&["HSET", "user:h", "a", "1", "b", "2", "c", "3"]);
    c.ok(&["RPUSH", "user:list", "x"]);
    let path = s.save();
    let only = |m: &[&str], limit: Option<u64>| {
        let f = Filter {
            matches: m.iter().map(|s| s.to_string()).collect(),
            limit,
        };
        let (r, samples, cov) = read_all(&path, &f);
        r.expect("read");
        (samples, cov)
    };
    let (users, cov) = only(&["user:*"], None);
    assert_eq!(users.len(), 24);
    assert!(users.iter().all(|s| s.key.starts_with(b"user:")));
    assert_eq!((cov.keys_seen, cov.sampled, cov.skipped_types), (22, 24, 0));
    let (two, _) = only(&["user:1?", "other:[12]"], None);
    let keys: BTreeSet<Vec<u8>> = two.iter().map(|s| s.key.clone()).collect();
    assert_eq!(keys.len(), 12);
    let (lim, cov) = only(&["user:*"], Some(5));
    assert_eq!(lim.len(), 5);
    assert_eq!(cov.sampled, 5);
    assert_eq!(
        lim[..],
        users[..5],
        "the limit keeps the first samples, in dump order"
    );
    let (none, cov) = only(&["nothing:*"], None);
    assert!(none.is_empty());
    assert_eq!(cov.keys_seen, 0);
    let (zero, _) = only(&[], Some(0));
    assert!(zero.is_empty());
}

#[test]
fn truncated_dumps_are_errors_after_a_prefix_of_the_samples() {
    let s = start(&[], None);
    fill_other_types(&s, 1);
    let mut c = s.conn();
    c.ok(&[&b"SET"[..], b"lzf", &pickle_like(3000)]);
    c.ok(&["SET", "int", "12345"]);
    c.ok(&["SET", "ttl", "v", "PX", "3600000"]);
    c.ok(&["HSET", "h:small", "a", "1", "b", "two"]);
    c.ok(&[&b"HSET"[..], b"h:wide", b"long", &[b'w'; 100]]);
    let path = s.save();
    let dump = std::fs::read(&path).expect("dump");
    let (r, full, _) = read_all(&path, &Filter::default());
    r.expect("read");
    assert!(full.len() > 5);
    let cut_path = s.dir.join("cut.rdb");
    let mut cuts = 0;
    for cut in (0..dump.len())
        .step_by(97)
        .chain([dump.len() - 1, dump.len() - 8])
    {
        std::fs::write(&cut_path, &dump[..cut]).expect("write");
        let (r, got, _) = read_all(&cut_path, &Filter::default());
        match r {
            Err(RdbError::Corrupt { offset, .. }) => assert!(offset <= cut as u64),
            other => panic!("cut at {cut} of {}: {other:?}", dump.len()),
        }
        // (ttl_ms is relative to the time of reading: compared apart.)
        let strip = |s: &[Sample]| -> Vec<(Triple, bool)> {
            s.iter()
                .map(|s| {
                    (
                        (s.key.clone(), s.field.clone(), s.value.clone()),
                        s.ttl_ms.is_some(),
                    )
                })
                .collect()
        };
        let (got, full) = (strip(&got), strip(&full));
        assert!(
            visit_all(&cut_path).is_err(),
            "cut at {cut}: decoding every element"
        );
        assert!(
            got.len() <= full.len() && got[..] == full[..got.len()],
            "cut at {cut}"
        );
        cuts += 1;
    }
    assert!(cuts > 20);
}

#[test]
fn every_corrupted_byte_is_an_error_never_a_panic() {
    let s = start(&[], None);
    fill_other_types(&s, 1);
    let mut c = s.conn();
    c.ok(&[&b"SET"[..], b"lzf", &pickle_like(3000)]);
    c.ok(&["HSET", "h:small", "a", "1", "b", "two"]);
    let path = s.save();
    let dump = std::fs::read(&path).expect("dump");
    let bad_path = s.dir.join("bad.rdb");
    let t = Instant::now();
    for (n, at) in (0..dump.len()).step_by(41).enumerate() {
        let mut bad = dump.clone();
        bad[at] ^= [0x5a, 0xff, 0x01, 0x80][n % 4];
        std::fs::write(&bad_path, &bad).expect("write");
        let (r, _, _) = read_all(&bad_path, &Filter::default());
        // The CRC64 catches any single corrupted byte the parser itself does not.
        assert!(r.is_err(), "byte {at} flipped: read without error");
        assert!(
            visit_all(&bad_path).is_err(),
            "byte {at} flipped: decoded without error"
        );
    }
    assert!(t.elapsed() < Duration::from_secs(60));
}

// ---------------------------------------------------------------------------------------------
// Hand-written RDB files.

/// CRC-64/Jones, bit by bit (an implementation independent of the reader's tables).
fn crc64_bitwise(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for &b in data {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5
            } else {
                crc >> 1
            };
        }
    }
    crc
}

struct Rdb(Vec<u8>);

impl Rdb {
    fn new(version: u32) -> Rdb {
        Rdb(format!("REDIS{version:04}").into_bytes())
    }
    fn byte(&mut self, b: u8) -> &mut Self {
        self.0.push(b);
        self
    }
    fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    fn len(&mut self, n: u64) -> &mut Self {
        if n < 64 {
            self.byte(n as u8)
        } else if n < 16384 {
            self.raw(&[0x40 | (n >> 8) as u8, n as u8])
        } else if n <= u64::from(u32::MAX) {
            self.byte(0x80).raw(&(n as u32).to_be_bytes())
        } else {
            self.byte(0x81).raw(&n.to_be_bytes())
        }
    }
    fn str(&mut self, s: &[u8]) -> &mut Self {
        self.len(s.len() as u64).raw(s)
    }
    fn lzf(&mut self, s: &[u8]) -> &mut Self {
        let c = lzf_compress(s);
        self.byte(0xc3)
            .len(c.len() as u64)
            .len(s.len() as u64)
            .raw(&c)
    }
    fn int(&mut self, v: i64) -> &mut Self {
        if let Ok(x) = i8::try_from(v) {
            self.byte(0xc0).raw(&x.to_le_bytes())
        } else if let Ok(x) = i16::try_from(v) {
            self.byte(0xc1).raw(&x.to_le_bytes())
        } else {
            self.byte(0xc2).raw(&(v as i32).to_le_bytes())
        }
    }
    /// EOF and the checksum (0: none).
    fn finish(&mut self, checksum: bool) -> Vec<u8> {
        self.byte(0xff);
        let sum = if checksum { crc64_bitwise(&self.0) } else { 0 };
        self.raw(&sum.to_le_bytes());
        self.0.clone()
    }
}

/// A greedy LZF compressor (back references overlap when the data repeats at short distance).
fn lzf_compress(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut lit: Vec<u8> = Vec::new();
    let flush = |out: &mut Vec<u8>, lit: &mut Vec<u8>| {
        for chunk in lit.chunks(32) {
            out.push((chunk.len() - 1) as u8);
            out.extend_from_slice(chunk);
        }
        lit.clear();
    };
    let mut i = 0;
    while i < input.len() {
        let mut best = (0usize, 0usize);
        for d in 1..=i.min(8192) {
            let mut l = 0;
            while i + l < input.len() && l < 264 && input[i + l - d] == input[i + l] {
                l += 1;
            }
            if l > best.0 {
                best = (l, d);
            }
        }
        if best.0 >= 3 {
            flush(&mut out, &mut lit);
            let (len, off) = (best.0 - 2, best.1 - 1);
            if len < 7 {
                out.push((len << 5) as u8 | (off >> 8) as u8);
            } else {
                out.push((7 << 5) as u8 | (off >> 8) as u8);
                out.push((len - 7) as u8);
            }
            out.push(off as u8);
            i += best.0;
        } else {
            lit.push(input[i]);
            i += 1;
        }
    }
    flush(&mut out, &mut lit);
    out
}

enum Z<'a> {
    S(&'a [u8]),
    I(i64),
}

/// A ziplist as Redis 2.6-6.2 writes it (prevlen of 1 or 5 bytes, every encoding).
fn ziplist(entries: &[Z]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut prev = 0usize;
    let mut tail = 10;
    for e in entries {
        tail = 10 + body.len();
        let mut ent = Vec::new();
        if prev < 254 {
            ent.push(prev as u8);
        } else {
            ent.push(254);
            ent.extend((prev as u32).to_le_bytes());
        }
        match *e {
            Z::S(s) => {
                let n = s.len();
                if n < 64 {
                    ent.push(n as u8);
                } else if n < 16384 {
                    ent.extend([0x40 | (n >> 8) as u8, n as u8]);
                } else {
                    ent.push(0x80);
                    ent.extend((n as u32).to_be_bytes());
                }
                ent.extend_from_slice(s);
            }
            Z::I(v) => {
                if (0..=12).contains(&v) {
                    ent.push(0xf1 + v as u8);
                } else if let Ok(x) = i8::try_from(v) {
                    ent.push(0xfe);
                    ent.extend(x.to_le_bytes());
                } else if let Ok(x) = i16::try_from(v) {
                    ent.push(0xc0);
                    ent.extend(x.to_le_bytes());
                } else if (-(1 << 23)..(1 << 23)).contains(&v) {
                    ent.push(0xf0);
                    ent.extend(&(v as i32).to_le_bytes()[..3]);
                } else if let Ok(x) = i32::try_from(v) {
                    ent.push(0xd0);
                    ent.extend(x.to_le_bytes());
                } else {
                    ent.push(0xe0);
                    ent.extend(v.to_le_bytes());
                }
            }
        }
        prev = ent.len();
        body.extend(ent);
    }
    let mut v = ((10 + body.len() + 1) as u32).to_le_bytes().to_vec();
    v.extend((tail as u32).to_le_bytes());
    v.extend((entries.len() as u16).to_le_bytes());
    v.extend(body);
    v.push(0xff);
    v
}

/// A listpack as Redis 7 writes it.
fn listpack(entries: &[Z]) -> Vec<u8> {
    let mut body = Vec::new();
    for e in entries {
        let mut ent = Vec::new();
        match *e {
            Z::S(s) => {
                let n = s.len();
                if n < 64 {
                    ent.push(0x80 | n as u8);
                } else if n < 4096 {
                    ent.extend([0xe0 | (n >> 8) as u8, n as u8]);
                } else {
                    ent.push(0xf0);
                    ent.extend((n as u32).to_le_bytes());
                }
                ent.extend_from_slice(s);
            }
            Z::I(v) => {
                if (0..=127).contains(&v) {
                    ent.push(v as u8);
                } else if (-4096..4096).contains(&v) {
                    let u = (v & 0x1fff) as u16;
                    ent.extend([0xc0 | (u >> 8) as u8, u as u8]);
                } else if let Ok(x) = i16::try_from(v) {
                    ent.push(0xf1);
                    ent.extend(x.to_le_bytes());
                } else if (-(1 << 23)..(1 << 23)).contains(&v) {
                    ent.push(0xf2);
                    ent.extend(&(v as i32).to_le_bytes()[..3]);
                } else if let Ok(x) = i32::try_from(v) {
                    ent.push(0xf3);
                    ent.extend(x.to_le_bytes());
                } else {
                    ent.push(0xf4);
                    ent.extend(v.to_le_bytes());
                }
            }
        }
        let l = ent.len();
        let mut back = Vec::new();
        let mut x = l;
        back.push((x & 127) as u8);
        x >>= 7;
        while x > 0 {
            back.push((x & 127) as u8 | 128);
            x >>= 7;
        }
        back.reverse();
        if let Some(first) = back.first_mut() {
            *first &= 127;
        }
        if back.len() > 1 {
            let n = back.len();
            back[n - 1] |= 128;
        }
        ent.extend(back);
        body.extend(ent);
    }
    let mut v = ((6 + body.len() + 1) as u32).to_le_bytes().to_vec();
    v.extend((entries.len() as u16).to_le_bytes());
    v.extend(body);
    v.push(0xff);
    v
}

fn intset(width: usize, vals: &[i64]) -> Vec<u8> {
    let mut v = (width as u32).to_le_bytes().to_vec();
    v.extend((vals.len() as u32).to_le_bytes());
    for x in vals {
        v.extend_from_slice(&x.to_le_bytes()[..width]);
    }
    v
}

/// Keys in every encoding Redis 7 reads but no longer writes, in an RDB 9 file (Redis 5/6).
fn legacy_dump() -> Vec<u8> {
    let mut r = Rdb::new(9);
    r.byte(0xfa).str(b"redis-ver").str(b"6.0.16");
    r.byte(0xfa).str(b"redis-bits").int(64);
    r.byte(0xfa).str(b"ctime").int(1_600_000_000);
    r.byte(0xfe).len(0).byte(0xfb).len(20).len(2);
    // zipmap hash (Redis < 2.6): zmlen, then len key len free value [free bytes], end
    let mut zm = vec![2u8];
    zm.extend([2, b'f', b'1', 2, 0, b'v', b'1']);
    zm.extend([6]);
    zm.extend(b"field2");
    zm.extend([14, 3]);
    zm.extend(b"a longer value");
    zm.extend([0, 0, 0, 0xff]);
    r.byte(9).str(b"zipmap").str(&zm);
    let big = pickle_like(300);
    let zl_hash = ziplist(&[
        Z::S(b"imm"),
        Z::I(7),
        Z::S(b"i8"),
        Z::I(-100),
        Z::S(b"i16"),
        Z::I(-30000),
        Z::S(b"i24"),
        Z::I(8_000_000),
        Z::S(b"i32"),
        Z::I(-2_000_000_000),
        Z::S(b"i64"),
        Z::I(9_000_000_000_000),
        Z::S(b"big"),
        Z::S(&big),
        Z::S(b"after big"),
        Z::S(b"\x00\xff"),
        Z::I(0),
        Z::S(b"zero field"),
    ]);
    r.byte(13).str(b"zl:hash").str(&zl_hash);
    let zl_list = ziplist(&[Z::S(b"a"), Z::I(12), Z::I(13), Z::S(&[b'q'; 70]), Z::I(-1)]);
    r.byte(10).str(b"zl:list").lzf(&zl_list);
    let node1 = ziplist(&[Z::S(b"n1a"), Z::I(1), Z::S(&pickle_like(500))]);
    let node2 = ziplist(&[Z::I(2), Z::S(b"n2b")]);
    r.byte(14).str(b"ql").len(2).lzf(&node1).str(&node2);
    r.byte(11).str(b"is16").str(&intset(2, &[-5, 1, 300]));
    r.byte(11)
        .str(b"is32")
        .str(&intset(4, &[-100_000, 1, 100_000]));
    r.byte(11)
        .str(b"is64")
        .str(&intset(8, &[i64::MIN, 0, 10_000_000_000]));
    let zz = ziplist(&[
        Z::S(b"m1"),
        Z::S(b"-1.5"),
        Z::S(b"m2"),
        Z::I(3),
        Z::S(b"m3"),
        Z::S(b"1e10"),
    ]);
    r.byte(12).str(b"zz").str(&zz);
    // ZSET with text scores: 254 = +inf, 255 = -inf
    r.byte(3).str(b"zplain").len(4);
    r.str(b"a")
        .byte(3)
        .raw(b"1.5")
        .str(b"b")
        .byte(254)
        .str(b"c")
        .byte(255);
    r.str(b"d").byte(2).raw(b"-7");
    r.byte(5)
        .str(b"z2")
        .len(2)
        .str(b"x")
        .raw(&0.25f64.to_le_bytes())
        .str(b"y")
        .raw(&(-2.0f64).to_le_bytes());
    r.byte(1)
        .str(b"plainlist")
        .len(3)
        .str(b"x")
        .int(5)
        .lzf(&pickle_like(400));
    r.byte(2)
        .str(b"plainset")
        .len(3)
        .str(b"x")
        .int(-300)
        .str(b"\xff");
    r.byte(4)
        .str(b"plainhash")
        .len(2)
        .str(b"f")
        .lzf(&[b'a'; 200])
        .int(7)
        .int(70000);
    // Expiry in seconds (RDB < 3, still read), in ms, LRU idle and LFU freq before keys.
    r.byte(0xfd).raw(&2_000_000_000i32.to_le_bytes());
    r.byte(0).str(b"exp:s").str(b"seconds");
    r.byte(0xfc).raw(&(4_000_000_000_000i64).to_le_bytes());
    r.byte(0xf8).len(12345);
    r.byte(0).str(b"exp:ms").str(b"milliseconds");
    r.byte(0).int(42).int(-42);
    r.byte(0).lzf(&[b'k'; 100]).lzf(&pickle_like(2000));
    r.byte(0xfe).len(2).byte(0xfb).len(1).len(0);
    r.byte(0).str(b"in db 2").str(b"\x00\x01\x02\xff");
    r.finish(true)
}

#[test]
fn legacy_encodings_agree_with_redis_loading_the_same_file() {
    let dump = legacy_dump();
    let s = start(&[], Some(&dump));
    let model = server_model(&s);
    assert_eq!(model.len(), 18, "{model:#?}");
    let path = s.dir.join("legacy.rdb");
    std::fs::write(&path, &dump).expect("write");
    assert_eq!(dump_model(&path), model);
    // The seconds expiry is read as milliseconds.
    let mut at = BTreeMap::new();
    let _ = visit_rdb(
        &path,
        |k| {
            at.insert(k.name.to_vec(), k.expire_at_ms);
            false
        },
        |_, _| ControlFlow::Continue(()),
    )
    .expect("visit");
    assert_eq!(at[&b"exp:s".to_vec()], Some(2_000_000_000_000));
    assert_eq!(at[&b"exp:ms".to_vec()], Some(4_000_000_000_000));
    // Redis writes it back in its own encodings: the same content again.
    assert_eq!(dump_model(&s.save()), model);

    // A wrong checksum: Redis refuses the file, and so do we.
    let mut bad = dump.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    std::fs::write(&path, &bad).expect("write");
    let (r, _, _) = read_all(&path, &Filter::default());
    assert!(
        matches!(&r, Err(RdbError::Corrupt { msg, .. }) if msg.contains("checksum")),
        "{r:?}"
    );
    // No checksum (rdbchecksum no): nothing to verify.
    let mut none = dump[..n - 8].to_vec();
    none.extend([0u8; 8]);
    std::fs::write(&path, &none).expect("write");
    assert_eq!(dump_model(&path), model);
}

/// Redis 7.2-7.4 encodings (set listpack, field TTLs, stream v3) and module data, which this
/// redis-server cannot load: checked against what was written.
#[test]
fn newer_encodings_modules_and_functions() {
    let mut r = Rdb::new(12);
    r.byte(0xfa).str(b"redis-ver").str(b"7.4.0");
    // MODULE_AUX: module id, when opcode (UINT), when, then opcode-encoded values until EOF.
    r.byte(0xf7).len(0x1234_5678_9abc_de00).len(2).len(2);
    r.len(2)
        .len(99)
        .len(1)
        .len(5)
        .len(3)
        .raw(&1.5f32.to_le_bytes())
        .len(4)
        .raw(&2.5f64.to_le_bytes());
    r.len(5)
        .str(b"module string")
        .len(5)
        .lzf(&[b'm'; 100])
        .len(0);
    r.byte(0xf5)
        .str(b"#!lua name=lib\nredis.register_function('f', function() return 1 end)");
    r.byte(0xfe).len(0).byte(0xf4).len(100).len(3).len(1);
    r.byte(20).str(b"set:lp").str(&listpack(&[
        Z::S(b"a"),
        Z::I(-4096),
        Z::I(100_000),
        Z::S(&[b'x'; 100]),
    ]));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let (t1, t2) = (now + 1_000_000, now + 2_000_000);
    // HASH_LISTPACK_EX: min expiry, then a listpack of field, value, expiry (0: none).
    r.byte(25).str(b"hfe:lp").raw(&t1.to_le_bytes());
    r.str(&listpack(&[
        Z::S(b"f1"),
        Z::S(b"v1"),
        Z::I(t1),
        Z::S(b"f2"),
        Z::I(7),
        Z::I(0),
    ]));
    r.byte(23)
        .str(b"hfe:lp:pre")
        .str(&listpack(&[Z::S(b"a"), Z::S(b"b"), Z::I(t2)]));
    // HASH_METADATA: min expiry, count, then (expiry relative to min + 1, or 0), field, value.
    r.byte(24).str(b"hfe:ht").raw(&t1.to_le_bytes()).len(2);
    r.len(0).str(b"keep").str(b"forever");
    r.len((t2 - t1 + 1) as u64)
        .str(b"goes")
        .lzf(&pickle_like(300));
    r.byte(22)
        .str(b"hfe:ht:pre")
        .len(1)
        .len(t2 as u64)
        .str(b"x")
        .int(1);
    // A module value of a module nobody has loaded: skipped through its opcodes.
    r.byte(7)
        .str(b"json:1")
        .len(0x0abc_def0_1234_5600)
        .len(2)
        .len(1)
        .len(5)
        .str(b"{}")
        .len(0);
    // Stream v3: nodes, metadata, a group with PEL and consumers (seen and active times).
    r.byte(21)
        .str(b"stream:v3")
        .len(1)
        .str(&[0u8; 16])
        .str(&listpack(&[Z::I(1), Z::I(0)]));
    r.len(1)
        .len(1_700_000_000_000)
        .len(0)
        .len(1_700_000_000_000)
        .len(0)
        .len(0)
        .len(0)
        .len(1);
    r.len(1).str(b"g").len(1_700_000_000_000).len(0).len(1);
    r.len(1).raw(&[7u8; 16]).raw(&now.to_le_bytes()).len(1);
    r.len(1)
        .str(b"consumer")
        .raw(&now.to_le_bytes())
        .raw(&now.to_le_bytes())
        .len(1)
        .raw(&[7u8; 16]);
    // An expiry and an LFU frequency before a key.
    r.byte(0xfc).raw(&t2.to_le_bytes()).byte(0xf9).byte(5);
    r.byte(0).str(b"last").str(b"string after everything");
    let dump = r.finish(true);
    let dir = std::env::temp_dir().join(format!("cc-rdb-new-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("new.rdb");
    std::fs::write(&path, &dump).expect("write");

    let m = dump_model(&path);
    let set: BTreeSet<Vec<u8>> = [&b"a"[..], b"-4096", b"100000", &[b'x'; 100]]
        .iter()
        .map(|x| x.to_vec())
        .collect();
    assert_eq!(m[&(0, b"set:lp".to_vec())].0, Val::Set(set));
    assert_eq!(m[&(0, b"stream:v3".to_vec())].0, Val::Stream);
    assert_eq!(
        m[&(0, b"json:1".to_vec())].0,
        Val::Stream,
        "modules have no elements either"
    );
    let (r, samples, cov) = read_all(&path, &Filter::default());
    r.expect("read");
    let got: Flat = samples
        .iter()
        .map(|s| {
            (
                (s.key.clone(), s.field.clone()),
                (s.value.clone(), s.ttl_ms.map(|t| (t + 500_000) / 1_000_000)),
            )
        })
        .collect();
    let want: Flat = [
        ((&b"hfe:lp"[..], Some(&b"f1"[..])), (&b"v1"[..], Some(1))),
        ((b"hfe:lp", Some(b"f2")), (b"7", None)),
        ((b"hfe:lp:pre", Some(b"a")), (b"b", Some(2))),
        ((b"hfe:ht", Some(b"keep")), (b"forever", None)),
        ((b"hfe:ht", Some(b"goes")), (&pickle_like(300)[..], Some(2))),
        ((b"hfe:ht:pre", Some(b"x")), (b"1", Some(2))),
        ((b"last", None), (b"string after everything", Some(2))),
        // The set's members by index in byte order (no expiry).
        ((b"set:lp", Some(b"0")), (b"-4096", None)),
        ((b"set:lp", Some(b"1")), (b"100000", None)),
        ((b"set:lp", Some(b"2")), (b"a", None)),
        ((b"set:lp", Some(b"3")), (&[b'x'; 100][..], None)),
    ]
    .into_iter()
    .map(|((k, f), (v, t))| ((k.to_vec(), f.map(<[u8]>::to_vec)), (v.to_vec(), t)))
    .collect();
    assert_eq!(got, want);
    assert_eq!((cov.keys_seen, cov.skipped_types), (8, 2));
    // The absolute field expiries, exactly.
    let mut exp = BTreeMap::new();
    let _ = visit_rdb(
        &path,
        |_| true,
        |k, e| {
            if let Elem::Field {
                field,
                expire_at_ms,
                ..
            } = e
            {
                exp.insert((k.name.to_vec(), field.to_vec()), expire_at_ms);
            }
            ControlFlow::Continue(())
        },
    )
    .expect("visit");
    let field = |k: &[u8], f: &[u8]| exp[&(k.to_vec(), f.to_vec())];
    assert_eq!(field(b"hfe:lp", b"f1"), Some(t1));
    assert_eq!(field(b"hfe:lp", b"f2"), None);
    assert_eq!(field(b"hfe:lp:pre", b"a"), Some(t2));
    assert_eq!(field(b"hfe:ht", b"keep"), None);
    assert_eq!(field(b"hfe:ht", b"goes"), Some(t2));
    assert_eq!(field(b"hfe:ht:pre", b"x"), Some(t2));
    let _ = std::fs::remove_dir_all(&dir);
}

fn read_bytes(name: &str, bytes: &[u8]) -> Result<ControlFlow<()>, RdbError> {
    let dir = std::env::temp_dir().join(format!("cc-rdb-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    let t = Instant::now();
    // read_rdb skips what it does not judge; visit_all decodes every element.
    let (skim, _, _) = read_all(&path, &Filter::default());
    let r = visit_all(&path);
    assert!(t.elapsed() < Duration::from_millis(500), "{name}: slow");
    let _ = std::fs::remove_file(&path);
    if r.is_err() {
        assert!(
            skim.is_err() || !matches!(bytes.get(9..10), Some([0 | 4 | 9 | 13 | 16 | 22..=25])),
            "{name}: read_rdb missed a corrupt string or hash"
        );
    }
    r
}

fn corrupt_msg(name: &str, bytes: &[u8]) -> String {
    match read_bytes(name, bytes) {
        Err(RdbError::Corrupt { msg, .. }) => msg,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn hostile_lengths_are_errors_fast_without_allocating() {
    let huge = 1u64 << 60;
    let key = |r: &mut Rdb, ty: u8| {
        r.byte(ty).str(b"k");
    };
    // A string claiming 2^60 bytes.
    let mut r = Rdb::new(11);
    key(&mut r, 0);
    r.len(huge).raw(b"tiny");
    let m = corrupt_msg("string", &r.finish(true));
    assert!(m.contains("runs past the end of the file"), "{m}");
    // A key claiming 2^60 bytes.
    let mut r = Rdb::new(11);
    r.byte(0).len(huge);
    corrupt_msg("key", &r.finish(true));
    // LZF: 2^60 bytes out of 3, and a compressed length past the end.
    let mut r = Rdb::new(11);
    key(&mut r, 0);
    r.byte(0xc3).len(3).len(huge).raw(&[0, b'a', 0]);
    assert!(corrupt_msg("lzf-ulen", &r.finish(true)).contains("cannot expand"));
    let mut r = Rdb::new(11);
    key(&mut r, 0);
    r.byte(0xc3).len(huge).len(10).raw(&[0, b'a']);
    corrupt_msg("lzf-clen", &r.finish(true));
    // LZF data that does not decompress to its declared length.
    let mut r = Rdb::new(11);
    key(&mut r, 0);
    r.byte(0xc3).len(2).len(5).raw(&[0, b'a']);
    assert!(corrupt_msg("lzf-short", &r.finish(true)).contains("LZF"));
    // Counts: hash fields, list elements, zset members, quicklist nodes, stream PEL.
    for ty in [1u8, 2, 3, 4, 5, 14, 18, 24] {
        let mut r = Rdb::new(11);
        key(&mut r, ty);
        if ty == 24 {
            r.raw(&0i64.to_le_bytes());
        }
        r.len(huge).str(b"x");
        corrupt_msg(&format!("count-{ty}"), &r.finish(true));
    }
    let mut r = Rdb::new(11);
    key(&mut r, 19);
    r.len(0)
        .len(0)
        .len(0)
        .len(0)
        .len(0)
        .len(0)
        .len(0)
        .len(0)
        .len(0);
    r.len(1).str(b"g").len(0).len(0).len(0).len(huge);
    corrupt_msg("stream-pel", &r.finish(true));
    // Encoded blobs whose insides lie: a listpack claiming more bytes than it has, a ziplist
    // string running past its end, an intset of a bad width, a zipmap without an end.
    let mut lp = listpack(&[Z::S(b"a"), Z::S(b"b")]);
    lp[0] = 0xff;
    let mut r = Rdb::new(11);
    key(&mut r, 16);
    r.str(&lp);
    corrupt_msg("listpack-size", &r.finish(true));
    let mut lp = listpack(&[Z::S(b"a"), Z::S(b"b")]);
    lp[6] = 0xf0; // a 32-bit string length, read from the bytes that follow
    let mut r = Rdb::new(11);
    key(&mut r, 17);
    r.str(&lp);
    corrupt_msg("listpack-entry", &r.finish(true));
    let mut zl = ziplist(&[Z::S(b"abc")]);
    zl[11] = 0x3f;
    let mut r = Rdb::new(9);
    key(&mut r, 10);
    r.str(&zl);
    corrupt_msg("ziplist-entry", &r.finish(true));
    let mut r = Rdb::new(9);
    key(&mut r, 11);
    r.str(&intset(3, &[1, 2]));
    corrupt_msg("intset-width", &r.finish(true));
    let mut r = Rdb::new(9);
    key(&mut r, 9);
    r.str(&[1, 1, b'a', 1, 0, b'b']);
    corrupt_msg("zipmap-end", &r.finish(true));
    // A module value with an unknown opcode, a module aux with a bad "when" opcode.
    let mut r = Rdb::new(11);
    key(&mut r, 7);
    r.len(1).len(9);
    corrupt_msg("module-opcode", &r.finish(true));
    let mut r = Rdb::new(11);
    r.byte(0xf7).len(1).len(5).len(0).len(0);
    corrupt_msg("module-aux", &r.finish(true));
    // Unknown value type, unknown length encoding, unknown string encoding.
    let mut r = Rdb::new(11);
    key(&mut r, 99);
    assert!(corrupt_msg("type", &r.finish(true)).contains("unknown"));
    let mut r = Rdb::new(11);
    key(&mut r, 0);
    r.byte(0x82);
    corrupt_msg("len-enc", &r.finish(true));
    let mut r = Rdb::new(11);
    key(&mut r, 0);
    r.byte(0xc7);
    corrupt_msg("str-enc", &r.finish(true));
    // Not an RDB file, too new, too short, empty, missing.
    assert!(corrupt_msg("magic", b"PICKLE0011\xff").contains("not an RDB file"));
    let e = read_bytes("v13", &Rdb::new(13).finish(true)).unwrap_err();
    assert!(matches!(e, RdbError::UnsupportedVersion { version: 13 }));
    assert!(e.to_string().contains("versions 6 to 12"), "{e}");
    assert!(matches!(
        read_bytes("v5", &Rdb::new(5).finish(true)),
        Err(RdbError::UnsupportedVersion { version: 5 })
    ));
    corrupt_msg("short", b"REDIS0011");
    corrupt_msg("empty", b"");
    // Functions of the 7.0 release candidates, modules of the 4.0 ones: refused by name.
    let mut r = Rdb::new(10);
    r.byte(0xf6).str(b"x");
    assert!(matches!(
        read_bytes("fn-rc", &r.finish(true)),
        Err(RdbError::Unsupported { .. })
    ));
    let missing = Path::new("/nonexistent/dir/dump.rdb");
    let e = read_rdb(
        missing,
        &Filter::default(),
        |_| {},
        &mut Coverage::default(),
    )
    .unwrap_err();
    assert!(matches!(e, RdbError::Io { .. }));
    assert!(
        e.to_string().starts_with("/nonexistent/dir/dump.rdb: "),
        "{e}"
    );
    // A valid, empty dump.
    let ok = read_bytes("ok", &Rdb::new(11).finish(true));
    assert_eq!(
        ok.expect("an empty dump is fine"),
        ControlFlow::Continue(())
    );
    let _ = std::fs::remove_dir_all(
        std::env::temp_dir().join(format!("cc-rdb-hostile-{}", std::process::id())),
    );
}

#[test]
fn caps_keep_what_lrange_and_zrange_would_and_cut_long_values() {
    let s = start(&[], None);
    fill_other_types(&s, 2);
    let model = server_model(&s);
    let path = s.save();
    let caps = Caps {
        max_elements: 3,
        max_value_bytes: 64,
    };
    let mut cov = Coverage::default();
    let mut got: BTreeMap<Vec<u8>, Vec<Sample>> = BTreeMap::new();
    cache_compat::source::rdb::read_rdb_with(
        &path,
        &Filter::default(),
        caps,
        |x| got.entry(x.key.clone()).or_default().push(x),
        &mut cov,
    )
    .expect("read");
    let cut = |v: &[u8]| -> (Vec<u8>, Option<u64>) {
        if v.len() > 64 {
            (v[..64].to_vec(), Some(v.len() as u64))
        } else {
            (v.to_vec(), None)
        }
    };
    let mut checked = 0;
    let mut partial = 0;
    for ((_, k), (v, _)) in &model {
        let samples = got.get(k).map(Vec::as_slice).unwrap_or(&[]);
        let shown: Vec<(Vec<u8>, Option<u64>)> = samples
            .iter()
            .map(|x| (x.value.clone(), x.full_len))
            .collect();
        partial += shown.iter().filter(|x| x.1.is_some()).count();
        let fields: Vec<Option<Vec<u8>>> = samples.iter().map(|x| x.field.clone()).collect();
        let idx: Vec<Option<Vec<u8>>> = (0..shown.len())
            .map(|i| Some(i.to_string().into_bytes()))
            .collect();
        match v {
            Val::Str(x) => assert_eq!(shown, vec![cut(x)]),
            // The server's LRANGE 0 2 and ZRANGE 0 2 (by rank, whatever order the dump holds).
            Val::List(l) => {
                let want: Vec<_> = l.iter().take(3).map(|x| cut(x)).collect();
                assert_eq!(shown, want, "{}", String::from_utf8_lossy(k));
                assert_eq!(fields, idx);
            }
            Val::ZSet(z) => {
                let want: Vec<_> = z.iter().take(3).map(|x| cut(&x.0)).collect();
                assert_eq!(shown, want, "{}", String::from_utf8_lossy(k));
                assert_eq!(fields, idx);
            }
            // Sets and hashes: 3 of their members or fields (which ones depends on the dump's
            // order), sets sorted bytewise.
            Val::Set(st) => {
                assert_eq!(shown.len(), st.len().min(3));
                let mut sorted = shown.clone();
                sorted.sort();
                assert_eq!(shown, sorted);
                for (x, full) in &shown {
                    assert!(st.iter().any(|m| cut(m) == (x.clone(), *full)));
                }
                assert_eq!(fields, idx);
            }
            Val::Hash(h) => {
                assert_eq!(shown.len(), h.len().min(3));
                for x in samples {
                    let f = x.field.clone().unwrap_or_default();
                    assert_eq!((x.value.clone(), x.full_len), cut(&h[&f]));
                }
            }
            Val::Stream => assert!(shown.is_empty()),
        }
        checked += 1;
    }
    assert_eq!(checked, model.len());
    assert!(partial > 0, "some values are over 64 bytes");
    assert_eq!(cov.partial, partial as u64);
}

/// Seeded mutations of a real dump (byte flips, random bytes, truncations, huge lengths), with
/// the checksum zeroed so that a mutant can also be read to the end, through both the element
/// visitor and the capped sample reader: any result, never a panic, and fast.
#[test]
fn mutation_smoke() {
    let s = start(&[], None);
    fill_other_types(&s, 1);
    let mut c = s.conn();
    c.ok(&[&b"SET"[..], b"lzf", &pickle_like(3000)]);
    c.ok(&["HSET", "h:small", "a", "1", "b", "two"]);
    let mut dump = std::fs::read(s.save()).expect("dump");
    let n = dump.len();
    dump[n - 8..].fill(0);
    let caps = Caps {
        max_elements: 2,
        max_value_bytes: 16,
    };
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let t = Instant::now();
    let (mut ok, mut errors) = (0, 0);
    for _ in 0..20_000 {
        let mut b = dump.clone();
        for _ in 0..(1 + next() % 3) {
            let i = (next() as usize) % b.len();
            match next() % 4 {
                0 => b[i] ^= 1 << (next() % 8),
                1 => b[i] = next() as u8,
                2 => b.truncate(i.max(9)),
                _ => {
                    // A 32-bit length of 0x7fffffff.
                    let j = i.min(b.len().saturating_sub(5));
                    b[j] = 0x80;
                    let end = (j + 5).min(b.len());
                    b[j + 1..end].fill(0x7f);
                }
            }
        }
        let name = Path::new("mutant.rdb");
        let r = std::panic::catch_unwind(|| {
            let v = visit_rdb_bytes(name, &b, |_| true, |_, _| ControlFlow::Continue(()));
            let mut cov = Coverage::default();
            let mut got = 0u64;
            let r = read_rdb_bytes(name, &b, &Filter::default(), caps, |_| got += 1, &mut cov);
            assert_eq!(got, cov.sampled);
            assert_eq!(v.is_ok(), r.is_ok());
            r.is_ok()
        });
        match r {
            Ok(true) => ok += 1,
            Ok(false) => errors += 1,
            Err(_) => panic!("a mutant panicked (seeded: rerun reproduces it)"),
        }
    }
    println!(
        "mutation smoke: 20000 mutants, {ok} read, {errors} errors, {:?}",
        t.elapsed()
    );
    assert!(ok > 0 && errors > 0);
    assert!(t.elapsed() < Duration::from_secs(120));
}
