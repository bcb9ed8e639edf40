//! The security view: every global a pickle references, and the ones that can run code when the
//! pickle is loaded. A cache that an attacker can write to is a code-execution path into every
//! process that reads it, so such a reference is a finding of its own, whatever the runtime.
//!
//! [`audit`] is what `scan` reports (CC020 code-on-load, CC021 unknown-global): a symbolic run of
//! the opcodes that follows which global each call (REDUCE, NEWOBJ, NEWOBJ_EX, OBJ, INST, BUILD)
//! invokes, through memo'd names, `getattr`, `operator.attrgetter`/`methodcaller`,
//! `functools.partial` and `copyreg._reconstructor`. Nothing is executed. The tables (allow-list,
//! danger table, their sources) are in [`tables`]; docs/hazards.md explains the
//! rules.

#[cfg(test)]
mod audit_tests;
mod machine;
pub mod tables;

use crate::pickle::ops::code;
use crate::pickle::parse::{Arg, Op};
use crate::runtime::generated;
use crate::runtime::load::AppClasses;
pub use machine::audit;
use serde::Serialize;
use tables::{DANGEROUS_MODULES, DANGEROUS_NAMES, SAFE};

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

/// Why `module.name` can run code when loaded, or `None` (the danger table of
/// [`tables`]; allow-listed globals are never dangerous).
pub fn danger(module: &str, name: &str) -> Option<&'static str> {
    match classify(module, name, &AppClasses::default()) {
        Class::Dangerous(r) => Some(r.what()),
        _ => None,
    }
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

// ---------------------------------------------------------------------------------------------
// The audit behind CC020 / CC021.

/// What the tool knows a global to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Class {
    /// On the allow-list: builds data.
    Safe,
    /// An application class (outside the standard library, or named by `--app-class`).
    App,
    /// Runs code, starts processes, touches files or the network, or reaches any attribute.
    Dangerous(Reason),
    /// A callable the tool does not know.
    Unknown(Reason),
}

/// Why a global is a finding: data, rendered into a sentence by [`Reason::what`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "why", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// On the danger table: what it does, and who lists it.
    Listed {
        what: &'static str,
        source: &'static str,
    },
    /// The name walks to a dunder attribute (`__globals__`, `__builtins__`, `__class__`, ...).
    Dunder,
    /// A dotted name that walks through a dangerous module (`pathlib.os.system`).
    ThroughModule { module: &'static str },
    /// A standard-library callable that is not on the allow-list.
    StdlibNotAllowed,
    /// A module outside the standard library that `--app-class` does not name.
    NotAnAppClass,
    /// An EXT1/EXT2/EXT4 code: whatever the reader's copyreg extension registry holds (empty in
    /// CPython unless the application registers codes).
    ExtCode { code: i64 },
    /// STACK_GLOBAL of a module or name not written as literal strings in the pickle.
    ComputedName,
    /// An empty module or name: no such global exists.
    EmptyName,
    /// BUILD, SETITEM(S) or APPEND(S) on a global object itself: changes a module, class or
    /// function of the reader (how later globals resolve), not a value.
    Patches,
    /// An allowed global that is safe only with literal arguments (`_codecs.encode`) called with
    /// computed ones.
    ComputedArguments,
}

impl Reason {
    pub fn what(self) -> &'static str {
        match self {
            Reason::Listed { what, .. } => what,
            Reason::Dunder => "reaches interpreter internals through a dunder attribute",
            Reason::ThroughModule { .. } => "a dotted name that walks into a dangerous module",
            Reason::StdlibNotAllowed => "a standard-library callable that is not on the allow-list",
            Reason::NotAnAppClass => "not a module named by --app-class",
            Reason::ExtCode { .. } => {
                "an extension code (copyreg registry: empty in CPython unless the application registers codes)"
            }
            Reason::EmptyName => "an empty module or name (no such global)",
            Reason::Patches => {
                "changes the attributes or items of a module, class or function of the reader (monkey-patching)"
            }
            Reason::ComputedName => {
                "a global whose module or name is computed, not written in the pickle"
            }
            Reason::ComputedArguments => {
                "allowed only with literal arguments, called with computed ones"
            }
        }
    }
}

