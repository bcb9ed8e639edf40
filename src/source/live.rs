//! A live Redis or Redis Cluster, read with read commands only.
//!
//! Single server: SCAN (MATCH, COUNT 1000), de-duplicated ([`Seen`]), then per batch one pipeline
//! of GETRANGE for the first 4 KiB of each key (+ PTTL when the TTL is wanted), with the next SCAN
//! at its end: a batch of small strings costs one round trip and one command per key. For the
//! other keys, TYPE + STRLEN, then GET (or GETRANGE for values over `--max-value-bytes`) for
//! strings in pipelines of at most ~16 MiB of values, HSCAN / LRANGE / SSCAN / ZRANGE for hashes,
//! lists, sets and sorted sets (at most `--max-elements` each). A dropped connection (or a read
//! timeout) is re-established with backoff and the interrupted command or pipeline sent again: reads
//! can be repeated. Keys gone between SCAN and their read are counted as vanished.
//!
//! Cluster (`--cluster`, or detected from `HELLO`'s `mode` field): `CLUSTER SLOTS` gives the
//! masters; each master is scanned by its own thread (SCAN on a cluster node lists only that node's
//! keys) and every key is read from the node that listed it. A key whose slot moved during the scan
//! (a reshard) answers MOVED or ASK: it is read again from the node named in the reply (after
//! `ASKING` for ASK), at most three hops, and counted in [`Coverage::redirected`]. One set of seen
//! keys is shared by the threads, so a key met on two nodes during a reshard is judged once.

use super::{
    Caps, Coverage, DEFAULT_MAX_ELEMENTS, DEFAULT_MAX_VALUE_BYTES, Filter, Pace, Sample, Seen,
    SourceError, keep, read_cmd, redact,
};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Whether the server is a Redis Cluster node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterMode {
    /// Ask the server (HELLO's `mode`, or CLUSTER SLOTS on Redis < 6).
    #[default]
    Auto,
    /// A cluster: scan every master.
    Yes,
    /// A single server (a cluster node is then scanned alone).
    No,
}

/// Connection options of a live Redis beyond its URL (the command line's `cli::connect::RedisArgs`
/// fills them; the names are redis-cli's).
#[derive(Debug, Clone)]
pub struct RedisOpts {
    /// Connect with TLS (as a rediss:// URL does).
    pub tls: bool,
    /// CA certificate file (PEM) to verify the server with, instead of the system's roots.
    pub cacert: Option<PathBuf>,
    /// Directory of CA certificates (*.pem, *.crt) to verify the server with.
    pub cacertdir: Option<PathBuf>,
    /// Client certificate (PEM) for servers that require one (tls-auth-clients).
    pub cert: Option<PathBuf>,
    /// Private key of --cert (PEM, PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// Do not verify the server's certificate.
    pub insecure: bool,
    /// Server name for TLS SNI and certificate verification. The Redis client library derives it
    /// from the URL's host, so only a value equal to that host is accepted.
    pub sni: Option<String>,
    /// ACL user name (overrides the URL's).
    pub user: Option<String>,
    /// Password (overrides the URL's and REDISCLI_AUTH; visible to other local users in the
    /// process list: prefer REDISCLI_AUTH).
    pub pass: Option<String>,
    /// Database number (overrides the URL's /DB).
    pub db: Option<i64>,
    /// Redis Cluster: auto (ask the server), yes (`--cluster` alone) or no.
    pub cluster: ClusterMode,
    /// At most this many elements (hash fields, list items, set and sorted-set members) per key.
    pub max_elements: u64,
    /// Values longer than this many bytes are read by prefix (GETRANGE) and reported as partial.
    pub max_value_bytes: u64,
}

impl Default for RedisOpts {
    fn default() -> Self {
        RedisOpts {
            tls: false,
            cacert: None,
            cacertdir: None,
            cert: None,
            key: None,
            insecure: false,
            sni: None,
            user: None,
            pass: None,
            db: None,
            cluster: ClusterMode::Auto,
            max_elements: DEFAULT_MAX_ELEMENTS,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
        }
    }
}

impl RedisOpts {
    pub fn caps(&self) -> Caps {
        Caps {
            max_elements: self.max_elements.max(1),
            max_value_bytes: self.max_value_bytes.max(1),
        }
    }
}

/// Put `REDISCLI_AUTH` into a URL that has no password (`redis://host`, `redis://user@host`).
fn with_env_password(url: &str) -> String {
    let Ok(pw) = std::env::var("REDISCLI_AUTH") else {
        return url.to_string();
    };
    let Some(i) = url.find("://") else {
        return url.to_string();
    };
    let (scheme, rest) = (&url[..i + 3], &url[i + 3..]);
    if scheme == "unix://" {
        return url.to_string();
    }
    match rest.split_once('@') {
        Some((user, host)) if !user.contains(':') => format!("{scheme}{user}:{pw}@{host}"),
        Some(_) => url.to_string(),
        None => format!("{scheme}:{pw}@{rest}"),
    }
}

/// Where and how to connect: the URL and the options, resolved once; a cluster node is the same
/// with another host and port.
struct Target {
    info: ConnectionInfo,
    certs: Option<redis::TlsCertificates>,
    shown: String,
}

