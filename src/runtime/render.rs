//! The canonical rendering of a loaded value (corpora/README.md, "The canonical rendering R"):
//! one ASCII string that names every type the runtime really produced. The oracle harness
//! (`corpora/gen/oracle.py`) computes the same string inside the real interpreters, so comparing
//! the two compares the models with reality. Iterative: deep values do not use the call stack.

use super::Runtime;
use super::codec;
use super::value::{Global, Heap, Id, Node};
use crate::fasthash::{self, Map};
use std::fmt::Write;

/// The longest rendering produced; longer ones end in `!render-too-large` (a doubling bomb of
/// shared tuples renders exponentially).
pub const MAX_RENDER: usize = 8 << 20;

/// Sort keys are compared on their first PLAIN_CAP bytes (longer keys that tie there keep their
/// iteration order).
const PLAIN_CAP: usize = 4096;
const PLAIN_DEPTH: usize = 64;

enum Task {
    Str(&'static str),
    Owned(String),
    Node(Id),
}

/// Render `root` with labels for shared and recursive mutable objects.
pub fn render(heap: &Heap, root: Id, rt: Runtime) -> String {
    let counts = ref_counts(heap, root);
    Renderer {
        heap,
        py2: rt.is_py2(),
        facts: rt.facts(),
        cap: MAX_RENDER,
        plain_depth: 0,
        plain_cache: std::rc::Rc::new(std::cell::RefCell::new(fasthash::map())),
        counts: Some(counts),
        labels: vec![0; heap.len()],
        nlabels: 0,
    }
    .run(root)
}

/// Whether the value holds an object the models could not reconstruct (its rendering would be a
/// guess): such values are reported as "loads; value not modelled".
pub fn has_opaque(heap: &Heap, root: Id) -> bool {
    let mut seen = vec![false; heap.len()];
    let mut todo = vec![root];
    while let Some(id) = todo.pop() {
        if std::mem::replace(&mut seen[id], true) {
            continue;
        }
        match heap.get(id) {
            Node::Opaque { .. } | Node::MemoryView(_) => return true,
            Node::Global(g) if !global_predictable(g) => return true,
            _ => {}
        }
        todo.extend(heap.children(id));
    }
    false
}

/// References to each mutable node reachable from root (the root counts once). Immutable nodes
/// (tuples, frozensets) are walked each time they are reached, as the oracle does, so a list
/// inside a shared tuple counts once per path; the walk is capped for doubling bombs.
fn ref_counts(heap: &Heap, root: Id) -> Vec<u32> {
    let mut counts = vec![0u32; heap.len()];
    let mut todo = vec![root];
    let mut budget = 2_000_000usize;
    while let Some(id) = todo.pop() {
        if heap.is_mutable(id) {
            let c = &mut counts[id];
            *c += 1;
            if *c > 1 {
                continue;
            }
        }
        if budget == 0 {
            break;
        }
        budget -= 1;
        todo.extend(heap.children(id));
    }
    counts
}

struct Renderer<'a> {
    heap: &'a Heap,
    py2: bool,
    /// The runtime's facts (reprs that changed: timedelta's keywords, UUID's slots).
    facts: super::Facts,
    /// Output cap (MAX_RENDER; PLAIN_CAP for sort keys).
    cap: usize,
    /// Nesting of sort-key renderings (a frozenset inside a frozenset ...).
    plain_depth: usize,
    /// Sort keys already rendered, by node: shared items are rendered once.
    plain_cache: std::rc::Rc<std::cell::RefCell<Map<Id, String>>>,
    /// References by node id; `None`: plain mode (sort keys), no labels.
    counts: Option<Vec<u32>>,
    /// Labels by node id (0: none yet; empty in plain mode).
    labels: Vec<usize>,
    /// Labels given.
    nlabels: usize,
}

fn qualified(g: &Global) -> String {
    let module = if g.module == "os.path" {
        "posixpath"
    } else {
        &g.module
    };
    format!("{module}.{}", g.name)
}

