//! The security view: every global a pickle references, and the ones that can run code when the
//! pickle is loaded. A cache that an attacker can write to is a code-execution path into every
//! process that reads it, so such a reference is a finding of its own, whatever the runtime.
//!
//! [`audit`] is what `scan` reports (CC020 code-on-load, CC021 unknown-global): a symbolic run of
//! the opcodes that follows which global each call (REDUCE, NEWOBJ, NEWOBJ_EX, OBJ, INST, BUILD)
//! invokes, through memo'd names, `getattr`, `operator.attrgetter`/`methodcaller`,
//! `functools.partial` and `copyreg._reconstructor`. Nothing is executed. The tables (allow-list,
//! danger table, their sources) are in [`super::security_tables`]; docs/hazards.md explains the
//! rules.

use super::security_tables::{DANGEROUS_MODULES, DANGEROUS_NAMES, SAFE};
use crate::pickle::ops::code;
use crate::pickle::parse::{Arg, Op};
use crate::runtime::generated;
use crate::runtime::load::AppClasses;
use serde::Serialize;

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
/// [`super::security_tables`]; allow-listed globals are never dangerous).
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

/// A global reference met in the stream (named, derived through getattr, or an EXT code).
struct Ref {
    global: String,
    /// The (module, name) it resolves to, for derived lookups (`None`: computed or EXT).
    path: Option<(String, String)>,
    offset: usize,
    opcode: &'static str,
    class: Class,
    called_by: Option<Call>,
    /// Times its node was pushed (created or fetched from the memo).
    pushes: u32,
    /// Times it was consumed as the callable of a `getattr(<global>, '<literal>')` the audit
    /// resolved (a `getattr` whose every push is such a use is only a way to name a global).
    resolved_uses: u32,
}

/// A value on the symbolic stack.
#[derive(Debug, Clone, Copy)]
enum Node {
    /// A literal (number, None, bool, empty container) or a container.
    Other,
    /// What a call returned.
    Computed,
    /// A string literal: its payload range (`quoted`: a protocol-0 STRING with its quotes).
    Str {
        start: usize,
        end: usize,
        quoted: bool,
    },
    /// A global (index into the refs).
    Ref(u32),
    /// A module object (`__import__('os')`, `importlib.import_module('os')`): a Str node.
    Module(u32),
    /// `functools.partial(f, ...)`: the node of `f`.
    Partial(u32),
    /// `operator.attrgetter('name')` / `methodcaller('name', ...)`: the Str node of the name.
    AttrGetter(u32),
    MethodCaller(u32),
    /// A tuple of up to four items (what call arguments need); larger tuples are `Other`.
    Tuple([u32; 4], u8),
}

/// Longest string the audit decodes as a module or attribute name.
const MAX_AUDIT_NAME: usize = 1024;
/// How deep partial-of-partial chains are followed.
const MAX_DEPTH: usize = 16;

struct Machine<'a> {
    data: &'a [u8],
    apps: &'a AppClasses,
    nodes: Vec<Node>,
    stack: Vec<u32>,
    marks: Vec<usize>,
    memo: crate::fasthash::Map<u64, u32>,
    refs: Vec<Ref>,
}

fn op_name(c: u8) -> &'static str {
    crate::pickle::ops::info(c).map_or("?", |i| i.name)
}

impl<'a> Machine<'a> {
    fn node(&mut self, n: Node) -> u32 {
        self.nodes.push(n);
        (self.nodes.len() - 1) as u32
    }

    fn push(&mut self, n: Node) {
        let id = self.node(n);
        self.stack.push(id);
    }