impl Target {
    fn new(url: &str, opts: &RedisOpts) -> Result<Target, SourceError> {
        let url = with_env_password(url);
        let shown = redact(&url);
        let mut info = url
            .as_str()
            .into_connection_info()
            .map_err(|e| SourceError::Connect {
                url: shown.clone(),
                err: e,
            })?;
        let mut r = info.redis_settings().clone().set_skip_set_lib_name();
        if let Some(u) = &opts.user {
            r = r.set_username(u);
        }
        if let Some(p) = &opts.pass {
            r = r.set_password(p);
        }
        if let Some(db) = opts.db {
            r = r.set_db(db);
        }
        info = info.set_redis_settings(r);
        let tls_asked = opts.tls
            || opts.insecure
            || opts.cacert.is_some()
            || opts.cacertdir.is_some()
            || opts.cert.is_some();
        let addr = match info.addr().clone() {
            ConnectionAddr::Tcp(host, port) if opts.tls => ConnectionAddr::TcpTls {
                host,
                port,
                insecure: opts.insecure,
                tls_params: None,
            },
            ConnectionAddr::Tcp(..) if tls_asked => {
                return Err(SourceError::Options(
                    "TLS options need --tls or a rediss:// URL".into(),
                ));
            }
            ConnectionAddr::TcpTls {
                host,
                port,
                insecure,
                ..
            } => ConnectionAddr::TcpTls {
                host,
                port,
                insecure: insecure || opts.insecure,
                tls_params: None,
            },
            ConnectionAddr::Unix(_) if tls_asked => {
                return Err(SourceError::Options(
                    "TLS options do not apply to a unix:// socket".into(),
                ));
            }
            a => a,
        };
        if let Some(sni) = &opts.sni {
            let host = match &addr {
                ConnectionAddr::TcpTls { host, .. } => Some(host.as_str()),
                _ => None,
            };
            if host != Some(sni.as_str()) {
                return Err(SourceError::Options(format!(
                    "--sni {sni}: the Redis client library (redis-rs) takes the TLS server name from \
                     the URL's host, so --sni can only repeat it; use rediss://{sni}:PORT (with {sni} \
                     resolving to the server)"
                )));
            }
        }
        info = info.set_addr(addr);
        let mut root = Vec::new();
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|e| SourceError::Options(format!("{}: {e}", p.display())))
        };
        if let Some(p) = &opts.cacert {
            root.extend(read(p)?);
            root.push(b'\n');
        }
        if let Some(d) = &opts.cacertdir {
            let mut files: Vec<PathBuf> = std::fs::read_dir(d)
                .map_err(|e| SourceError::Options(format!("--cacertdir {}: {e}", d.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension()
                        .is_some_and(|x| x == "pem" || x == "crt" || x == "cer")
                })
                .collect();
            files.sort();
            for f in &files {
                root.extend(read(f)?);
                root.push(b'\n');
            }
            if files.is_empty() {
                return Err(SourceError::Options(format!(
                    "--cacertdir {}: no *.pem, *.crt or *.cer file",
                    d.display()
                )));
            }
        }
        let client_tls = match (&opts.cert, &opts.key) {
            (Some(c), Some(k)) => Some(redis::ClientTlsConfig {
                client_cert: read(c)?,
                client_key: read(k)?,
            }),
            _ => None,
        };
        let certs = (!root.is_empty() || client_tls.is_some()).then(|| redis::TlsCertificates {
            client_tls,
            root_cert: (!root.is_empty()).then_some(root),
        });
        Ok(Target { info, certs, shown })
    }

    fn db(&self) -> i64 {
        self.info.redis_settings().db()
    }

    /// The client for the URL's server, or for another node of its cluster.
    fn client(&self, node: Option<&(String, u16)>) -> Result<(redis::Client, String), SourceError> {
        let mut info = self.info.clone();
        let mut shown = self.shown.clone();
        if let Some((h, p)) = node {
            let addr = match info.addr() {
                ConnectionAddr::TcpTls { insecure, .. } => ConnectionAddr::TcpTls {
                    host: h.clone(),
                    port: *p,
                    insecure: *insecure,
                    tls_params: None,
                },
                _ => ConnectionAddr::Tcp(h.clone(), *p),
            };
            info = info.set_addr(addr);
            shown = format!("{h}:{p} (a node of {})", self.shown);
        }
        let err = |e| SourceError::Connect {
            url: shown.clone(),
            err: e,
        };
        let client = match &self.certs {
            Some(c) => redis::Client::build_with_tls(info, c.clone()).map_err(err)?,
            None => redis::Client::open(info).map_err(err)?,
        };
        Ok((client, shown))
    }
}

/// One connection, with pacing and reconnection.
struct Conn {
    client: redis::Client,
    con: redis::Connection,
    shown: String,
    pace: Pace,
    started: Instant,
    sent: u64,
    reconnects: u64,
    /// Send ASKING before every command (reading keys a migrating slot's owner sent us to).
    asking: bool,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Connect and make one round trip (HELLO without arguments: any user may send it), so that a
/// TLS handshake or authentication failure shows here, as a connection error, rather than at the
/// first read. An error reply (HELLO is unknown before Redis 6) is a working connection.
fn connect(client: &redis::Client) -> redis::RedisResult<redis::Connection> {
    let mut c = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    c.set_read_timeout(Some(READ_TIMEOUT))?;
    let Ok(hello) = read_cmd("HELLO") else {
        return Ok(c);
    };
    match hello.query::<Value>(&mut c) {
        Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() => Err(e),
        _ => Ok(c),
    }
}

/// The error a server sent in place of a reply.
fn server_error(v: &Value) -> Option<&redis::ServerError> {
    match v {
        Value::ServerError(e) => Some(e),
        _ => None,
    }
}

fn error_text(e: &redis::ServerError) -> String {
    match e.details() {
        Some(d) => format!("{} {d}", e.code()),
        None => e.code().to_string(),
    }
}

/// Where a MOVED or ASK reply sends a key: (host, port, ask).
fn redirect(v: &Value) -> Option<(String, u16, bool)> {
    let e = server_error(v)?;
    let ask = match e.code() {
        "MOVED" => false,
        "ASK" => true,
        _ => return None,
    };
    let to = e.details()?.split_whitespace().nth(1)?;
    let (h, p) = to.rsplit_once(':')?;
    Some((h.to_string(), p.parse().ok()?, ask))
}

impl Conn {
    fn open(
        target: &Target,
        node: Option<&(String, u16)>,
        pace: Pace,
    ) -> Result<Conn, SourceError> {
        let (client, shown) = target.client(node)?;
        let con = connect(&client).map_err(|e| SourceError::Connect {
            url: shown.clone(),
            err: e,
        })?;
        Ok(Conn {
            client,
            con,
            shown,
            pace,
            started: Instant::now(),
            sent: 0,
            reconnects: 0,
            asking: false,
        })
    }

    /// Hold the command rate at `--rate`.
    fn throttle(&mut self, commands: u64) {
        self.sent += commands;
        if self.pace.rate == 0 {
            return;
        }
        let due = Duration::from_secs_f64(self.sent as f64 / self.pace.rate as f64);
        if let Some(wait) = due.checked_sub(self.started.elapsed()) {
            std::thread::sleep(wait);
        }
    }

    /// Send the read commands `cmds` (names checked against the allow-list) as one pipeline and
    /// return one reply per command; a server error comes back as a `Value::ServerError` in its
    /// place. A dropped connection is re-established (with backoff) and the same commands sent
    /// again, since reads can be repeated; redis-rs does not replay them itself.
    fn query(&mut self, what: &str, cmds: Vec<redis::Cmd>) -> Result<Vec<Value>, SourceError> {
        let mut delay = Duration::from_millis(100);
        let mut attempt = 0;
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        let n = cmds.len();
        for c in cmds {
            if self.asking {
                pipe.add_command(read_cmd("ASKING")?).ignore();
            }
            pipe.add_command(c);
        }
        loop {
            self.throttle(pipe.cmd_iter().count() as u64);
            match pipe.query::<Vec<Value>>(&mut self.con) {
                Ok(v) if v.len() == n => return Ok(v),
                Ok(v) => {
                    return Err(SourceError::Reply {
                        cmd: format!("{what} on {}", self.shown),
                        msg: format!("{} replies to {} commands", v.len(), n),
                    });
                }
                Err(e)
                    if (e.is_connection_dropped() || e.is_io_error() || e.is_timeout())
                        && attempt < 6 =>
                {
                    attempt += 1;
                    std::thread::sleep(delay);
                    delay *= 2;
                    if let Ok(c) = connect(&self.client) {
                        self.con = c;
                        self.reconnects += 1;
                    }
                }
                Err(e) => {
                    return Err(SourceError::Command {
                        cmd: format!("{what} on {}", self.shown),
                        err: e,
                    });
                }
            }
        }
    }

    /// One command whose error reply is a tool error.
    fn one(&mut self, what: &str, cmd: redis::Cmd) -> Result<Value, SourceError> {
        let v = self.query(what, vec![cmd])?.pop().unwrap_or(Value::Nil);
        if let Some(e) = server_error(&v) {
            return Err(SourceError::Reply {
                cmd: format!("{what} on {}", self.shown),
                msg: error_text(e),
            });
        }
        Ok(v)
    }

