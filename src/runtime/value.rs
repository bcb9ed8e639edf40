//! The value a runtime gets from a pickle: a graph (shared references and cycles are kept) in that
//! runtime's type system, held in an arena so that nothing walks it recursively.

use num_bigint::BigInt;

/// Index of a node in a [`Heap`].
pub type Id = usize;

/// A class or function reference, after the runtime resolved it (`find_class`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    /// The module and name as the runtime imported them (after `fix_imports` mapping).
    pub module: String,
    pub name: String,
    /// What the models know the object to be.
    pub known: Known,
}

impl Global {
    /// The class (or function) lives in `__main__`: the writer's main script. It is treated as
    /// an application class (assumed present where the value is loaded, unless the configured
    /// application classes leave it out), but it exists only in a process whose main script
    /// defines it: a worker, a shell or a different entry point reading the same cache gets an
    /// `AttributeError` (`Can't get attribute 'C' on <module '__main__' ...>`). A report can
    /// flag such values from the loaded heap (`Node::Global`, `Reduce` callables and instance
    /// classes carry their `Global`).
    pub fn in_main_script(&self) -> bool {
        self.module == "__main__"
    }
}

/// The callables and classes whose behaviour on load the models know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Known {
    Set,
    FrozenSet,
    ByteArray,
    Bytes,
    /// py2 `str` / py3 `str` as a callable (rare).
    Str,
    Unicode,
    Int,
    Long,
    Float,
    Complex,
    List,
    Tuple,
    Dict,
    Object,
    Range,
    CodecsEncode,
    Reconstructor,
    NewObj,
    Datetime,
    Date,
    Time,
    Timedelta,
    Timezone,
    Decimal,
    OrderedDict,
    DefaultDict,
    Deque,
    /// `array.array` (its value is not modelled).
    Array,
    /// `fractions.Fraction` (its value is not modelled).
    Fraction,
    /// `builtins.getattr`, which pickles reach bound methods through.
    Getattr,
    /// `zoneinfo.ZoneInfo._unpickle` (what `getattr(ZoneInfo, '_unpickle')` gives).
    ZoneInfoUnpickle,
    /// An exception class of the standard library.
    Exception,
    /// An application class (its module is not in the standard library), assumed importable and
    /// plain: instances get a `__dict__`.
    AppClass,
    /// An application class that is classic (old-style) in this py2 runtime (a stated
    /// assumption): built by INST/OBJ, pickled by cPickle's `save_inst`.
    ClassicClass,
    /// A name that exists but whose behaviour is not modelled.
    Other,
}

/// One loaded object.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Node {
    None,
    Bool(bool),
    /// py3 `int`, py2 `int`.
    Int(BigInt),
    /// py2 `long`.
    Long(BigInt),
    Float(f64),
    Complex(f64, f64),
    /// py3 `bytes`, py2 `str`.
    Bytes(Vec<u8>),
    /// py3 `str`, py2 `unicode`, in generalized UTF-8 (see `codec`).
    Text(Vec<u8>),
    ByteArray(Vec<u8>),
    List(Vec<Id>),
    Tuple(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Set(Vec<Id>),
    FrozenSet(Vec<Id>),
    OrderedDict(Vec<(Id, Id)>),
    DefaultDict {
        factory: Id,
        items: Vec<(Id, Id)>,
    },
    Deque {
        items: Vec<Id>,
        maxlen: Option<i64>,
    },
    Datetime {
        fields: [i64; 7],
        tz: Option<Id>,
        fold: u8,
    },
    Date([i64; 3]),
    Time {
        fields: [i64; 4],
        tz: Option<Id>,
        fold: u8,
    },
    Timedelta([i64; 3]),
    /// `datetime.timezone(offset, name)`; offset is a Timedelta node.
    Timezone {
        offset: Id,
        name: Option<Id>,
    },
    /// `zoneinfo.ZoneInfo` (3.9+): its key (a Text node) and `_from_cache` flag.
    ZoneInfo {
        key: Id,
        from_cache: i64,
    },
    /// `decimal.Decimal`, as its `str()`.
    Decimal(String),
    /// py3 `range` / py2 `xrange`, as start, stop, step.
    Range([BigInt; 3]),
    /// A class or function object.
    Global(Global),
    /// An exception instance: its class, `args` (a Tuple node) and the attributes BUILD set
    /// (its `__dict__`, which `__reduce__` writes back; the rendering shows `args` only).
    Exception {
        class: Global,
        args: Id,
        dict: Vec<(Id, Id)>,
    },
    /// An instance of a plain class: its `__dict__` as key/value pairs.
    Instance {
        class: Global,
        dict: Vec<(Id, Id)>,
    },
    /// An object whose construction the models do not know; the load is assumed to succeed but
    /// the value is not predicted. What the stream says about it is kept in `reduce`.
    Opaque {
        class: Global,
        reduce: Option<Reduce>,
    },
    /// `memoryview` (READONLY_BUFFER on a bytearray).
    MemoryView(Id),
}