    fn pop(&mut self) -> Option<u32> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() > floor {
            self.stack.pop()
        } else {
            None
        }
    }

    fn pop_mark(&mut self) -> Vec<u32> {
        match self.marks.pop() {
            Some(at) if at <= self.stack.len() => self.stack.split_off(at),
            _ => Vec::new(),
        }
    }

    fn text(&self, id: u32) -> Option<String> {
        match self.nodes.get(id as usize)? {
            Node::Str { start, end, quoted } => {
                let (mut s, mut e) = (*start, *end);
                if *quoted && e >= s + 2 {
                    s += 1;
                    e -= 1;
                }
                if e - s > MAX_AUDIT_NAME {
                    return None;
                }
                std::str::from_utf8(self.data.get(s..e)?)
                    .ok()
                    .map(str::to_string)
            }
            _ => None,
        }
    }

    fn new_ref(
        &mut self,
        path: Option<(String, String)>,
        offset: usize,
        opcode: &'static str,
        class: Class,
        global: String,
    ) -> u32 {
        self.refs.push(Ref {
            global,
            path,
            offset,
            opcode,
            class,
            called_by: None,
            pushes: 1,
            resolved_uses: 0,
        });
        let r = (self.refs.len() - 1) as u32;
        self.node(Node::Ref(r))
    }

    fn named_ref(
        &mut self,
        module: String,
        name: String,
        offset: usize,
        opcode: &'static str,
    ) -> u32 {
        let class = classify(&module, &name, self.apps);
        let global = format!("{module}.{name}");
        self.new_ref(Some((module, name)), offset, opcode, class, global)
    }

    /// The (module, dotted name) a node stands for, when it is a global or a module object.
    fn target(&self, id: u32) -> Option<(String, Option<String>)> {
        match self.nodes.get(id as usize)? {
            Node::Ref(r) => {
                let (m, n) = self.refs[*r as usize].path.clone()?;
                Some((m, Some(n)))
            }
            Node::Module(s) => Some((self.text(*s)?, None)),
            _ => None,
        }
    }

    /// `target.attr` as a new derived global.
    fn derive(
        &mut self,
        target: u32,
        attr: u32,
        offset: usize,
        opcode: &'static str,
    ) -> Option<u32> {
        let (m, n) = self.target(target)?;
        let a = self.text(attr)?;
        let name = match n {
            Some(n) => format!("{n}.{a}"),
            None => a,
        };
        Some(self.named_ref(m, name, offset, opcode))
    }

    fn args(&self, id: u32) -> Vec<u32> {
        match self.nodes.get(id as usize) {
            Some(Node::Tuple(items, n)) => items[..*n as usize].to_vec(),
            _ => Vec::new(),
        }
    }

    fn is_literal(&self, id: u32) -> bool {
        matches!(
            self.nodes.get(id as usize),
            Some(Node::Str { .. } | Node::Other)
        )
    }

    fn mark_called(&mut self, id: u32, call: Call, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        match self.nodes.get(id as usize).copied() {
            Some(Node::Ref(r)) => {
                let r = &mut self.refs[r as usize];
                if r.called_by.is_none() {
                    r.called_by = Some(call);
                }
            }
            Some(Node::Partial(f)) => self.mark_called(
                f,
                Call {
                    via: Some("functools.partial"),
                    ..call
                },
                depth + 1,
            ),
            _ => {}
        }
    }

    /// A call of `callee` with the argument tuple `args` by `op`: marks what it invokes and
    /// returns the node of its result.
    fn call(&mut self, callee: u32, args: u32, op: &Op, depth: usize) -> Node {
        let call = Call {
            opcode: op_name(op.code),
            offset: op.pos,
            via: None,
        };
        if depth > MAX_DEPTH {
            return Node::Computed;
        }
        match self.nodes.get(callee as usize).copied() {
            Some(Node::Ref(r)) => {
                let path = self.refs[r as usize].path.clone();
                let a = self.args(args);
                let (m, n) = match &path {
                    Some((m, n)) => (m.as_str(), n.as_str()),
                    None => ("", ""),
                };
                let result = match (m, n) {
                    ("builtins" | "__builtin__", "getattr") if a.len() == 2 => {
                        // On a global (how pickle writes a classmethod below protocol 4:
                        // getattr(ZoneInfo, '_unpickle')) the getattr only names the attribute;
                        // on a module object it is still the gadget it is.
                        let on_global = matches!(self.nodes.get(a[0] as usize), Some(Node::Ref(_)));
                        match self.derive(a[0], a[1], op.pos, "REDUCE(getattr)") {
                            Some(d) => {
                                if on_global {
                                    self.refs[r as usize].resolved_uses += 1;
                                }
                                self.mark_called(callee, call, depth);
                                return self.nodes[d as usize];
                            }
                            None => Node::Computed,
                        }
                    }
                    ("builtins" | "__builtin__", "__import__") | ("importlib", "import_module")
                        if !a.is_empty() && self.text(a[0]).is_some() =>
                    {
                        Node::Module(a[0])
                    }
                    ("operator" | "_operator", "attrgetter")
                        if a.len() == 1 && self.text(a[0]).is_some() =>
                    {
                        Node::AttrGetter(a[0])
                    }
                    ("operator" | "_operator", "methodcaller")
                        if !a.is_empty() && self.text(a[0]).is_some() =>
                    {
                        Node::MethodCaller(a[0])
                    }
                    ("functools", "partial") if !a.is_empty() => {
                        // A cached partial is there to be called (by the stream or the app).
                        self.mark_called(
                            a[0],
                            Call {
                                via: Some("functools.partial"),
                                ..call
                            },
                            depth + 1,
                        );
                        Node::Partial(a[0])
                    }
                    ("copyreg" | "copy_reg", "_reconstructor") => {
                        let via = Call {
                            via: Some("copyreg._reconstructor"),
                            ..call
                        };
                        if let Some(&cls) = a.first() {
                            self.mark_called(cls, via, depth + 1);
                        }
                        // base.__init__(obj, state) runs unless base is object.
                        if let Some(&base) = a.get(1) {
                            let is_object = matches!(
                                self.target(base),
                                Some((ref m, Some(ref n))) if is_builtins(m) && n == "object"
                            );
                            if !is_object {
                                self.mark_called(base, via, depth + 1);
                            }
                        }
                        Node::Computed
                    }
                    ("copyreg" | "copy_reg", "__newobj__" | "__newobj_ex__") => {
                        if let Some(&cls) = a.first() {
                            self.mark_called(
                                cls,
                                Call {
                                    via: Some("copyreg.__newobj__"),
                                    ..call
                                },
                                depth + 1,
                            );
                        }
                        Node::Computed
                    }
                    ("collections" | "_collections", "defaultdict") => {
                        // The factory runs on every missing key the application reads.
                        if let Some(&f) = a.first() {
                            self.mark_called(
                                f,
                                Call {
                                    via: Some("collections.defaultdict"),
                                    ..call
                                },
                                depth + 1,
                            );
                        }
                        Node::Computed
                    }
                    ("_codecs", "encode") => {
                        if !a.iter().all(|&x| self.is_literal(x)) {
                            // Computed arguments: judged as an unknown call.
                            let rr = &mut self.refs[r as usize];
                            rr.class = Class::Unknown(Reason::ComputedArguments);
                        }
                        Node::Computed
                    }
                    _ => Node::Computed,
                };
                self.mark_called(callee, call, depth);
                result
            }
            Some(Node::Partial(f)) => {
                self.mark_called(
                    f,
                    Call {
                        via: Some("functools.partial"),
                        ..call
                    },
                    depth + 1,
                );
                // partial(f, *a)(*b) is f(*a, *b): resolved only for what f is.
                Node::Computed
            }
            Some(Node::AttrGetter(name)) => {
                let a = self.args(args);
                match a
                    .first()
                    .and_then(|&t| self.derive(t, name, op.pos, "REDUCE(attrgetter)"))
                {
                    Some(d) => self.nodes[d as usize],
                    None => Node::Computed,
                }
            }
            Some(Node::MethodCaller(name)) => {
                let a = self.args(args);
                if let Some(d) = a
                    .first()
                    .and_then(|&t| self.derive(t, name, op.pos, "REDUCE(methodcaller)"))
                {
                    self.mark_called(d, call, depth);
                }
                Node::Computed
            }
            _ => Node::Computed,
        }
    }

    fn run(&mut self, ops: &[Op]) {
        for op in ops {
            self.step(op);
        }
    }

    fn step(&mut self, op: &Op) {
        match (op.code, &op.arg) {
            (code::MARK, _) => self.marks.push(self.stack.len()),
            (code::STOP, _) => {}
            (code::POP, _) => {
                if self.pop().is_none() {
                    self.pop_mark();
                }
            }
            (code::POP_MARK, _) => {
                self.pop_mark();
            }
            (code::DUP, _) => {
                if let Some(&top) = self.stack.last() {
                    self.count_push(top);
                    self.stack.push(top);
                }
            }
            (code::GLOBAL, Arg::Line2(m, n)) => {
                let full = |r: &std::ops::Range<usize>| {
                    String::from_utf8_lossy(&self.data[r.clone()]).into_owned()
                };
                let (m, n) = (full(m), full(n));
                let id = self.named_ref(m, n, op.pos, "GLOBAL");
                self.stack.push(id);
            }
            (code::INST, Arg::Line2(m, n)) => {
                let full = |r: &std::ops::Range<usize>| {
                    String::from_utf8_lossy(&self.data[r.clone()]).into_owned()
                };
                let (m, n) = (full(m), full(n));
                let args = self.pop_mark();
                let id = self.named_ref(m, n, op.pos, "INST");
                let t = self.tuple(&args);
                let r = self.call(id, t, op, 0);
                self.push(r);
            }
            (code::STACK_GLOBAL, _) => {
                let n = self.pop();
                let m = self.pop();
                let (mt, nt) = (m.and_then(|m| self.text(m)), n.and_then(|n| self.text(n)));
                let id = match (mt, nt) {
                    (Some(m), Some(n)) => self.named_ref(m, n, op.pos, "STACK_GLOBAL"),
                    (m, n) => {
                        let g = format!(
                            "{}.{}",
                            m.unwrap_or_else(|| "?".into()),
                            n.unwrap_or_else(|| "?".into())
                        );
                        self.new_ref(
                            None,
                            op.pos,
                            "STACK_GLOBAL",
                            Class::Unknown(Reason::ComputedName),
                            g,
                        )
                    }
                };
                self.stack.push(id);
            }
            (code::EXT1 | code::EXT2 | code::EXT4, Arg::Int(c)) => {
                let id = self.new_ref(
                    None,
                    op.pos,
                    op_name(op.code),
                    Class::Unknown(Reason::ExtCode { code: *c }),
                    format!("ext:{c}"),
                );
                self.stack.push(id);
            }
            (code::REDUCE, _) => {
                let args = self.pop();
                let callee = self.pop();
                let r = match (callee, args) {
                    (Some(c), Some(a)) => self.call(c, a, op, 0),
                    _ => Node::Computed,
                };
                self.push(r);
            }
            (code::NEWOBJ, _) => {
                let args = self.pop();
                let cls = self.pop();
                if let (Some(c), Some(a)) = (cls, args) {
                    self.call(c, a, op, 0);
                }
                self.push(Node::Computed);
            }
            (code::NEWOBJ_EX, _) => {
                let _kwargs = self.pop();
                let args = self.pop();
                let cls = self.pop();
                if let (Some(c), Some(a)) = (cls, args) {
                    self.call(c, a, op, 0);
                }
                self.push(Node::Computed);
            }
            (code::OBJ, _) => {
                let items = self.pop_mark();
                if let Some((&cls, rest)) = items.split_first() {
                    let t = self.tuple(rest);
                    self.call(cls, t, op, 0);
                }
                self.push(Node::Computed);
            }
            (code::BUILD, _) => {
                let state = self.pop();
                if let Some(&target) = self.stack.last() {
                    match self.nodes.get(target as usize).copied() {
                        // BUILD on a global itself: its __setstate__ / attributes.
                        Some(Node::Ref(_)) => self.patches(target, op),
                        // partial.__setstate__((func, args, kwds, dict)) replaces the function.
                        Some(Node::Partial(_)) => {
                            let f = state.and_then(|s| self.args(s).first().copied());
                            let n = match f {
                                Some(f) => {
                                    let call = Call {
                                        opcode: "BUILD",
                                        offset: op.pos,
                                        via: Some("functools.partial"),
                                    };
                                    self.mark_called(f, call, 1);
                                    Node::Partial(f)
                                }
                                None => Node::Computed,
                            };
                            self.nodes[target as usize] = n;
                        }
                        _ => {}
                    }
                }
            }
            (code::BINPUT | code::LONG_BINPUT, Arg::Int(i)) => {
                if let Some(&top) = self.stack.last() {
                    self.memo.insert(*i as u64, top);
                }
            }
            (code::PUT, Arg::Line(r)) => {
                let i = std::str::from_utf8(&self.data[r.clone()])
                    .ok()
                    .and_then(|t| t.trim().parse::<u64>().ok());
                if let (Some(i), Some(&top)) = (i, self.stack.last()) {
                    self.memo.insert(i, top);
                }
            }
            (code::MEMOIZE, _) => {
                if let Some(&top) = self.stack.last() {
                    let i = self.memo.len() as u64;
                    self.memo.insert(i, top);
                }
            }
            (code::BINGET | code::LONG_BINGET, Arg::Int(i)) => {
                self.get(Some(*i as u64));
            }
            (code::GET, Arg::Line(r)) => {
                let i = std::str::from_utf8(&self.data[r.clone()])
                    .ok()
                    .and_then(|t| t.trim().parse::<u64>().ok());
                self.get(i);
            }
            (code::STRING, Arg::Line(r)) => self.push(Node::Str {
                start: r.start,
                end: r.end,
                quoted: true,
            }),
            (
                code::UNICODE
                | code::BINUNICODE
                | code::SHORT_BINUNICODE
                | code::BINUNICODE8
                | code::BINSTRING
                | code::SHORT_BINSTRING
                | code::BINBYTES
                | code::SHORT_BINBYTES
                | code::BINBYTES8,
                Arg::Bytes(r) | Arg::Line(r),
            ) => self.push(Node::Str {
                start: r.start,
                end: r.end,
                quoted: false,
            }),
            (code::TUPLE, _) => {
                let items = self.pop_mark();
                let t = self.tuple(&items);
                self.stack.push(t);
            }
            (code::TUPLE1 | code::TUPLE2 | code::TUPLE3, _) => {
                let n = (op.code - code::TUPLE1 + 1) as usize;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    if let Some(x) = self.pop() {
                        items.push(x);
                    }
                }
                items.reverse();
                let t = self.tuple(&items);
                self.stack.push(t);
            }
            (code::EMPTY_TUPLE, _) => {
                let t = self.tuple(&[]);
                self.stack.push(t);
            }
            (code::LIST | code::DICT | code::FROZENSET, _) => {
                self.pop_mark();
                self.push(Node::Other);
            }
            (code::APPENDS | code::SETITEMS | code::ADDITEMS, _) => {
                self.pop_mark();
                if let Some(&t) = self.stack.last() {
                    self.patches(t, op);
                }
            }
            (code::APPEND, _) => {
                self.pop();
                if let Some(&t) = self.stack.last() {
                    self.patches(t, op);
                }
            }
            (code::SETITEM, _) => {
                self.pop();
                self.pop();
                if let Some(&t) = self.stack.last() {
                    self.patches(t, op);
                }
            }
            (code::BINPERSID, _) => {
                self.pop();
                self.push(Node::Computed);
            }
            (code::FRAME | code::PROTO, _) => {}
            // Everything else pushes one value (ints, floats, None, bools, empty containers,
            // PERSID, buffers).
            _ => self.push(Node::Other),
        }
    }

    /// `op` changes the global object `target` itself (when it is one).
    fn patches(&mut self, target: u32, op: &Op) {
        if let Some(Node::Ref(r)) = self.nodes.get(target as usize).copied() {
            let r = &mut self.refs[r as usize];
            r.class = Class::Dangerous(Reason::Patches);
            r.resolved_uses = 0;
            if r.called_by.is_none() {
                r.called_by = Some(Call {
                    opcode: op_name(op.code),
                    offset: op.pos,
                    via: None,
                });
            }
        }
    }

    fn count_push(&mut self, id: u32) {
        if let Some(Node::Ref(r)) = self.nodes.get(id as usize) {
            self.refs[*r as usize].pushes += 1;
        }
    }

    fn get(&mut self, i: Option<u64>) {
        match i.and_then(|i| self.memo.get(&i).copied()) {
            Some(id) => {
                self.count_push(id);
                self.stack.push(id);
            }
            None => self.push(Node::Other),
        }
    }

    fn tuple(&mut self, items: &[u32]) -> u32 {
        if items.len() <= 4 {
            let mut a = [0u32; 4];
            a[..items.len()].copy_from_slice(items);
            self.node(Node::Tuple(a, items.len() as u8))
        } else {
            self.node(Node::Other)
        }
    }

    fn finish(self) -> Audit {
        let mut audit = Audit::default();
        for r in self.refs {
            let kind = match r.class {
                Class::Safe => continue,
                Class::App => {
                    if r.called_by.is_some() && !audit.app_classes.contains(&r.global) {
                        audit.app_classes.push(r.global);
                    }
                    continue;
                }
                // `getattr(<global>, '<literal>')` used only that way names the derived global,
                // which is judged on its own.
                Class::Dangerous(_) if r.resolved_uses > 0 && r.resolved_uses >= r.pushes => {
                    continue;
                }
                Class::Dangerous(_) => Kind::Dangerous,
                // An unknown callable is a finding when the load calls it; an EXT code or a
                // computed name always (the tool cannot tell what it is).
                Class::Unknown(
                    Reason::ExtCode { .. } | Reason::ComputedName | Reason::EmptyName,
                ) => Kind::Unknown,
                Class::Unknown(_) if r.called_by.is_some() => Kind::Unknown,
                Class::Unknown(_) => continue,
            };
            let reason = match r.class {
                Class::Dangerous(x) | Class::Unknown(x) => x,
                _ => continue,
            };
            audit.findings.push(Finding {
                kind,
                global: r.global,
                offset: r.offset,
                opcode: r.opcode,
                reason,
                called_by: r.called_by,
            });
        }
        audit
    }
}