    fn fail(&self, what: &str, e: &redis::ServerError) -> SourceError {
        SourceError::Reply {
            cmd: format!("{what} on {}", self.shown),
            msg: error_text(e),
        }
    }
}

fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.as_bytes().to_vec()),
        Value::VerbatimString { text, .. } => Some(text.as_bytes().to_vec()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        Value::Okay => Some(b"OK".to_vec()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

fn array(v: &Value) -> Option<&[Value]> {
    match v {
        Value::Array(a) | Value::Set(a) => Some(a),
        _ => None,
    }
}

/// A SCAN-family reply: (next cursor, items).
fn cursor_reply(v: &Value) -> Option<(u64, Vec<Vec<u8>>)> {
    let a = array(v)?;
    let cur = bytes(a.first()?)?;
    let cur = std::str::from_utf8(&cur).ok()?.parse().ok()?;
    let items = array(a.get(1)?)?
        .iter()
        .map(bytes)
        .collect::<Option<Vec<_>>>()?;
    Some((cur, items))
}

/// A SCAN reply: (next cursor, keys), the keys moved out of `v` (not copied). `v` is left as it
/// was when the reply is not one.
fn scan_reply(v: &mut Value) -> Option<(u64, Vec<Vec<u8>>)> {
    let cursor = match v {
        Value::Array(a) | Value::Set(a) => {
            let cur = bytes(a.first()?)?;
            let ok =
                a.len() >= 2 && array(&a[1]).is_some_and(|k| k.iter().all(|k| bytes(k).is_some()));
            if !ok {
                return None;
            }
            std::str::from_utf8(&cur).ok()?.parse::<u64>().ok()?
        }
        _ => return None,
    };
    let (Value::Array(a) | Value::Set(a)) = v else {
        return None;
    };
    let keys = match &mut a[1] {
        Value::Array(k) | Value::Set(k) => std::mem::take(k)
            .into_iter()
            .filter_map(|k| match k {
                Value::BulkString(b) => Some(b),
                k => bytes(&k),
            })
            .collect(),
        _ => return None,
    };
    Some((cursor, keys))
}

/// Is this server a cluster node? HELLO (no arguments: it only describes the server, and any user
/// may send it) says `mode cluster`; before Redis 6, CLUSTER SLOTS answers only on a cluster.
fn is_cluster(c: &mut Conn) -> Result<bool, SourceError> {
    let v = c.query("HELLO", vec![read_cmd("HELLO")?])?;
    if let Some(a) = v.first().and_then(array) {
        for pair in a.chunks_exact(2) {
            if bytes(&pair[0]).as_deref() == Some(b"mode") {
                return Ok(bytes(&pair[1]).as_deref() == Some(b"cluster"));
            }
        }
    }
    if let Some(Value::Map(m)) = v.first() {
        for (k, val) in m {
            if bytes(k).as_deref() == Some(b"mode") {
                return Ok(bytes(val).as_deref() == Some(b"cluster"));
            }
        }
    }
    let v = c.query("CLUSTER SLOTS", vec![read_cmd("CLUSTER SLOTS")?])?;
    Ok(v.first().is_some_and(|v| server_error(v).is_none()))
}

/// A cluster's slot map, from CLUSTER SLOTS: (first slot, last slot, master host, master port),
/// sorted. An empty host (the node does not know its address) means the host the URL named.
type SlotMap = Vec<(i64, i64, String, u16)>;

fn slot_map(c: &mut Conn, target: &Target) -> Result<SlotMap, SourceError> {
    let v = c
        .one("CLUSTER SLOTS", read_cmd("CLUSTER SLOTS")?)
        .map_err(|e| match e {
            SourceError::Reply { cmd, msg } if msg.starts_with("NOPERM") => SourceError::Reply {
                cmd,
                msg: format!(
                    "{msg} (a cluster scan needs it: grant +cluster|slots, or pass --cluster no to scan this node alone)"
                ),
            },
            e => e,
        })?;
    let seed_host = match target.info.addr() {
        ConnectionAddr::Tcp(h, _) | ConnectionAddr::TcpTls { host: h, .. } => h.clone(),
        _ => "127.0.0.1".into(),
    };
    let mut map = SlotMap::new();
    for range in array(&v).unwrap_or(&[]) {
        let Some(r) = array(range) else { continue };
        let (Some(first), Some(last)) = (r.first().and_then(int), r.get(1).and_then(int)) else {
            continue;
        };
        let Some(node) = r.get(2).and_then(array) else {
            continue;
        };
        let host = node.first().and_then(bytes).unwrap_or_default();
        let Some(port) = node
            .get(1)
            .and_then(int)
            .and_then(|p| u16::try_from(p).ok())
        else {
            continue;
        };
        let host = match String::from_utf8_lossy(&host).into_owned() {
            h if h.is_empty() || h == "?" => seed_host.clone(),
            h => h,
        };
        map.push((first, last, host, port));
    }
    map.sort();
    if map.is_empty() {
        return Err(SourceError::Reply {
            cmd: format!("CLUSTER SLOTS on {}", c.shown),
            msg: "no slot is served by any node (is the cluster created?)".into(),
        });
    }
    Ok(map)
}

/// The masters of a slot map, each once.
fn masters_of(map: &SlotMap) -> Vec<(String, u16)> {
    let mut masters: Vec<(String, u16)> = Vec::new();
    for (_, _, h, p) in map {
        if !masters.iter().any(|(mh, mp)| mh == h && mp == p) {
            masters.push((h.clone(), *p));
        }
    }
    masters
}

/// What a scan of one node shares with the others.
struct Shared<'a> {
    target: &'a Target,
    filter: &'a Filter,
    pace: Pace,
    caps: Caps,
    seen: &'a Mutex<Seen>,
    stop: &'a AtomicBool,
}

/// Gives a sample to the consumer; false: stop.
type Emit<'e> = dyn FnMut(Sample) -> bool + 'e;

/// A key to read: name, type, TTL, STRLEN.
struct Meta {
    key: Vec<u8>,
    ty: String,
    ttl: Option<i64>,
    len: Option<i64>,
}

/// Keys a node sent elsewhere: (host, port, ask) -> keys.
type Redirects = HashMap<(String, u16, bool), Vec<Vec<u8>>>;

/// Scan one node (the single server, or a cluster master) to the end, or until `emit` says stop.
fn scan_node(
    c: &mut Conn,
    sh: &Shared<'_>,
    emit: &mut Emit<'_>,
    cov: &mut Coverage,
) -> Result<(), SourceError> {
    let patterns: Vec<String> = if sh.filter.matches.is_empty() {
        vec!["*".into()]
    } else {
        sh.filter.matches.clone()
    };
    // Connections to other nodes, opened when a key is redirected to them.
    let mut others: HashMap<(String, u16), Conn> = HashMap::new();
    let result = (|| {
        for pat in patterns {
            let scan = |cursor: u64| -> Result<redis::Cmd, SourceError> {
                let mut scan = read_cmd("SCAN")?;
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg(&pat)
                    .arg("COUNT")
                    .arg(1000);
                Ok(scan)
            };
            // The next SCAN goes in the pipeline of the batch the previous one listed.
            let mut reply = c.one("SCAN", scan(0)?)?;
            let mut prefixes = Prefixes::default();
            loop {
                if sh.stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                if let Some(e) = server_error(&reply) {
                    return Err(c.fail("SCAN", e));
                }
                let Some((next, keys)) = scan_reply(&mut reply) else {
                    return Err(SourceError::Reply {
                        cmd: format!("SCAN on {}", c.shown),
                        msg: format!("unexpected reply {reply:?}"),
                    });
                };
                let fresh: Vec<Vec<u8>> = {
                    let mut seen = sh.seen.lock().unwrap_or_else(|p| p.into_inner());
                    keys.into_iter().filter(|k| seen.insert(k)).collect()
                };
                cov.keys_seen += fresh.len() as u64;
                let fresh: Vec<Vec<u8>> = fresh.into_iter().filter(|k| keep(k, &sh.pace)).collect();
                let mut redirects = Redirects::new();
                let then = if next == 0 { None } else { Some(scan(next)?) };
                let (go_on, then_reply) = read_keys(
                    c,
                    &fresh,
                    sh,
                    emit,
                    cov,
                    &mut redirects,
                    then,
                    &mut prefixes,
                )?;
                if !go_on {
                    sh.stop.store(true, Ordering::Relaxed);
                    return Ok(());
                }
                if !follow(&mut others, redirects, sh, emit, cov)? {
                    sh.stop.store(true, Ordering::Relaxed);
                    return Ok(());
                }
                match then_reply {
                    Some(r) => reply = r,
                    None => break,
                }
            }
        }
        Ok(())
    })();
    cov.reconnects += c.reconnects + others.values().map(|o| o.reconnects).sum::<u64>();
    result
}

/// Read keys a node redirected (MOVED / ASK) from the nodes named, at most three hops.
fn follow(
    others: &mut HashMap<(String, u16), Conn>,
    mut redirects: Redirects,
    sh: &Shared<'_>,
    emit: &mut Emit<'_>,
    cov: &mut Coverage,
) -> Result<bool, SourceError> {
    for hop in 0..3 {
        if redirects.is_empty() {
            return Ok(true);
        }
        let mut next = Redirects::new();
        for ((host, port, ask), keys) in redirects {
            cov.redirected += keys.len() as u64;
            let node = (host, port);
            if !others.contains_key(&node) {
                let per = per_node_pace(sh.pace, 1);
                others.insert(node.clone(), Conn::open(sh.target, Some(&node), per)?);
            }
            let Some(o) = others.get_mut(&node) else {
                continue;
            };
            o.asking = ask;
            let r = read_keys(
                o,
                &keys,
                sh,
                emit,
                cov,
                &mut next,
                None,
                &mut Prefixes::default(),
            );
            o.asking = false;
            if !r?.0 {
                return Ok(false);
            }
        }
        redirects = next;
        if hop == 2 {
            // Still moving after three hops: counted as vanished (not read).
            cov.vanished += redirects.values().map(|k| k.len() as u64).sum::<u64>();
        }
    }
    Ok(true)
}

/// The pace of one of `n` connections scanning in parallel.
fn per_node_pace(pace: Pace, n: u64) -> Pace {
    Pace {
        rate: if pace.rate == 0 {
            0
        } else {
            pace.rate.div_ceil(n.max(1))
        },
        ..pace
    }
}

/// Strings shorter than this are read whole by the batch's first pipeline (`GETRANGE key 0
/// PREFIX-1`). Longer ones are read again whole (the prefix is dropped, never joined to a later
/// read), which bounds what a batch holds to `PREFIX` bytes per key.
const PREFIX: u64 = 4096;

/// Whether a node's batches start with prefix reads: yes while most strings of the last batch
/// were shorter than `PREFIX` (their prefix was the whole value); for a cache of longer strings the
/// first pipeline asks TYPE and STRLEN instead, as no prefix would be of use.
#[derive(Debug, Clone, Copy)]
struct Prefixes {
    on: bool,
}

impl Default for Prefixes {
    fn default() -> Self {
        Prefixes { on: true }
    }
}

impl Prefixes {
    /// After a batch with `short` strings under `PREFIX` and `long` ones.
    fn update(&mut self, short: u64, long: u64) {
        if short + long > 0 {
            self.on = short >= long;
        }
    }
}

/// TYPE and STRLEN of `k`, the two replies a key's type and length are read from.
fn push_type_strlen(cmds: &mut Vec<redis::Cmd>, k: &[u8]) -> Result<(), SourceError> {
    for name in ["TYPE", "STRLEN"] {
        let mut cmd = read_cmd(name)?;
        cmd.arg(k);
        cmds.push(cmd);
    }
    Ok(())
}

/// Read one batch of keys from `c`. Returns false when `emit` asked to stop. Keys the node does
/// not own (MOVED / ASK) go to `redirects`. `then`, if given, is sent at the end of the batch's
/// first pipeline (the next SCAN, so that the server answers it with the batch) and its reply
/// returned.
///
/// First pipeline, per key: PTTL if the TTL is wanted ([`Pace::ttl`]) and, while `prefixes` says
/// so, the first `PREFIX` bytes (GETRANGE): one command per key, as a client that only GETs would
/// send, and one round trip for a batch of small strings. A prefix shorter than `PREFIX` and not
/// empty is the whole value of a string. For the other keys (longer strings, an empty reply: a
/// string that is empty or gone, WRONGTYPE: another type) a second pipeline asks TYPE and STRLEN,
/// and they are read by [`read_strings`]. Without prefixes, the first pipeline asks TYPE and STRLEN
/// of every key.
#[allow(clippy::too_many_arguments)]
fn read_keys(
    c: &mut Conn,
    keys: &[Vec<u8>],
    sh: &Shared<'_>,
    emit: &mut Emit<'_>,
    cov: &mut Coverage,
    redirects: &mut Redirects,
    then: Option<redis::Cmd>,
    prefixes: &mut Prefixes,
) -> Result<(bool, Option<Value>), SourceError> {
    if keys.is_empty() && then.is_none() {
        return Ok((true, None));
    }
    let want_ttl = sh.pace.ttl;
    let prefix = prefixes.on;
    let per = usize::from(want_ttl) + if prefix { 1 } else { 2 };
    let mut cmds = Vec::with_capacity(keys.len() * per + 1);
    for k in keys {
        if want_ttl {
            let mut cmd = read_cmd("PTTL")?;
            cmd.arg(k);
            cmds.push(cmd);
        }
        if prefix {
            let mut cmd = read_cmd("GETRANGE")?;
            cmd.arg(k).arg(0).arg(PREFIX - 1);
            cmds.push(cmd);
        } else {
            push_type_strlen(&mut cmds, k)?;
        }
    }
    let has_then = then.is_some();
    cmds.extend(then);
    let mut replies = c.query(if prefix { "GETRANGE" } else { "TYPE" }, cmds)?;
    let then_reply = if has_then { replies.pop() } else { None };
    let ttl_of = |m: &[Value]| {
        if want_ttl {
            int(&m[0]).filter(|t| *t >= 0)
        } else {
            None
        }
    };
    // Keys whose type and length are asked next (key, TTL), and those replies.
    let mut pending: Vec<(&Vec<u8>, Option<i64>)> = Vec::new();
    let (mut short, mut long) = (0u64, 0u64);
    let meta = if prefix {
        let mut go_on = true;
        for (k, m) in keys.iter().zip(replies.chunks_exact_mut(per)) {
            let ttl = ttl_of(m);
            let got = &mut m[per - 1];
            if let Some(r) = redirect(got) {
                redirects.entry(r).or_default().push(k.clone());
                continue;
            }
            match got {
                Value::BulkString(b) if !b.is_empty() && (b.len() as u64) < PREFIX => {
                    short += 1;
                    if !go_on {
                        continue;
                    }
                    let mut value = std::mem::take(b);
                    let full_len = sh.caps.cut(&mut value);
                    go_on = emit(Sample {
                        key: k.clone(),
                        kind: "string".into(),
                        field: None,
                        ttl_ms: ttl,
                        value,
                        full_len,
                    });
                }
                Value::ServerError(e) if e.code() != "WRONGTYPE" => {
                    return Err(c.fail("GETRANGE", e));
                }
                Value::BulkString(b) => {
                    long += u64::from(!b.is_empty());
                    pending.push((k, ttl));
                }
                _ => pending.push((k, ttl)),
            }
        }
        prefixes.update(short, long);
        if !go_on {
            return Ok((false, then_reply));
        }
        if pending.is_empty() {
            return Ok((true, then_reply));
        }
        let mut cmds = Vec::with_capacity(pending.len() * 2);
        for (k, _) in &pending {
            push_type_strlen(&mut cmds, k)?;
        }
        c.query("TYPE", cmds)?
    } else {
        let mut meta = Vec::with_capacity(keys.len() * 2);
        for (k, m) in keys.iter().zip(replies.chunks_exact_mut(per)) {
            pending.push((k, ttl_of(m)));
            let n = m.len();
            meta.push(std::mem::replace(&mut m[n - 2], Value::Nil));
            meta.push(std::mem::replace(&mut m[n - 1], Value::Nil));
        }
        meta
    };
    let mut strings = Vec::new();
    let mut others = Vec::new();
    for ((k, ttl), m) in pending.into_iter().zip(meta.chunks_exact(2)) {
        if let Some(r) = redirect(&m[0]) {
            redirects.entry(r).or_default().push(k.clone());
            continue;
        }
        if let Some(e) = server_error(&m[0]) {
            return Err(c.fail("TYPE", e));
        }
        let ty = bytes(&m[0])
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let meta = Meta {
            key: k.clone(),
            len: int(&m[1]),
            ty,
            ttl,
        };
        match meta.ty.as_str() {
            "string" => {
                if !prefix {
                    if meta.len.is_some_and(|l| (l as u64) < PREFIX) {
                        short += 1;
                    } else {
                        long += 1;
                    }
                }
                strings.push(meta)
            }
            "hash" | "list" | "set" | "zset" => others.push(meta),
            "none" => cov.vanished += 1,
            _ => cov.skipped_types += 1,
        }
    }
    if !prefix {
        prefixes.update(short, long);
    }
    let go_on = read_strings(c, strings, others, sh, emit, cov, redirects)?;
    Ok((go_on, then_reply))
}

/// The strings of a batch not read whole by its first pipeline (`Meta::len`: their STRLEN), then the
/// batch's hashes, lists, sets and sorted sets. Returns false when `emit` asked to stop.
fn read_strings(
    c: &mut Conn,
    strings: Vec<Meta>,
    others: Vec<Meta>,
    sh: &Shared<'_>,
    emit: &mut Emit<'_>,
    cov: &mut Coverage,
    redirects: &mut Redirects,
) -> Result<bool, SourceError> {
    // Strings: GET, or GETRANGE for the first --max-value-bytes of longer ones, in pipelines of at
    // most ~16 MiB (or one value) so that a batch of big values is not held at once.
    let budget = (16u64 << 20).max(sh.caps.max_value_bytes);
    let mut i = 0;
    while i < strings.len() {
        let mut j = i;
        let mut total = 0u64;
        let mut cmds = Vec::new();
        while j < strings.len() {
            let len = strings[j].len.unwrap_or(0).max(0) as u64;
            let want = len.min(sh.caps.max_value_bytes);
            if j > i && total + want > budget {
                break;
            }
            total += want;
            let k = &strings[j].key;
            cmds.push(if len > sh.caps.max_value_bytes {
                let mut cmd = read_cmd("GETRANGE")?;
                cmd.arg(k).arg(0).arg(sh.caps.max_value_bytes - 1);
                cmd
            } else {
                let mut cmd = read_cmd("GET")?;
                cmd.arg(k);
                cmd
            });
            j += 1;
        }
        let vals = c.query("GET", cmds)?;
        for (m, v) in strings[i..j].iter().zip(vals) {
            let ranged = m.len.is_some_and(|l| l as u64 > sh.caps.max_value_bytes);
            if let Some(r) = redirect(&v) {
                redirects.entry(r).or_default().push(m.key.clone());
                continue;
            }
            let mut value = match v {
                Value::Nil => {
                    cov.vanished += 1;
                    continue;
                }
                // Replaced by another type since TYPE: gone as a string.
                Value::ServerError(e) if e.code() == "WRONGTYPE" => {
                    cov.vanished += 1;
                    continue;
                }
                Value::ServerError(e) => return Err(c.fail("GET", &e)),
                Value::BulkString(b) => b,
                v => bytes(&v).unwrap_or_default(),
            };
            let full_len = if ranged {
                if value.is_empty() {
                    // GETRANGE of a missing key is an empty string.
                    cov.vanished += 1;
                    continue;
                }
                m.len.map(|l| l as u64)
            } else {
                sh.caps.cut(&mut value)
            };
            let s = Sample {
                key: m.key.clone(),
                kind: "string".into(),
                field: None,
                ttl_ms: m.ttl,
                value,
                full_len,
            };
            if !emit(s) {
                return Ok(false);
            }
        }
        i = j;
    }
    for m in others {
        match read_collection(c, &m, sh, emit, cov)? {
            Read::Done => {}
            Read::Stop => return Ok(false),
            Read::Moved(r) => redirects.entry(r).or_default().push(m.key),
        }
    }
    Ok(true)
}

enum Read {
    Done,
    Stop,
    Moved((String, u16, bool)),
}

/// Read a hash, list, set or sorted set, at most `--max-elements` elements.
fn read_collection(
    c: &mut Conn,
    m: &Meta,
    sh: &Shared<'_>,
    emit: &mut Emit<'_>,
    cov: &mut Coverage,
) -> Result<Read, SourceError> {
    const CHUNK: u64 = 100;
    let cap = sh.caps.max_elements;
    let mut n: u64 = 0;
    let mut cursor: u64 = 0;
    let mut seen = Seen::default();
    let mut members: Vec<(Vec<u8>, Option<u64>)> = Vec::new();
    let sample = |field: Vec<u8>, mut value: Vec<u8>| {
        let full_len = sh.caps.cut(&mut value);
        Sample {
            key: m.key.clone(),
            kind: m.ty.clone(),
            field: Some(field),
            ttl_ms: m.ttl,
            value,
            full_len,
        }
    };
    loop {
        let cmd = match m.ty.as_str() {
            "hash" => read_cmd("HSCAN")?
                .arg(&m.key)
                .arg(cursor)
                .arg("COUNT")
                .arg(CHUNK)
                .clone(),
            "set" => read_cmd("SSCAN")?
                .arg(&m.key)
                .arg(cursor)
                .arg("COUNT")
                .arg(CHUNK)
                .clone(),
            "list" => read_cmd("LRANGE")?
                .arg(&m.key)
                .arg(n)
                .arg(n + CHUNK.min(cap - n) - 1)
                .clone(),
            _ => read_cmd("ZRANGE")?
                .arg(&m.key)
                .arg(n)
                .arg(n + CHUNK.min(cap - n) - 1)
                .clone(),
        };
        let v = c
            .query(&m.ty.to_uppercase(), vec![cmd])?
            .pop()
            .unwrap_or(Value::Nil);
        if let Some(r) = redirect(&v) {
            if n == 0 {
                return Ok(Read::Moved(r));
            }
            // Moved half-way through: what was read stands.
            cov.redirected += 1;
            return Ok(Read::Done);
        }
        if let Some(e) = server_error(&v) {
            if e.code() == "WRONGTYPE" {
                if n == 0 {
                    cov.vanished += 1;
                }
                return Ok(Read::Done);
            }
            return Err(c.fail(&m.ty.to_uppercase(), e));
        }
        let (next, items) = match m.ty.as_str() {
            "hash" | "set" => cursor_reply(&v).unwrap_or_default(),
            _ => (
                0,
                array(&v)
                    .map(|a| a.iter().filter_map(bytes).collect())
                    .unwrap_or_default(),
            ),
        };
        match m.ty.as_str() {
            "hash" => {
                for pair in items.chunks_exact(2) {
                    if n >= cap || !seen.insert(&pair[0]) {
                        continue;
                    }
                    n += 1;
                    if !emit(sample(pair[0].clone(), pair[1].clone())) {
                        return Ok(Read::Stop);
                    }
                }
                cursor = next;
                if cursor == 0 || n >= cap {
                    break;
                }
            }
            "set" => {
                for item in items {
                    if n >= cap || !seen.insert(&item) {
                        continue;
                    }
                    n += 1;
                    let mut item = item;
                    let full = sh.caps.cut(&mut item);
                    members.push((item, full));
                }
                cursor = next;
                if cursor == 0 || n >= cap {
                    break;
                }
            }
            _ => {
                let got = items.len() as u64;
                for item in items {
                    if !emit(sample(n.to_string().into_bytes(), item)) {
                        return Ok(Read::Stop);
                    }
                    n += 1;
                }
                if got < CHUNK.min(cap - (n - got)) || n >= cap {
                    break;
                }
            }
        }
    }
    if m.ty == "set" {
        members.sort();
        for (i, (value, full_len)) in members.into_iter().enumerate() {
            let s = Sample {
                key: m.key.clone(),
                kind: "set".into(),
                field: Some(i.to_string().into_bytes()),
                ttl_ms: m.ttl,
                value,
                full_len,
            };
            if !emit(s) {
                return Ok(Read::Stop);
            }
        }
    }
    if n == 0 {
        // Gone between TYPE and its read.
        cov.vanished += 1;
    }
    Ok(Read::Done)
}

/// The nodes to scan: None for a single server, the masters for a cluster.
fn nodes(
    c: &mut Conn,
    target: &Target,
    mode: ClusterMode,
) -> Result<Option<Vec<(String, u16)>>, SourceError> {
    let cluster = match mode {
        ClusterMode::No => false,
        ClusterMode::Yes => true,
        ClusterMode::Auto => is_cluster(c)?,
    };
    if !cluster {
        return Ok(None);
    }
    if target.db() != 0 {
        return Err(SourceError::Options(format!(
            "database {} asked, but a Redis Cluster has only database 0",
            target.db()
        )));
    }
    slot_map(c, target).map(|m| Some(masters_of(&m)))
}

/// Scan the masters in parallel, one thread each, handing their samples to `take` on this thread.
/// Returns the first error, each thread's counters, and whether `take` asked to stop.
fn scan_masters(
    masters: &[(String, u16)],
    shared: &Shared<'_>,
    pace: Pace,
    take: &mut Emit<'_>,
) -> (Result<(), SourceError>, Vec<Coverage>, bool) {
    let per = per_node_pace(pace, masters.len() as u64);
    let mut covs = Vec::new();
    let mut limit_hit = false;
    let r = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Sample>(32);
        let mut handles = Vec::new();
        for node in masters {
            let tx = tx.clone();
            let shared = Shared {
                pace: per,
                ..*shared
            };
            handles.push(scope.spawn(move || {
                let mut wc = Coverage::default();
                let r = Conn::open(shared.target, Some(node), per).and_then(|mut c| {
                    let mut send =
                        |s: Sample| !shared.stop.load(Ordering::Relaxed) && tx.send(s).is_ok();
                    scan_node(&mut c, &shared, &mut send, &mut wc)
                });
                if r.is_err() {
                    shared.stop.store(true, Ordering::Relaxed);
                }
                (r, wc)
            }));
        }
        drop(tx);
        for s in rx.iter() {
            if !take(s) {
                limit_hit = true;
                shared.stop.store(true, Ordering::Relaxed);
                break;
            }
        }
        drop(rx);
        let mut first_err = Ok(());
        for h in handles {
            match h.join() {
                Ok((r, wc)) => {
                    covs.push(wc);
                    if first_err.is_ok() {
                        first_err = r;
                    }
                }
                Err(_) => {
                    if first_err.is_ok() {
                        first_err = Err(SourceError::Options(
                            "a cluster node's scan thread panicked".into(),
                        ));
                    }
                }
            }
        }
        first_err
    });
    (r, covs, limit_hit)
}

