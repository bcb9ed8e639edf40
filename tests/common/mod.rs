//! Shared helpers of the integration tests: the corpora and the real interpreters.
#![allow(dead_code)]

pub mod mutate;

use cache_compat::runtime::LoadOptions;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn read_jsonl(path: &Path) -> Vec<Value> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    BufReader::new(f)
        .lines()
        .map(|l| serde_json::from_str(&l.expect("line")).expect("json"))
        .collect()
}

/// The corpus pickles by id.
pub fn pickles() -> HashMap<String, Vec<u8>> {
    read_jsonl(&root().join("corpora/pickles.jsonl"))
        .into_iter()
        .map(|v| {
            (
                v["id"].as_str().expect("id").to_string(),
                unhex(v["pickle"].as_str().expect("pickle")),
            )
        })
        .collect()
}

/// The load options of a named option set (corpora/README.md).
pub fn optset(name: &str) -> LoadOptions {
    let s = match name {
        "default" => "",
        "latin1" => "encoding=latin1",
        "bytes" => "encoding=bytes",
        "utf8" => "encoding=utf-8",
        "utf8-surrogateescape" => "encoding=utf-8,errors=surrogateescape",
        "no-fix-imports" => "fix_imports=false",
        other => panic!("unknown option set {other}"),
    };
    LoadOptions::parse(s).expect("options")
}

/// The interpreter of a version like "3.8": pyenv's (the newest patch release present), or for
/// "3.15" CPython 3.15.2 from Debian's packages, run by the wrapper
/// target/debian-py/bin/python3.15 (installed by .ci/test-all: tools/debian-py/install.sh).
pub fn interpreter(version: &str) -> PathBuf {
    if version == "3.15" {
        let wrapper = root().join("target/debian-py/bin/python3.15");
        assert!(
            wrapper.exists(),
            "Python 3.15 is not installed at {} (run tools/debian-py/install.sh 3.15)",
            wrapper.display()
        );
        return wrapper;
    }
    let root = std::env::var("PYENV_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".pyenv")
        });
    let versions = root.join("versions");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&versions)
        .unwrap_or_else(|e| panic!("no pyenv interpreters at {}: {e}", versions.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{version}.")))
        })
        .collect();
    found.sort();
    let dir = found.pop().unwrap_or_else(|| {
        panic!(
            "Python {version} is not installed under {}",
            versions.display()
        )
    });
    dir.join("bin/python")
}

/// The command that runs a Python file under `version` (the file and its arguments follow):
/// the interpreter of [`interpreter`] (pyenv's; 3.15: Debian's 3.15.2), or for "3.14" Pyodide 314.0.7 (CPython 3.14.2
/// compiled to WebAssembly, with the real C `_pickle`) under Node.js: `node
/// tools/pyodide/run.mjs`, with pyodide from target/pyodide (installed there by .ci/test-all).
/// Pyodide is the emscripten platform: `sys.prefix` is `/`, the stdlib is the zip
/// `/lib/python314.zip` (module files print as `/lib/python314.zip/json/__init__.py`), errno
/// numbers are emscripten's (2 is EACCES), `Py_ssize_t` is 32 bits, it cannot fork or raise
/// signals, and it leaves out some stdlib modules (curses, dbm, pwd, grp, resource, tkinter,
/// venv, _hashlib, _pydecimal, ...; `sys.stdlib_module_names` is the complete compiled-in list).
pub fn python_command(version: &str) -> Vec<std::ffi::OsString> {
    if version == "3.14" {
        let runner = root().join("tools/pyodide/run.mjs");
        return vec!["node".into(), runner.into_os_string()];
    }
    vec![interpreter(version).into_os_string()]
}

/// A redis-server of the test's own, on a free loopback port, stopped (and its directory removed)
/// when dropped.
pub struct RedisServer {
    child: std::process::Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free loopback port (the OS picks it; a race with another process is possible but rare).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port()
}

/// Start a redis-server (persistence off; `redis-cli save` still writes `dir/dump.rdb`).
pub fn start_redis() -> RedisServer {
    start_redis_with(&[])
}