/// How the stream built an object the models cannot evaluate: `func(*args)` (REDUCE) or
/// `cls.__new__(cls, *args)` (NEWOBJ), then BUILD with `state`. The value is unknown; these are
/// known exactly (and are what a class with its own `__reduce__` writes back).
#[derive(Debug, Clone, PartialEq)]
pub struct Reduce {
    /// The callable or class (a Global node).
    pub func: Id,
    /// The arguments (a Tuple node).
    pub args: Id,
    pub newobj: bool,
    pub state: Option<Id>,
}

/// Where a node came from in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Origin {
    /// The opcode that made it (0 where none did, e.g. a reconstructed value).
    pub opcode: u8,
    /// Its offset.
    pub pos: usize,
}

/// The arena.
#[derive(Debug, Clone, Default)]
pub struct Heap {
    pub nodes: Vec<Node>,
    pub origins: Vec<Origin>,
}

impl Heap {
    pub fn push(&mut self, node: Node, origin: Origin) -> Id {
        self.nodes.push(node);
        self.origins.push(origin);
        self.nodes.len() - 1
    }

    pub fn get(&self, id: Id) -> &Node {
        &self.nodes[id]
    }

    pub fn get_mut(&mut self, id: Id) -> &mut Node {
        &mut self.nodes[id]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The children of a node, in rendering order (dict keys before values).
    pub fn children(&self, id: Id) -> Vec<Id> {
        match &self.nodes[id] {
            Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => v.clone(),
            Node::Deque { items, .. } => items.clone(),
            Node::Dict(kv) | Node::OrderedDict(kv) | Node::Instance { dict: kv, .. } => {
                kv.iter().flat_map(|&(k, v)| [k, v]).collect()
            }
            Node::DefaultDict { factory, items } => std::iter::once(*factory)
                .chain(items.iter().flat_map(|&(k, v)| [k, v]))
                .collect(),
            Node::Datetime { tz: Some(t), .. } | Node::Time { tz: Some(t), .. } => vec![*t],
            Node::Timezone { offset, name } => std::iter::once(*offset).chain(*name).collect(),
            Node::ZoneInfo { key, .. } => vec![*key],
            Node::Exception { args, dict, .. } => std::iter::once(*args)
                .chain(dict.iter().flat_map(|&(k, v)| [k, v]))
                .collect(),
            Node::MemoryView(x) => vec![*x],
            Node::Opaque {
                reduce: Some(r), ..
            } => [r.func, r.args].into_iter().chain(r.state).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether a node is a mutable object (labels in the canonical rendering; identity matters).
    pub fn is_mutable(&self, id: Id) -> bool {
        matches!(
            self.nodes[id],
            Node::List(_)
                | Node::Dict(_)
                | Node::Set(_)
                | Node::ByteArray(_)
                | Node::OrderedDict(_)
                | Node::DefaultDict { .. }
                | Node::Deque { .. }
                | Node::Instance { .. }
                | Node::Opaque { .. }
                | Node::Exception { .. }
                // Rendered by the "any other instance" rule, so labelled when shared.
                | Node::Timezone { .. }
                | Node::ZoneInfo { .. }
                | Node::Range(_)
                | Node::MemoryView(_)
        )
    }
}