/// Sample a live Redis (see the module docs): every value the filter selects goes to `sink`, in
/// the order read (in a cluster, the masters' values interleave).
pub fn scan_redis(
    url: &str,
    opts: &RedisOpts,
    filter: &Filter,
    pace: Pace,
    mut sink: impl FnMut(Sample),
    cov: &mut Coverage,
) -> Result<(), SourceError> {
    let target = Target::new(url, opts)?;
    let mut seed = Conn::open(&target, None, pace)?;
    let masters = nodes(&mut seed, &target, opts.cluster)?;
    let seen = Mutex::new(Seen::default());
    let stop = AtomicBool::new(false);
    let limit = filter.limit;
    let full = |n: u64| limit.is_some_and(|l| n >= l);
    let mut sampled = cov.sampled;
    let already_full = full(sampled);
    let mut partial = 0u64;
    let mut take = |s: Sample| -> bool {
        if full(sampled) {
            return false;
        }
        sampled += 1;
        if s.full_len.is_some() {
            partial += 1;
        }
        sink(s);
        !full(sampled)
    };
    let sh = |pace| Shared {
        target: &target,
        filter,
        pace,
        caps: opts.caps(),
        seen: &seen,
        stop: &stop,
    };
    let mut node_cov = Vec::new();
    let mut nodes = 0u64;
    let mut rescans = 0u64;
    let result = match masters {
        None => {
            let mut wc = Coverage::default();
            let r = if already_full {
                Ok(())
            } else {
                scan_node(&mut seed, &sh(pace), &mut take, &mut wc)
            };
            nodes = 1;
            node_cov.push(wc);
            r
        }
        Some(_) => {
            // Scan every master; if the slot map changed meanwhile (a reshard), keys that moved
            // before their old node listed them may have been missed: scan again on the new map
            // (keys already seen are skipped), at most twice more.
            let mut map = slot_map(&mut seed, &target)?;
            let mut pass = 0;
            loop {
                let masters = masters_of(&map);
                let (r, covs, limit_hit) = scan_masters(&masters, &sh(pace), pace, &mut take);
                node_cov.extend(covs);
                nodes = nodes.max(masters.len() as u64);
                if r.is_err() || limit_hit {
                    break r;
                }
                let now = slot_map(&mut seed, &target)?;
                if now == map || pass == 2 {
                    break Ok(());
                }
                map = now;
                pass += 1;
                rescans += 1;
            }
        }
    };
    for wc in node_cov {
        cov.keys_seen += wc.keys_seen;
        cov.vanished += wc.vanished;
        cov.skipped_types += wc.skipped_types;
        cov.reconnects += wc.reconnects;
        cov.redirected += wc.redirected;
    }
    cov.nodes += nodes;
    cov.rescans += rescans;
    cov.sampled = sampled;
    cov.partial += partial;
    result
}