/// Start a redis-server on a free port with extra arguments (e.g. `--cluster-enabled yes`,
/// `--replicaof`); waits until the port accepts connections.
pub fn start_redis_with(extra: &[&str]) -> RedisServer {
    let port = free_port();
    start_redis_on(port, &["--port", &port.to_string()], extra)
}

/// Start a redis-server whose readiness is checked on `port` (with `--port 0 --tls-port P` for a
/// TLS-only server, `listen` names the arguments that open it).
pub fn start_redis_on(port: u16, listen: &[&str], extra: &[&str]) -> RedisServer {
    use std::time::{Duration, Instant};
    let dir = std::env::temp_dir().join(format!("cc-redis-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let child = std::process::Command::new("redis-server")
        .args(listen)
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(&dir)
        .args(extra)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server is installed (.ci/test-all installs it)");
    let server = RedisServer { child, port, dir };
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// `redis-cli -p PORT ARGS...`, its standard output.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let o = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// One command in RESP, appended to `out`, for `redis-cli --pipe`.
pub fn resp(out: &mut Vec<u8>, parts: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", parts.len()).as_bytes());
    for part in parts {
        out.extend_from_slice(format!("${}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
}

/// Send RESP commands to the server with `redis-cli --pipe` (which checks every reply).
pub fn redis_pipe(port: u16, commands: &[u8]) {
    use std::io::Write;
    let mut pipe = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--pipe"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("redis-cli");
    pipe.stdin
        .take()
        .expect("stdin")
        .write_all(commands)
        .expect("write");
    let out = pipe.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("errors: 0"),
        "redis-cli --pipe: {text}"
    );
}

/// The 3.14 oracle is Pyodide: CPython 3.14 compiled for wasm32-emscripten. The models describe a
/// native 64-bit Linux build; where the two differ by the platform alone, and only in one of these
/// named way, the comparison is counted as `platform` (listed in the report), not as agreement
/// (a `wasm32-ssize_t` rule for BINSTRING sizes >= 2**31 is gone: the native 3.14.10 and 3.15.2
/// say `BINSTRING pickle has negative byte count` too, `Facts::binstring_negative_reported`):
/// - `emscripten-errno`: emscripten numbers errno differently (2 is EACCES, not ENOENT), so
///   `OSError(2, ...)` becomes a PermissionError there, a FileNotFoundError on Linux: the same
///   rendering but for the OSError subclass's name.
pub fn pyodide_platform_difference(real: &str, ours: &str) -> Option<&'static str> {
    const OSERRORS: [&str; 16] = [
        "OSError",
        "BlockingIOError",
        "ChildProcessError",
        "ConnectionError",
        "BrokenPipeError",
        "ConnectionAbortedError",
        "ConnectionRefusedError",
        "ConnectionResetError",
        "FileExistsError",
        "FileNotFoundError",
        "InterruptedError",
        "IsADirectoryError",
        "NotADirectoryError",
        "PermissionError",
        "ProcessLookupError",
        "TimeoutError",
    ];
    let split = |t: &str| -> Option<(usize, String)> {
        let rest = t.strip_prefix('<')?;
        let (class, tail) = rest.split_once(">(")?;
        let i = OSERRORS.iter().position(|c| *c == class)?;
        Some((i, tail.to_string()))
    };
    match (split(real), split(ours)) {
        (Some((a, ra)), Some((b, rb))) if a != b && ra == rb => Some("emscripten-errno"),
        _ => None,
    }
}

/// The binary under test, in a clean environment of its own: none of the caller's `CACHE_COMPAT_*`
/// settings, `REDISCLI_AUTH`, `GITHUB_STEP_SUMMARY` or `NO_COLOR` reach it (a test sets what it
/// means). The one place the tests name the binary.
pub fn cache_compat() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_cache-compat"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CACHE_COMPAT_") {
            c.env_remove(&k);
        }
    }
    c.env_remove("REDISCLI_AUTH")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("NO_COLOR");
    c
}