/// Whether `global(module.name)` is what the real object's `__module__` and `__name__` say: not
/// for dunder attributes (`__class__` is the `module` type) nor dotted names (methods).
pub(crate) fn global_predictable(g: &Global) -> bool {
    g.known != super::value::Known::Other || !(g.name.starts_with("__") || g.name.contains('.'))
}

/// A class as the rendering names it (`<module.Name>`, the module its `__module__` says).
pub(crate) fn class_key(g: &Global) -> String {
    format!("{}.{}", class_module(g), g.name)
}

fn class_module(g: &Global) -> &str {
    // The `__module__` of the class, where it differs from where it is imported from.
    match (g.module.as_str(), g.name.as_str()) {
        ("_collections", "deque" | "defaultdict" | "OrderedDict") => "collections",
        ("_decimal" | "_pydecimal", "Decimal") => "decimal",
        ("copy_reg", _) => "copy_reg",
        (m, _) => m,
    }
}

impl<'a> Renderer<'a> {
    /// The plain rendering of a dict key or set item, for sorting: capped at PLAIN_CAP bytes,
    /// computed once per node, and not deeper than PLAIN_DEPTH nested sorts (a hostile nesting of
    /// frozensets must cost neither the stack nor exponential time).
    fn plain(&self, id: Id) -> String {
        if let Some(s) = self.plain_cache.borrow().get(&id) {
            return s.clone();
        }
        if self.plain_depth > PLAIN_DEPTH {
            return String::new();
        }
        let s = Renderer {
            heap: self.heap,
            py2: self.py2,
            facts: self.facts,
            cap: PLAIN_CAP,
            plain_depth: self.plain_depth + 1,
            plain_cache: self.plain_cache.clone(),
            counts: None,
            labels: Vec::new(),
            nlabels: 0,
        }
        .run(id);
        self.plain_cache.borrow_mut().insert(id, s.clone());
        s
    }

    fn run(mut self, root: Id) -> String {
        let mut out = String::new();
        let mut tasks = vec![Task::Node(root)];
        while let Some(t) = tasks.pop() {
            if out.len() > self.cap {
                let mut cut = self.cap;
                while !out.is_char_boundary(cut) {
                    cut -= 1;
                }
                out.truncate(cut);
                out.push_str("!render-too-large");
                break;
            }
            match t {
                Task::Str(s) => out.push_str(s),
                Task::Owned(s) => out.push_str(&s),
                Task::Node(id) => self.node(id, &mut out, &mut tasks),
            }
        }
        out
    }

    /// Push `items` separated by ", " (in order) onto the task stack.
    fn seq(tasks: &mut Vec<Task>, open: &'static str, items: &[Id], close: &'static str) {
        tasks.push(Task::Str(close));
        for (i, &it) in items.iter().enumerate().rev() {
            tasks.push(Task::Node(it));
            if i > 0 {
                tasks.push(Task::Str(", "));
            }
        }
        tasks.push(Task::Str(open));
    }

    fn sorted(&self, items: &[Id]) -> Vec<Id> {
        let mut keyed: Vec<(String, Id)> = items.iter().map(|&i| (self.plain(i), i)).collect();
        keyed.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        keyed.into_iter().map(|(_, i)| i).collect()
    }

    fn sorted_pairs(&self, kv: &[(Id, Id)]) -> Vec<(Id, Id)> {
        let mut keyed: Vec<(String, (Id, Id))> = kv.iter().map(|&p| (self.plain(p.0), p)).collect();
        keyed.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        keyed.into_iter().map(|(_, p)| p).collect()
    }

    fn dict(tasks: &mut Vec<Task>, kv: &[(Id, Id)]) {
        tasks.push(Task::Str("}"));
        for (i, &(k, v)) in kv.iter().enumerate().rev() {
            tasks.push(Task::Node(v));
            tasks.push(Task::Str(": "));
            tasks.push(Task::Node(k));
            if i > 0 {
                tasks.push(Task::Str(", "));
            }
        }
        tasks.push(Task::Str("{"));
    }