/// How many keys the scan will meet (DBSIZE; summed over the masters of a cluster), for a progress
/// bar. None when the server cannot say (unreachable, DBSIZE not allowed to this user, ...).
pub fn estimate_keys(url: &str, opts: &RedisOpts) -> Option<u64> {
    let target = Target::new(url, opts).ok()?;
    let mut seed = Conn::open(&target, None, Pace::default()).ok()?;
    let dbsize = |c: &mut Conn| -> Option<u64> {
        let v = c.one("DBSIZE", read_cmd("DBSIZE").ok()?).ok()?;
        int(&v).and_then(|n| u64::try_from(n).ok())
    };
    match nodes(&mut seed, &target, opts.cluster).ok()? {
        None => dbsize(&mut seed),
        Some(masters) => masters.iter().try_fold(0u64, |acc, node| {
            let mut c = Conn::open(&target, Some(node), Pace::default()).ok()?;
            Some(acc + dbsize(&mut c)?)
        }),
    }
}

/// Which node of a Sentinel-managed set is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadFrom {
    /// The master the Sentinel names.
    #[default]
    Master,
    /// A replica the Sentinel lists as up (spares the master the scan's load).
    Replica,
}

impl ReadFrom {
    pub fn parse(s: &str) -> Option<ReadFrom> {
        match s {
            "master" => Some(ReadFrom::Master),
            "replica" => Some(ReadFrom::Replica),
            _ => None,
        }
    }
}