/// The security view of a parsed pickle: every global outside the allow-list that its load calls
/// (CC021 when unknown) or references (CC020 when known-dangerous). Never executes anything;
/// bounded by the number of opcodes.
pub fn audit(data: &[u8], ops: &[Op], apps: &AppClasses) -> Audit {
    let mut m = Machine {
        data,
        apps,
        nodes: Vec::with_capacity(ops.len()),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: crate::fasthash::map(),
        refs: Vec::new(),
    };
    m.run(ops);
    m.finish()
}

#[cfg(test)]
mod audit_tests {
    use super::*;
    use crate::pickle::parse::parse;

    fn version(s: &str) -> (u32, u32) {
        let (a, b) = s.split_once('.').unwrap_or((s, "0"));
        (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
    }

    #[test]
    fn every_allowed_global_exists_in_the_runtimes_it_names() {
        // Against the tables read off the real interpreters (2.7, 3.6-3.14): the module exists in
        // each runtime of the range, and where the tables list the module's names, the name too.
        let mut checked = 0;
        for e in SAFE {
            let (lo, hi) = (version(e.since), e.until.map(version));
            for t in generated::RUNTIMES {
                let v = version(t.name);
                if v < lo || hi.is_some_and(|h| v > h) {
                    continue;
                }
                let top = e.name.split('.').next().unwrap_or(e.name);
                assert!(
                    t.has_module(e.module),
                    "{}.{}: no module {} in {}",
                    e.module,
                    e.name,
                    e.module,
                    t.name
                );
                if let Some(has) = t.module_attr(e.module, top) {
                    assert!(
                        has,
                        "{}.{} is not in {} {}",
                        e.module, e.name, e.module, t.name
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "{checked} (entry, runtime) names checked");
    }

    #[test]
    fn allowed_before_dangerous_and_unknown_otherwise() {
        let apps = AppClasses::default();
        assert_eq!(classify("uuid", "UUID", &apps), Class::Safe);
        assert!(matches!(
            classify("uuid", "_get_command_stdout", &apps),
            Class::Dangerous(_)
        ));
        assert!(matches!(
            classify("os", "system", &apps),
            Class::Dangerous(_)
        ));
        assert!(matches!(
            classify("__builtin__", "breakpoint", &apps),
            Class::Dangerous(_)
        ));
        assert!(matches!(
            classify("SocketServer", "TCPServer", &apps),
            Class::Dangerous(_)
        ));
        assert!(matches!(
            classify("textwrap", "dedent", &apps),
            Class::Unknown(Reason::StdlibNotAllowed)
        ));
        assert_eq!(classify("myapp.models", "User", &apps), Class::App);
        for (m, n) in [
            ("_posixsubprocess", "fork_exec"),
            ("platform", "popen"),
            ("io", "open"),
            ("codecs", "open"),
            ("zipimport", "zipimporter"),
            ("dill", "loads"),
            ("yaml", "load"),
            ("signal", "signal"),
        ] {
            assert!(
                matches!(classify(m, n, &apps), Class::Dangerous(_)),
                "{m}.{n}"
            );
        }
    }

    #[test]
    fn a_dangerous_global_stored_as_data_is_denied_an_unknown_one_is_not() {
        let apps = AppClasses::default();
        // [os.system] and [textwrap.dedent]: referenced, never called.
        let d = b"(cos\nsystem\nl.";
        let a = audit(d, &parse(d, 1000).ops, &apps);
        assert_eq!(a.dangerous(), vec!["os.system".to_string()]);
        assert_eq!(a.findings[0].called_by, None);
        let u = b"(ctextwrap\ndedent\nl.";
        assert!(audit(u, &parse(u, 1000).ops, &apps).is_empty());
        // Called, the unknown one is CC021.
        let c = b"ctextwrap\ndedent\n(S'x'\ntR.";
        let a = audit(c, &parse(c, 1000).ops, &apps);
        assert_eq!(a.unknown(), vec!["textwrap.dedent".to_string()]);
    }

    #[test]
    fn a_partial_s_function_and_codecs_arguments_are_judged() {
        let apps = AppClasses::default();
        let run = |d: &[u8]| audit(d, &parse(d, 1000).ops, &apps);
        // partial(max, 1, 2) as 3.x pickles it (corpus value partial_args): nothing to report.
        let ok = b"\x80\x02cfunctools\npartial\ncbuiltins\nmax\n\x85R(cbuiltins\nmax\nK\x01K\x02\x86NNtb.";
        assert!(run(ok).is_empty(), "{:?}", run(ok).findings);
        // partial(textwrap.dedent): the application will call it; unknown (CC021).
        let unk = b"\x80\x02cfunctools\npartial\nctextwrap\ndedent\n\x85R.";
        let a = run(unk);
        assert_eq!(a.unknown(), vec!["textwrap.dedent".to_string()]);
        assert_eq!(
            a.findings[0].called_by.unwrap().via,
            Some("functools.partial")
        );
        // _codecs.encode with literal arguments (3.x protocol 2 bytes) is data; with a computed
        // first argument it is CC021.
        let lit = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x06\x00\x00\x00latin1\x86R.";
        assert!(run(lit).is_empty());
        let comp = b"\x80\x02c_codecs\nencode\nctextwrap\ndedent\n)RX\x06\x00\x00\x00latin1\x86R.";
        assert!(run(comp).unknown().contains(&"_codecs.encode".to_string()));
    }

    #[test]
    fn truncated_and_hostile_streams_never_panic() {
        let apps = AppClasses::default();
        let seeds: [&[u8]; 6] = [
            b"R",
            b"\x93\x93\x93",
            b"(((((tR",
            b"\x80\x04\x8c\x02os\x94h\x00h\x00\x93b",
            b"cfunctools\npartial\n)Rb)R",
            b"\x82\xff\x83\xff\xff\x84\xff\xff\xff\xff)R",
        ];
        for s in seeds {
            for cut in 0..=s.len() {
                let d = &s[..cut];
                let _ = audit(d, &parse(d, 1000).ops, &apps);
            }
        }
    }
}