/// Whether a finding is known-dangerous (CC020) or unknown (CC021).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Kind {
    Dangerous,
    Unknown,
}

/// The opcode that invokes a global.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Call {
    pub opcode: &'static str,
    pub offset: usize,
    /// The safe wrapper that hands the global on to be called (`functools.partial`,
    /// `copyreg._reconstructor`, `collections.defaultdict`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<&'static str>,
}

/// One security finding of one value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    /// `module.name` (`?` where it is computed; `ext:N` for an extension code).
    pub global: String,
    /// Offset of the opcode that names the global (GLOBAL, STACK_GLOBAL, INST, EXT*), or of the
    /// REDUCE of the `getattr`/`attrgetter` that reached it.
    pub offset: usize,
    pub opcode: &'static str,
    pub reason: Reason,
    /// The opcode that calls it; `None`: referenced (imported, handed to the application) but
    /// not called during the load.
    pub called_by: Option<Call>,
}

impl Finding {
    /// The sentence of this finding without offsets (the text findings are aggregated by).
    pub fn summary(&self) -> String {
        let how = match &self.called_by {
            Some(Call {
                opcode, via: None, ..
            }) => format!("called by {opcode}"),
            Some(Call {
                opcode,
                via: Some(v),
                ..
            }) => format!("called by {opcode} through {v}"),
            None => "referenced (imported when loaded, not called)".to_string(),
        };
        format!("{} {how}: {}", self.global, self.reason.what())
    }

    /// The sentence with the offsets.
    pub fn sentence(&self) -> String {
        let at = match &self.called_by {
            Some(c) => format!(
                " ({} at offset {}, {} at {})",
                self.opcode, self.offset, c.opcode, c.offset
            ),
            None => format!(" ({} at offset {})", self.opcode, self.offset),
        };
        format!("{}{at}", self.summary())
    }
}

/// The security view of one pickle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audit {
    pub findings: Vec<Finding>,
    /// Application classes the load calls (not findings: `--app-class`, or every module outside
    /// the standard library by default).
    pub app_classes: Vec<String>,
}

impl Audit {
    fn names(&self, kind: Kind) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for f in self.findings.iter().filter(|f| f.kind == kind) {
            if !out.contains(&f.global) {
                out.push(f.global.clone());
            }
        }
        out
    }

    /// The known-dangerous globals (CC020), first occurrence order.
    pub fn dangerous(&self) -> Vec<String> {
        self.names(Kind::Dangerous)
    }

    /// The unknown callables (CC021).
    pub fn unknown(&self) -> Vec<String> {
        self.names(Kind::Unknown)
    }

    pub fn is_empty(&self) -> bool {
        self.findings.is_empty()
    }
}

fn is_dunder(seg: &str) -> bool {
    seg.len() > 4 && seg.starts_with("__") && seg.ends_with("__")
}

fn is_builtins(module: &str) -> bool {
    matches!(module, "builtins" | "__builtin__" | "exceptions")
}

fn is_exception_name(n: &str) -> bool {
    (n.ends_with("Error") || n.ends_with("Exception") || n.ends_with("Warning"))
        && n.bytes().all(|b| b.is_ascii_alphanumeric())
        || matches!(
            n,
            "KeyboardInterrupt"
                | "SystemExit"
                | "GeneratorExit"
                | "StopIteration"
                | "StopAsyncIteration"
        )
}

fn is_stdlib(module: &str) -> bool {
    let top = module.split('.').next().unwrap_or(module);
    generated::RUNTIMES
        .iter()
        .any(|t| t.has_module(module) || t.has_module(top))
        || matches!(top, "__builtin__" | "exceptions" | "builtins")
}