/// Redis Sentinel options (from the command line's `cli::connect::SentinelArgs`): the sentinels are asked where
/// the master (and its replicas) are; the node chosen is then read as `--redis` would read it
/// (`-n`, `--user`/`--pass`, the TLS flags apply to it).
#[derive(Debug, Clone, Default)]
pub struct SentinelOpts {
    /// A Redis Sentinel, HOST:PORT (repeatable: they are asked in order, the first that names the
    /// master is used). Instead of --redis.
    pub sentinels: Vec<String>,
    /// The master's name as the sentinels monitor it (`sentinel monitor NAME ...`).
    pub sentinel_master: Option<String>,
    /// With --sentinel: read the master (default) or a replica the sentinel lists as up.
    pub read_from: Option<ReadFrom>,
    /// ACL user name for the sentinels (their own, not the data node's --user).
    pub sentinel_user: Option<String>,
    /// Password for the sentinels (`requirepass` in sentinel.conf); prefer the environment
    /// variable, a flag is visible in the process list.
    pub sentinel_pass: Option<String>,
}

impl SentinelOpts {
    /// Options that mean nothing without sentinels (a password may come from the environment,
    /// so it is not one of them).
    pub fn only_with_sentinel(&self) -> bool {
        self.sentinel_master.is_some() || self.read_from.is_some() || self.sentinel_user.is_some()
    }
}