    fn node(&mut self, id: Id, out: &mut String, tasks: &mut Vec<Task>) {
        let heap = self.heap;
        let n = heap.get(id);
        if let Some(counts) = &self.counts {
            if heap.is_mutable(id) && counts.get(id).copied().unwrap_or(0) >= 2 {
                if let Some(&l) = self.labels.get(id)
                    && l != 0
                {
                    let _ = write!(out, "#{l}#");
                    return;
                }
                self.nlabels += 1;
                let l = self.nlabels;
                if id >= self.labels.len() {
                    self.labels.resize(id + 1, 0);
                }
                self.labels[id] = l;
                let _ = write!(out, "#{l}=");
            }
        } else if let Node::Instance { class, .. } = n {
            // Plain mode: instances by class only (keys never recurse through them).
            let _ = write!(out, "<{}.{}>", class_module(class), class.name);
            return;
        }
        match n {
            Node::None => out.push_str("None"),
            Node::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
            Node::Int(v) => {
                let _ = write!(out, "{v}");
            }
            Node::Long(v) => {
                let _ = write!(out, "{v}L");
            }
            Node::Float(f) => float(out, *f),
            Node::Complex(r, i) => {
                out.push_str("complex(");
                float(out, *r);
                out.push_str(", ");
                float(out, *i);
                out.push(')');
            }
            Node::Text(t) => text(out, t),
            Node::Bytes(b) => bytes(out, b),
            Node::ByteArray(b) => {
                out.push_str("bytearray(");
                bytes(out, b);
                out.push(')');
            }
            Node::List(v) => Self::seq(tasks, "[", v, "]"),
            Node::Tuple(v) => {
                if v.len() == 1 {
                    tasks.push(Task::Str(",)"));
                    tasks.push(Task::Node(v[0]));
                    tasks.push(Task::Str("("));
                } else {
                    Self::seq(tasks, "(", v, ")");
                }
            }
            Node::Set(v) => {
                let s = self.sorted(v);
                Self::seq(tasks, "set([", &s, "])");
            }
            Node::FrozenSet(v) => {
                let s = self.sorted(v);
                Self::seq(tasks, "frozenset([", &s, "])");
            }
            Node::Dict(kv) => {
                let s = self.sorted_pairs(kv);
                Self::dict(tasks, &s);
            }
            Node::OrderedDict(kv) => {
                tasks.push(Task::Str("])"));
                for (i, &(k, v)) in kv.iter().enumerate().rev() {
                    tasks.push(Task::Str(")"));
                    tasks.push(Task::Node(v));
                    tasks.push(Task::Str(", "));
                    tasks.push(Task::Node(k));
                    tasks.push(Task::Str(if i > 0 { ", (" } else { "(" }));
                }
                tasks.push(Task::Str("collections.OrderedDict(["));
            }
            Node::DefaultDict { factory, items } => {
                let s = self.sorted_pairs(items);
                tasks.push(Task::Str(")"));
                Self::dict(tasks, &s);
                tasks.push(Task::Str(", "));
                tasks.push(Task::Node(*factory));
                tasks.push(Task::Str("collections.defaultdict("));
            }
            Node::Deque { items, maxlen } => {
                let tail = match maxlen {
                    Some(m) => format!("], maxlen={m})"),
                    None => "], maxlen=None)".to_string(),
                };
                tasks.push(Task::Owned(tail));
                Self::seq(tasks, "collections.deque([", items, "");
            }
            Node::Datetime {
                fields: f,
                tz,
                fold,
            } => {
                let _ = write!(
                    out,
                    "datetime.datetime({}, {}, {}, {}, {}, {}, {}, tz=",
                    f[0], f[1], f[2], f[3], f[4], f[5], f[6]
                );
                tasks.push(Task::Owned(format!(", fold={fold})")));
                self.tz(*tz, out, tasks);
            }
            Node::Date(f) => {
                let _ = write!(out, "datetime.date({}, {}, {})", f[0], f[1], f[2]);
            }
            Node::Time {
                fields: f,
                tz,
                fold,
            } => {
                let _ = write!(
                    out,
                    "datetime.time({}, {}, {}, {}, tz=",
                    f[0], f[1], f[2], f[3]
                );
                tasks.push(Task::Owned(format!(", fold={fold})")));
                self.tz(*tz, out, tasks);
            }
            Node::Timedelta(f) => {
                let _ = write!(out, "datetime.timedelta({}, {}, {})", f[0], f[1], f[2]);
            }
            Node::Timezone { offset, name } => {
                out.push_str("<datetime.timezone>repr=");
                let repr = timezone_repr(heap, *offset, *name, self.facts.timedelta_repr_keywords);
                text(out, repr.as_bytes());
            }
            Node::ZoneInfo { key, .. } => {
                out.push_str("<zoneinfo.ZoneInfo>repr=");
                let k = match heap.get(*key) {
                    Node::Text(t) => codec::code_points(t)
                        .map(|c| char::from_u32(c).unwrap_or('?'))
                        .collect::<String>(),
                    _ => String::new(),
                };
                text(out, format!("zoneinfo.ZoneInfo(key='{k}')").as_bytes());
            }
            Node::Decimal(s) => {
                let _ = write!(out, "decimal.Decimal('{s}')");
            }
            Node::Range([start, stop, step]) => {
                let one = num_bigint::BigInt::from(1);
                let zero = num_bigint::BigInt::from(0);
                let (cls, repr) = if self.py2 {
                    let r = if *step != one {
                        format!("xrange({start}, {stop}, {step})")
                    } else if *start == zero {
                        format!("xrange({stop})")
                    } else {
                        format!("xrange({start}, {stop})")
                    };
                    ("__builtin__.xrange", r)
                } else {
                    let r = if *step != one {
                        format!("range({start}, {stop}, {step})")
                    } else {
                        format!("range({start}, {stop})")
                    };
                    ("builtins.range", r)
                };
                let _ = write!(out, "<{cls}>repr=");
                text(out, repr.as_bytes());
            }
            Node::Global(g) => {
                let _ = write!(out, "global({})", qualified(g));
                if !global_predictable(g) {
                    out.push('?');
                }
            }
            Node::Exception { class, args, .. } => {
                let m = class_module(class);
                if matches!(m, "builtins" | "exceptions" | "__builtin__") {
                    let _ = write!(out, "<{}>", class.name);
                } else {
                    let _ = write!(out, "<{m}.{}>", class.name);
                }
                tasks.push(Task::Node(*args));
            }
            Node::Instance { class, dict }
                if !self.py2
                    && self.facts.uuid_slots
                    && class.module == "uuid"
                    && class.name == "UUID" =>
            {
                // 3.8+: UUID has __slots__, rendered by its repr (load checked the state).
                let n = dict
                    .first()
                    .and_then(|&(_, v)| match heap.get(v) {
                        Node::Int(n) => Some(n.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                let h = format!("{n:032x}");
                let repr = format!(
                    "UUID('{}-{}-{}-{}-{}')",
                    &h[..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..]
                );
                out.push_str("<uuid.UUID>repr=");
                text(out, repr.as_bytes());
            }
            Node::Instance { class, dict }
                if class.known == super::value::Known::Object && dict.is_empty() =>
            {
                // A bare `object()` (no __dict__): rendered by its repr.
                let _ = write!(out, "<{}.{}>repr=", class_module(class), class.name);
                text(out, b"<object object at 0x?>");
            }
            Node::Instance { class, dict } => {
                let _ = write!(out, "<{}.{}>", class_module(class), class.name);
                if !dict.is_empty() {
                    let s = self.sorted_pairs(dict);
                    Self::dict(tasks, &s);
                }
            }
            Node::Opaque { class, reduce } => {
                let _ = write!(out, "<{}.{}>?", class_module(class), class.name);
                // What the stream says built it: `reduce(FUNC, ARGS[, state=STATE])` or
                // `newobj(CLASS, ARGS[, state=STATE])`; the value itself stays unknown ('?').
                if let Some(r) = reduce {
                    tasks.push(Task::Str(")"));
                    if let Some(st) = r.state {
                        tasks.push(Task::Node(st));
                        tasks.push(Task::Str(", state="));
                    }
                    tasks.push(Task::Node(r.args));
                    tasks.push(Task::Str(", "));
                    tasks.push(Task::Node(r.func));
                    tasks.push(Task::Str(if r.newobj { "newobj(" } else { "reduce(" }));
                }
            }
            Node::MemoryView(_) => out.push_str("<builtins.memoryview>?"),
        }
    }

    fn tz(&mut self, tz: Option<Id>, out: &mut String, tasks: &mut Vec<Task>) {
        match tz {
            None => out.push_str("None"),
            Some(t) => tasks.push(Task::Node(t)),
        }
    }
}

fn timezone_repr(heap: &Heap, offset: Id, name: Option<Id>, keywords: bool) -> String {
    let off = match heap.get(offset) {
        Node::Timedelta(f) => *f,
        _ => [0, 0, 0],
    };
    if off == [0, 0, 0] && name.is_none() {
        return "datetime.timezone.utc".into();
    }
    let td = if keywords {
        // 3.7+ delta_repr: keyword arguments, `datetime.timedelta(0)` when all are zero.
        let mut parts = Vec::new();
        if off[0] != 0 {
            parts.push(format!("days={}", off[0]));
        }
        if off[1] != 0 {
            parts.push(format!("seconds={}", off[1]));
        }
        if off[2] != 0 {
            parts.push(format!("microseconds={}", off[2]));
        }
        if parts.is_empty() {
            parts.push("0".into());
        }
        format!("datetime.timedelta({})", parts.join(", "))
    } else if off[2] != 0 {
        // 3.6: positional (days[, seconds[, microseconds]]).
        format!("datetime.timedelta({}, {}, {})", off[0], off[1], off[2])
    } else if off[1] != 0 {
        format!("datetime.timedelta({}, {})", off[0], off[1])
    } else {
        format!("datetime.timedelta({})", off[0])
    };
    match name.map(|n| heap.get(n)) {
        Some(Node::Text(t)) => {
            let s: String = codec::code_points(t)
                .map(|c| char::from_u32(c).unwrap_or('?'))
                .collect();
            format!("datetime.timezone({td}, '{s}')")
        }
        _ => format!("datetime.timezone({td})"),
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn float(out: &mut String, f: f64) {
    let bits = f.to_bits();
    out.push_str("float(0x");
    for k in (0..16).rev() {
        out.push(HEX[((bits >> (4 * k)) & 15) as usize] as char);
    }
    out.push(')');
}

/// Printable ASCII but `\` and `'`: written as itself by `text` and `bytes`.
const fn plain_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0x20;
    while c <= 0x7e {
        t[c] = c != b'\\' as usize && c != b'\'' as usize;
        c += 1;
    }
    t
}
static PLAIN: [bool; 256] = plain_table();

/// Append the run of plain bytes at `b[*i..]` to `out`, character by character as long as `out`
/// is no longer than `stop`; false when that cut the run short (the caller stops there).
fn plain_run(out: &mut String, b: &[u8], i: &mut usize, stop: usize) -> bool {
    let start = *i;
    while *i < b.len() && PLAIN[b[*i] as usize] {
        *i += 1;
    }
    // Each character is written while out.len() <= stop before it.
    let room = (stop + 1).saturating_sub(out.len());
    let n = (*i - start).min(room);
    out.push_str(std::str::from_utf8(&b[start..start + n]).unwrap_or(""));
    n == *i - start
}

/// `u'...'`: printable ASCII but `\` and `'` as itself, everything else `\u{hex}`.
pub fn text(out: &mut String, t: &[u8]) {
    out.push_str("u'");
    let stop = out.len() + MAX_RENDER;
    out.reserve(t.len().min(MAX_RENDER) + 1);
    let mut i = 0;
    while i < t.len() {
        if out.len() > stop || !plain_run(out, t, &mut i, stop) {
            break;
        }
        if i >= t.len() || out.len() > stop {
            break;
        }
        let (cp, len) = super::dump::cp_at(t, i);
        i += len;
        out.push_str("\\u{");
        let digits = (32 - cp.leading_zeros()).div_ceil(4).max(1);
        for k in (0..digits).rev() {
            out.push(HEX[((cp >> (4 * k)) & 15) as usize] as char);
        }
        out.push('}');
    }
    out.push('\'');
}

/// `b'...'`: printable ASCII but `\` and `'` as itself, everything else `\xNN`.
pub fn bytes(out: &mut String, b: &[u8]) {
    out.push_str("b'");
    let stop = out.len() + MAX_RENDER;
    out.reserve(b.len().min(MAX_RENDER) + 1);
    let mut i = 0;
    while i < b.len() {
        if out.len() > stop || !plain_run(out, b, &mut i, stop) {
            break;
        }
        if i >= b.len() || out.len() > stop {
            break;
        }
        let c = b[i];
        i += 1;
        out.push_str("\\x");
        out.push(HEX[(c >> 4) as usize] as char);
        out.push(HEX[(c & 15) as usize] as char);
    }
    out.push('\'');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: one character at a time, with the cap checked before each.
    fn text_ref(t: &[u8]) -> String {
        let mut out = String::from("u'");
        let stop = out.len() + MAX_RENDER;
        for cp in codec::code_points(t) {
            if out.len() > stop {
                break;
            }
            if (0x20..=0x7e).contains(&cp) && cp != b'\\' as u32 && cp != b'\'' as u32 {
                out.push(cp as u8 as char);
            } else {
                let _ = write!(out, "\\u{{{cp:x}}}");
            }
        }
        out.push('\'');
        out
    }

    fn bytes_ref(b: &[u8]) -> String {
        let mut out = String::from("b'");
        let stop = out.len() + MAX_RENDER;
        for &c in b {
            if out.len() > stop {
                break;
            }
            if (0x20..=0x7e).contains(&c) && c != b'\\' && c != b'\'' {
                out.push(c as char);
            } else {
                let _ = write!(out, "\\x{c:02x}");
            }
        }
        out.push('\'');
        out
    }

    #[test]
    fn escapes_and_cap_as_char_by_char() {
        let mut cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"plain".to_vec(),
            b"a'b\\c\x00\x1f\x7f\xff".to_vec(),
            "\u{e9}\u{20ac}\u{1f600}x".as_bytes().to_vec(),
            vec![0xed, 0xa0, 0x80, b'z', 0xc3],
        ];
        // Around the cap: plain runs and escapes that cross it at every alignment.
        for tail in 0..6 {
            let mut v = vec![b'a'; MAX_RENDER - 3];
            v.extend(std::iter::repeat_n(0u8, tail));
            v.extend_from_slice(b"bcdefgh");
            cases.push(v);
        }
        cases.push(vec![0u8; MAX_RENDER / 3]);
        for c in &cases {
            let mut t = String::new();
            text(&mut t, c);
            assert_eq!(t, text_ref(c));
            let mut b = String::new();
            bytes(&mut b, c);
            assert_eq!(b, bytes_ref(c));
        }
        let mut f = String::new();
        float(&mut f, 1.5);
        assert_eq!(f, format!("float(0x{:016x})", 1.5f64.to_bits()));
    }
}
