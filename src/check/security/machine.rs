//! The audit's symbolic machine: a run of the opcodes that follows which global each call
//! invokes (through the memo, `getattr`, `attrgetter`/`methodcaller`, `partial`,
//! `copyreg._reconstructor`), building the [`Audit`] behind CC020 and CC021. Nothing is executed.

use super::*;
use crate::pickle::ops::code;
use crate::pickle::parse::{Arg, Op};

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