/// The node a Sentinel named: its URL (`redis://HOST:PORT`, to be read with the `--redis`
/// options) and a line saying which node was chosen and why.
#[derive(Debug, Clone)]
pub struct SentinelChoice {
    pub url: String,
    pub note: String,
    /// The node and how it was found, for a snapshot's `source`.
    pub label: String,
}

/// `HOST:PORT` (or `[v6]:PORT`) of a `--sentinel`.
fn host_port(s: &str) -> Option<(String, u16)> {
    let (h, p) = s.rsplit_once(':')?;
    let h = h.trim_start_matches('[').trim_end_matches(']');
    if h.is_empty() {
        return None;
    }
    Some((h.to_string(), p.parse().ok()?))
}

/// A host and port as a URL host part (IPv6 in brackets).
fn url_host(h: &str, p: u16) -> String {
    if h.contains(':') {
        format!("[{h}]:{p}")
    } else {
        format!("{h}:{p}")
    }
}

/// A reply made of field/value pairs (RESP2 flat array, or a RESP3 map) as text pairs.
fn pairs(v: &Value) -> Vec<(String, String)> {
    let text = |v: &Value| bytes(v).map(|b| String::from_utf8_lossy(&b).into_owned());
    match v {
        Value::Map(m) => m
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
            .collect(),
        v => array(v)
            .unwrap_or(&[])
            .chunks_exact(2)
            .filter_map(|p| Some((text(&p[0])?, text(&p[1])?)))
            .collect(),
    }
}

/// One replica as `SENTINEL REPLICAS` lists it.
#[derive(Debug, Clone, PartialEq)]
struct ReplicaInfo {
    host: String,
    port: u16,
    flags: String,
    link: String,
    offset: i64,
}

impl ReplicaInfo {
    fn of(fields: &[(String, String)]) -> Option<ReplicaInfo> {
        let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
        Some(ReplicaInfo {
            host: get("ip")?.to_string(),
            port: get("port")?.parse().ok()?,
            flags: get("flags").unwrap_or("").to_string(),
            link: get("master-link-status").unwrap_or("").to_string(),
            offset: get("slave-repl-offset")
                .and_then(|o| o.parse().ok())
                .unwrap_or(0),
        })
    }

    /// Why it cannot be read (None: it is up).
    fn down(&self) -> Option<String> {
        let bad: Vec<&str> = self
            .flags
            .split(',')
            .filter(|f| matches!(*f, "s_down" | "o_down" | "disconnected"))
            .collect();
        if !bad.is_empty() {
            return Some(bad.join(","));
        }
        if self.link != "ok" {
            return Some(format!(
                "master-link-status {}",
                if self.link.is_empty() {
                    "unknown"
                } else {
                    &self.link
                }
            ));
        }
        None
    }
}

/// The replica to read among those a sentinel lists: one that is up (no `s_down`, `o_down` or
/// `disconnected` flag, `master-link-status ok`), the furthest along the replication stream (the
/// first listed among equals). Err: the reasons each listed one was passed over.
fn pick_replica(replicas: &[ReplicaInfo]) -> Result<&ReplicaInfo, Vec<String>> {
    let mut best: Option<&ReplicaInfo> = None;
    let mut passed = Vec::new();
    for r in replicas {
        match r.down() {
            Some(why) => passed.push(format!("{} ({why})", url_host(&r.host, r.port))),
            None => {
                if best.is_none_or(|b| r.offset > b.offset) {
                    best = Some(r);
                }
            }
        }
    }
    best.ok_or(passed)
}

