//! The security view: every global a pickle references, and the ones that can run code when the
//! pickle is loaded. A cache that an attacker can write to is a code-execution path into every
//! process that reads it, so such a reference is a finding of its own, whatever the runtime.
//!
//! The deny list takes picklescan's `_unsafe_globals` and fickling's `UNSAFE_IMPORTS` as its floor
//! (modules listed with `*` are dangerous as a whole).

use crate::pickle::ops::code;
use crate::pickle::parse::{Arg, Op};

/// A global referenced by a pickle: `module.name`, where it stands, and how it was referenced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GlobalRef {
    pub module: String,
    pub name: String,
    /// Offset of the GLOBAL / INST / STACK_GLOBAL opcode.
    pub offset: usize,
    pub opcode: &'static str,
    /// Why loading it can run code (`None`: not on the deny list).
    pub danger: Option<&'static str>,
}

/// Longest string kept as a possible module or class name.
const MAX_NAME: usize = 256;
/// Memo entries that hold no name are kept only up to this many.
const MAX_MEMO: usize = 100_000;

const WHOLE_MODULES: &[(&str, &str)] = &[
    (
        "os",
        "operating-system access (os.system, os.popen, os.exec*)",
    ),
    ("posix", "operating-system access (posix.system)"),
    ("nt", "operating-system access (nt.system)"),
    ("subprocess", "runs programs"),
    ("commands", "runs shell commands (py2)"),
    ("popen2", "runs programs (py2)"),
    ("pty", "spawns processes"),
    ("socket", "opens network connections"),
    ("runpy", "runs modules"),
    ("pickle", "nested unpickling of attacker bytes"),
    ("_pickle", "nested unpickling of attacker bytes"),
    ("cPickle", "nested unpickling of attacker bytes"),
    ("marshal", "loads code objects"),
    ("shutil", "file-system changes"),
    ("sys", "interpreter internals"),
    ("importlib", "imports arbitrary modules"),
    ("imp", "imports arbitrary modules"),
    ("code", "runs source code"),
    ("codeop", "compiles source code"),
    ("ctypes", "native memory access"),
    ("timeit", "runs source code"),
    ("pdb", "runs source code"),
    ("bdb", "runs source code"),
    ("trace", "runs source code"),
    ("profile", "runs source code"),
    ("cProfile", "runs source code"),
    ("asyncio", "subprocesses and network"),
    ("multiprocessing", "spawns processes"),
    ("webbrowser", "opens URLs"),
    ("httplib", "network access"),
    ("http", "network access"),
    ("urllib", "network access"),
    ("urllib2", "network access"),
    ("requests", "network access"),
    ("ftplib", "network access"),
    ("smtplib", "network access"),
    ("telnetlib", "network access"),
    ("xmlrpclib", "network access"),
    ("xmlrpc", "network access"),
    ("venv", "creates environments, runs programs"),
    ("pip", "installs packages"),
    ("ensurepip", "installs packages"),
    ("distutils", "runs build commands"),
    ("types", "builds code and function objects"),
    ("builtins.__import__", "imports arbitrary modules"),
];

const NAMES: &[(&str, &str, &str)] = &[
    ("builtins", "eval", "evaluates code"),
    ("builtins", "exec", "executes code"),
    ("builtins", "compile", "compiles code"),
    (
        "builtins",
        "getattr",
        "reaches any attribute (gadget for code execution)",
    ),
    ("builtins", "setattr", "changes any attribute"),
    ("builtins", "delattr", "changes any attribute"),
    ("builtins", "__import__", "imports arbitrary modules"),
    ("builtins", "open", "opens files"),
    ("builtins", "breakpoint", "starts a debugger"),
    ("builtins", "globals", "interpreter internals"),
    ("builtins", "vars", "interpreter internals"),
    ("builtins", "input", "reads the terminal"),
    ("__builtin__", "eval", "evaluates code"),
    ("__builtin__", "execfile", "executes a file"),
    ("__builtin__", "compile", "compiles code"),
    (
        "__builtin__",
        "getattr",
        "reaches any attribute (gadget for code execution)",
    ),
    ("__builtin__", "setattr", "changes any attribute"),
    ("__builtin__", "__import__", "imports arbitrary modules"),
    ("__builtin__", "open", "opens files"),
    ("__builtin__", "file", "opens files"),
    ("__builtin__", "apply", "calls anything"),
    ("__builtin__", "input", "evaluates terminal input (py2)"),
    ("operator", "attrgetter", "reaches any attribute"),
    ("operator", "methodcaller", "calls any method"),
    ("functools", "partial", "builds calls (gadget)"),
    ("functools", "reduce", "calls anything"),
    ("pydoc", "pipepager", "runs a shell command"),
    ("torch.serialization", "load", "nested unpickling"),
    ("numpy", "load", "nested unpickling (allow_pickle)"),
    ("numpy.testing._private.utils", "runstring", "executes code"),
];