fn module_matches(module: &str, m: &str) -> bool {
    module == m || module.strip_prefix(m).is_some_and(|r| r.starts_with('.'))
}

/// What `module.name` is (`name` may be dotted: protocol 4 walks it attribute by attribute).
/// A py2 name (`__builtin__.eval`, `SocketServer.TCPServer`) is judged as what 3.x's
/// `fix_imports` maps it to as well, and a 3.x name as its py2 spelling: either side may load it.
pub fn classify(module: &str, name: &str, apps: &AppClasses) -> Class {
    let c = classify_one(module, name, apps);
    if matches!(c, Class::Dangerous(_) | Class::Safe) {
        return c;
    }
    let Some(compat) = generated::RUNTIMES.iter().rev().find_map(|t| t.compat) else {
        return c;
    };
    let other = compat
        .name(module, name)
        .or_else(|| compat.reverse_name(module, name))
        .map(|(m, n)| (m.to_string(), n.to_string()))
        .or_else(|| {
            let top = module.split('.').next().unwrap_or(module);
            let rest = &module[top.len()..];
            compat
                .import(module)
                .or_else(|| compat.reverse_import(module))
                .map(|m| m.to_string())
                .or_else(|| {
                    compat
                        .import(top)
                        .or_else(|| compat.reverse_import(top))
                        .map(|m| format!("{m}{rest}"))
                })
                .map(|m| (m, name.to_string()))
        });
    match other {
        Some((m, n)) if (m.as_str(), n.as_str()) != (module, name) => {
            match classify_one(&m, &n, apps) {
                d @ (Class::Dangerous(_) | Class::Safe) => d,
                _ => c,
            }
        }
        _ => c,
    }
}

fn classify_one(module: &str, name: &str, apps: &AppClasses) -> Class {
    if SAFE.iter().any(|e| e.module == module && e.name == name) {
        return Class::Safe;
    }
    if is_builtins(module) && !name.contains('.') && is_exception_name(name) {
        return Class::Safe;
    }
    for (m, n, what, source) in DANGEROUS_NAMES {
        if *m == module && (*n == name || name.strip_prefix(n).is_some_and(|r| r.starts_with('.')))
        {
            return Class::Dangerous(Reason::Listed { what, source });
        }
    }
    if name.split('.').any(is_dunder) || module.split('.').any(|m| m == "__builtins__") {
        // Module-level helpers pickle itself names are on the allow-list above.
        return Class::Dangerous(Reason::Dunder);
    }
    for (m, what, source) in DANGEROUS_MODULES {
        if module_matches(module, m) {
            return Class::Dangerous(Reason::Listed { what, source });
        }
    }
    // `pathlib` + `os.system`: a dotted name walking into a module dangerous as a whole.
    if name.contains('.') {
        for seg in name.split('.') {
            if let Some((m, _, _)) = DANGEROUS_MODULES.iter().find(|(m, _, _)| *m == seg) {
                return Class::Dangerous(Reason::ThroughModule { module: m });
            }
            if matches!(seg, "builtins" | "__builtin__") {
                return Class::Dangerous(Reason::ThroughModule { module: "builtins" });
            }
        }
    }
    if is_stdlib(module) {
        return Class::Unknown(Reason::StdlibNotAllowed);
    }
    if module.is_empty() || name.is_empty() {
        return Class::Unknown(Reason::EmptyName);
    }
    match &apps.importable {
        None => Class::App,
        Some(set) => {
            let top_class = name.split('.').next().unwrap_or(name);
            if set.iter().any(|s| {
                module_matches(module, s)
                    || *s == format!("{module}.{name}")
                    || *s == format!("{module}.{top_class}")
            }) {
                Class::App
            } else {
                Class::Unknown(Reason::NotAnAppClass)
            }
        }
    }
}