/// Connect to one sentinel (plain TCP, its own user and password) and make one round trip.
fn sentinel_conn(addr: &(String, u16), opts: &SentinelOpts) -> Result<Conn, SourceError> {
    let shown = format!("sentinel {}", url_host(&addr.0, addr.1));
    let mut r = redis::RedisConnectionInfo::default().set_skip_set_lib_name();
    if let Some(u) = &opts.sentinel_user {
        r = r.set_username(u);
    }
    if let Some(p) = &opts.sentinel_pass {
        r = r.set_password(p);
    }
    let info = ConnectionAddr::Tcp(addr.0.clone(), addr.1)
        .into_connection_info()
        .map_err(|e| SourceError::Connect {
            url: shown.clone(),
            err: e,
        })?
        .set_redis_settings(r);
    let err = |e| SourceError::Connect {
        url: shown.clone(),
        err: e,
    };
    let client = redis::Client::open(info).map_err(err)?;
    let con = connect(&client).map_err(err)?;
    Ok(Conn {
        client,
        con,
        shown,
        pace: Pace::default(),
        started: Instant::now(),
        sent: 0,
        reconnects: 0,
        asking: false,
    })
}

/// Ask the sentinels (in order, the first that names the master) where to read: the master, or
/// with `ReadFrom::Replica` a replica listed as up. Only `SENTINEL GET-MASTER-ADDR-BY-NAME` and
/// `SENTINEL REPLICAS` (`SENTINEL SLAVES` before Redis 5) are sent, after HELLO.
pub fn resolve_sentinel(opts: &SentinelOpts) -> Result<SentinelChoice, SourceError> {
    let name = opts.sentinel_master.as_deref().ok_or_else(|| {
        SourceError::Options(
            "--sentinel needs --sentinel-master NAME (the monitored master's name)".into(),
        )
    })?;
    if opts.sentinels.is_empty() {
        return Err(SourceError::Options(
            "--sentinel-master needs at least one --sentinel HOST:PORT".into(),
        ));
    }
    let read_from = opts.read_from.unwrap_or_default();
    let mut failures = Vec::new();
    let mut unknown = Vec::new();
    for s in &opts.sentinels {
        let addr = host_port(s)
            .ok_or_else(|| SourceError::Options(format!("--sentinel {s:?}: expected HOST:PORT")))?;
        let mut c = match sentinel_conn(&addr, opts) {
            Ok(c) => c,
            Err(e) => {
                failures.push(e.to_string());
                continue;
            }
        };
        let mut cmd = read_cmd("SENTINEL GET-MASTER-ADDR-BY-NAME")?;
        cmd.arg(name);
        let v = match c.one("SENTINEL GET-MASTER-ADDR-BY-NAME", cmd) {
            Ok(v) => v,
            Err(e) => {
                failures.push(e.to_string());
                continue;
            }
        };
        let master = array(&v).and_then(|a| {
            let h = String::from_utf8_lossy(&bytes(a.first()?)?).into_owned();
            let p = u16::try_from(int(a.get(1)?)?).ok()?;
            Some((h, p))
        });
        let Some(master) = master else {
            unknown.push(c.shown.clone());
            continue;
        };
        let m = url_host(&master.0, master.1);
        if read_from == ReadFrom::Master {
            return Ok(SentinelChoice {
                url: format!("redis://{m}"),
                note: format!(
                    "{} names master {name:?} at {m}; reading the master",
                    c.shown
                ),
                label: format!("redis://{m} (master {name:?} by {})", c.shown),
            });
        }
        let mut cmd = read_cmd("SENTINEL REPLICAS")?;
        cmd.arg(name);
        let mut v = c
            .query("SENTINEL REPLICAS", vec![cmd])?
            .pop()
            .unwrap_or(Value::Nil);
        if server_error(&v).is_some() {
            // Before Redis 5 the subcommand is SLAVES.
            let mut cmd = read_cmd("SENTINEL SLAVES")?;
            cmd.arg(name);
            v = c.one("SENTINEL SLAVES", cmd)?;
        }
        let replicas: Vec<ReplicaInfo> = array(&v)
            .unwrap_or(&[])
            .iter()
            .filter_map(|r| ReplicaInfo::of(&pairs(r)))
            .collect();
        return match pick_replica(&replicas) {
            Ok(r) => {
                let at = url_host(&r.host, r.port);
                Ok(SentinelChoice {
                    url: format!("redis://{at}"),
                    note: format!(
                        "{} names master {name:?} at {m}; reading its replica {at} ({} of {} replicas up)",
                        c.shown,
                        replicas.iter().filter(|r| r.down().is_none()).count(),
                        replicas.len()
                    ),
                    label: format!("redis://{at} (replica of master {name:?} by {})", c.shown),
                })
            }
            Err(passed) => Err(SourceError::Options(format!(
                "{} lists no replica of {name:?} that is up ({}); read the master with \
                 --read-from master, or bring a replica up",
                c.shown,
                if passed.is_empty() {
                    "it lists none".to_string()
                } else {
                    passed.join(", ")
                }
            ))),
        };
    }
    if !unknown.is_empty() {
        return Err(SourceError::Options(format!(
            "no master named {name:?}: {} answered: they monitor no such master{}; check \
             --sentinel-master against `sentinel monitor NAME ...` in sentinel.conf \
             (SENTINEL MASTERS lists the names)",
            unknown.join(", "),
            if failures.is_empty() {
                String::new()
            } else {
                format!(" (and {})", failures.join("; "))
            }
        )));
    }
    let auth = failures
        .iter()
        .any(|f| f.contains("NOAUTH") || f.contains("WRONGPASS") || f.contains("uthentication"));
    Err(SourceError::Options(format!(
        "no sentinel answered: {}; {}",
        failures.join("; "),
        if auth {
            "a sentinel with a password needs --sentinel-pass (or CACHE_COMPAT_SENTINEL_PASS) \
             and --sentinel-user for an ACL user"
        } else {
            "check the --sentinel HOST:PORT list (a sentinel listens on 26379 by default)"
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(port: u16, flags: &str, link: &str, offset: i64) -> ReplicaInfo {
        ReplicaInfo {
            host: "10.0.0.1".into(),
            port,
            flags: flags.into(),
            link: link.into(),
            offset,
        }
    }

    #[test]
    fn a_replica_is_picked_only_when_up() {
        let rs = [
            replica(1, "slave,s_down", "ok", 90),
            replica(2, "slave", "err", 80),
            replica(3, "slave", "ok", 10),
            replica(4, "slave,disconnected", "ok", 99),
            replica(5, "slave", "ok", 20),
            replica(6, "slave,o_down", "ok", 99),
        ];
        assert_eq!(pick_replica(&rs).map(|r| r.port), Ok(5));
        let down = pick_replica(&rs[..2]).unwrap_err();
        assert_eq!(
            down,
            ["10.0.0.1:1 (s_down)", "10.0.0.1:2 (master-link-status err)"]
        );
        assert!(pick_replica(&[]).unwrap_err().is_empty());
        assert_eq!(host_port("[::1]:26379"), Some(("::1".into(), 26379)));
        assert_eq!(host_port("s1:x"), None);
        assert_eq!(url_host("::1", 6379), "[::1]:6379");
    }
}