/// Why `module.name` can run code when loaded, or `None`.
pub fn danger(module: &str, name: &str) -> Option<&'static str> {
    for (m, n, why) in NAMES {
        if *m == module && (*n == name || name.starts_with(&format!("{n}."))) {
            return Some(why);
        }
    }
    let top = module.split('.').next().unwrap_or(module);
    for (m, why) in WHOLE_MODULES {
        if *m == module || *m == top {
            return Some(why);
        }
    }
    None
}

/// The globals a parsed pickle references. STACK_GLOBAL is resolved when its module and name are
/// pushed by the immediately preceding string opcodes (possibly through a memo GET of an earlier
/// string), which is how every pickler writes it.
pub fn globals(data: &[u8], ops: &[Op]) -> Vec<GlobalRef> {
    let mut out = Vec::new();
    // The last strings pushed (for STACK_GLOBAL), and memoized strings by index.
    let mut strings: Vec<Option<String>> = Vec::new();
    let mut memo: std::collections::HashMap<u64, Option<String>> = std::collections::HashMap::new();
    // Only strings short enough to be a module or class name are kept: a big string memoized or
    // fetched many times must not be copied each time.
    let text = |r: &std::ops::Range<usize>| {
        (r.len() <= MAX_NAME).then(|| String::from_utf8_lossy(&data[r.clone()]).into_owned())
    };
    for op in ops {
        let last = |strings: &Vec<Option<String>>| strings.last().cloned().flatten();
        match (op.code, &op.arg) {
            (code::GLOBAL | code::INST, Arg::Line2(m, n)) => {
                let full = |r: &std::ops::Range<usize>| {
                    String::from_utf8_lossy(&data[r.clone()]).into_owned()
                };
                let (m, n) = (full(m), full(n));
                out.push(GlobalRef {
                    danger: danger(&m, &n),
                    module: m,
                    name: n,
                    offset: op.pos,
                    opcode: if op.code == code::GLOBAL {
                        "GLOBAL"
                    } else {
                        "INST"
                    },
                });
                strings.push(None);
            }
            (code::SHORT_BINUNICODE | code::BINUNICODE | code::BINUNICODE8, Arg::Bytes(r)) => {
                strings.push(text(r));
            }
            (code::UNICODE, Arg::Line(r)) => strings.push(text(r)),
            (code::BINPUT | code::LONG_BINPUT, Arg::Int(i)) => {
                let v = last(&strings);
                if v.is_some() || memo.len() < MAX_MEMO {
                    memo.insert(*i as u64, v);
                }
            }
            (code::MEMOIZE, _) => {
                let i = memo.len() as u64;
                let v = last(&strings);
                memo.insert(i, v);
            }
            (code::PUT, Arg::Line(r)) => {
                if let Some(i) = text(r).and_then(|t| t.trim().parse::<u64>().ok()) {
                    let v = last(&strings);
                    memo.insert(i, v);
                }
            }
            (code::BINGET | code::LONG_BINGET, Arg::Int(i)) => {
                strings.push(memo.get(&(*i as u64)).cloned().flatten());
            }
            (code::GET, Arg::Line(r)) => {
                let v = text(r)
                    .and_then(|t| t.trim().parse::<u64>().ok())
                    .and_then(|i| memo.get(&i).cloned().flatten());
                strings.push(v);
            }
            (code::STACK_GLOBAL, _) => {
                let n = strings.pop().flatten();
                let m = strings.pop().flatten();
                let (m, n) = (
                    m.unwrap_or_else(|| "?".into()),
                    n.unwrap_or_else(|| "?".into()),
                );
                out.push(GlobalRef {
                    danger: danger(&m, &n),
                    module: m,
                    name: n,
                    offset: op.pos,
                    opcode: "STACK_GLOBAL",
                });
                strings.push(None);
            }
            (code::FRAME | code::PROTO, _) => {}
            _ => strings.push(None),
        }
        if strings.len() > 64 {
            strings.drain(..32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pickle::parse::parse;

    #[test]
    fn finds_os_system_through_stack_global_and_memo() {
        // protocol 4: 'os' memoized, then fetched back for a second STACK_GLOBAL.
        let data =
            b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x94h\x00\x8c\x05popen\x94\x93\x94.";
        let p = parse(data, 1000);
        let g = globals(data, &p.ops);
        let names: Vec<_> = g
            .iter()
            .map(|g| format!("{}.{}", g.module, g.name))
            .collect();
        assert_eq!(names, vec!["os.system", "os.popen"]);
        assert!(g.iter().all(|g| g.danger.is_some()));
    }

    #[test]
    fn plain_data_globals_are_not_dangerous() {
        assert_eq!(danger("datetime", "datetime"), None);
        assert_eq!(danger("collections", "OrderedDict"), None);
        assert!(danger("posix", "system").is_some());
        assert!(danger("builtins", "eval").is_some());
        assert!(danger("os.path", "join").is_some());
    }
}
