//! Globals: `find_class` as each runtime resolves it (fix_imports, module tables, app classes,
//! `__main__`), and the type names its errors print.

#![allow(clippy::wildcard_imports)]
use super::*;

impl<'a> Vm<'a> {
    // ----- globals ------------------------------------------------------------------------

    pub(super) fn global_from_lines(&self, m: &[u8], n: &[u8]) -> R<Global> {
        if (m.is_empty() || n.is_empty()) && !self.rt.pure {
            return Err(self.truncated());
        }
        if m.is_empty() && self.rt.pure {
            // pickle.py find_class: `__import__('')`.
            return Err(Fail::Py(PyError::new("ValueError", "Empty module name")));
        }
        let dec = |b: &[u8]| -> R<String> {
            if self.py2() {
                // py2 names are byte strings; messages show each byte as that code point.
                return Ok(b.iter().map(|&c| char::from(c)).collect());
            }
            match std::str::from_utf8(b) {
                Ok(s) => Ok(s.to_string()),
                Err(_) => match codec::decode_utf8(b, Handler::Strict, "utf-8") {
                    Err(Failure::Decode(e)) => {
                        Err(Fail::Py(PyError::new("UnicodeDecodeError", e.message())))
                    }
                    _ => Ok(String::from_utf8_lossy(b).into_owned()),
                },
            }
        };
        let (m, n) = (dec(m)?, dec(n)?);
        self.find_class(&m, &n)
    }

    /// `Unpickler.find_class`: the `fix_imports` mapping (3.x, while proto < 3), the module import,
    /// then the attribute lookup (dotted names only from protocol 4).
    pub(crate) fn find_class(&self, module: &str, name: &str) -> R<Global> {
        let (mut module, mut name) = (module.to_string(), name.to_string());
        if !self.py2() && self.proto < 3 && self.cfg.options.fix_imports {
            let compat = self.rt.tables_or_nearest().compat;
            if let Some(c) = compat {
                if let Some((m2, n2)) = c.name(&module, &name) {
                    module = m2.to_string();
                    name = n2.to_string();
                } else if let Some(m2) = c.import(&module) {
                    module = m2.to_string();
                }
            }
        }
        let mut g = resolve_global(self.rt, &self.cfg.apps, &module, &name, self.proto >= 4)
            .map_err(Fail::Py)?;
        if self.py2() && g.known == Known::AppClass && self.cfg.apps.is_classic(&g) {
            g.known = Known::ClassicClass;
        }
        Ok(g)
    }
}

/// The module of a class defined in the main script (`python app.py`): pickled as
/// `c__main__\nC\n`. See [`Global::in_main_script`].
pub const MAIN_MODULE: &str = "__main__";

/// Resolve `module.name` in a runtime (after any `fix_imports` mapping): a missing module or
/// attribute raises as that runtime's `find_class` would.
pub fn resolve_global(
    rt: Runtime,
    apps: &AppClasses,
    module: &str,
    name: &str,
    dotted: bool,
) -> Result<Global, PyError> {
    let tables = rt.tables_or_nearest();
    let facts = rt.facts();
    if module == MAIN_MODULE {
        // `__main__` always exists (the reading process's main script, or the interpreter's own
        // module when there is none): never `No module named '__main__'`. Whether it holds
        // `name` depends on that process, like an application class: assumed present unless the
        // configured application classes leave it out (`--app-class __main__[.Name]`).
        // `Global::in_main_script` tells the report that the class lives in the writer's main
        // script, which a different program (a worker, a shell) reading the cache lacks.
        if !apps.name_exists(module, name) {
            return Err(missing_attribute(rt, module, name, None));
        }
        return Ok(Global {
            module: module.into(),
            name: name.into(),
            known: Known::AppClass,
        });
    }
    // `os.path` is an alias of posixpath (ntpath on Windows) that `import os.path` finds.
    let stdlib = module == "os.path"
        || tables.has_module(module)
        || module.split('.').next().is_some_and(|top| {
            tables.has_module(top)
                && module.contains('.')
                && tables.module_attr(module, name).is_some()
        });
    let missing_module = || {
        // The import walks the dotted name from the left; the first prefix that is missing
        // is what the message names (py2: the rest of the name after the last one found;
        // 3.x: that prefix, or why a present parent could not hold it).
        let parts: Vec<&str> = module.split('.').collect();
        let mut found = 0;
        let exists = |p: &str| {
            tables.has_module(p)
                || (!tables.has_module(parts[0]) && p != module && apps.module_exists(p))
        };
        while found < parts.len() && exists(&parts[..=found].join(".")) {
            found += 1;
        }
        let msg = if rt.is_py2() {
            format!(
                "No module named {}",
                parts[found.min(parts.len() - 1)..].join(".")
            )
        } else {
            let upto = found.min(parts.len() - 1);
            let missing = parts[..=upto].join(".");
            if upto > 0 {
                let parent = parts[..upto].join(".");
                let prefix = format!("{parent}.");
                // `os` is a module (os.path is set by hand in sys.modules).
                let is_package = parent != "os"
                    && (tables.modules.iter().any(|m| m.starts_with(&prefix))
                        || !tables.has_module(parts[0]));
                if is_package {
                    format!("No module named '{missing}'")
                } else {
                    format!("No module named '{missing}'; '{parent}' is not a package")
                }
            } else {
                format!("No module named '{missing}'")
            }
        };
        PyError::new(facts.module_not_found, msg)
    };
    if !stdlib {
        // Not in the stdlib: an application module (an assumption), unless the top-level name is
        // a stdlib package that lacks this submodule.
        let top = module.split('.').next().unwrap_or(module);
        if module.contains('.') && tables.has_module(top) {
            return Err(missing_module());
        }
        // A standard-library module of another runtime (zoneinfo before 3.9, distutils after
        // 3.11) is missing here, not an application module.
        if generated::RUNTIMES
            .iter()
            .any(|t| t.has_module(module) || t.has_module(top))
        {
            return Err(missing_module());
        }
        if module.is_empty() || !apps.module_exists(module) {
            return Err(missing_module());
        }
        if !apps.name_exists(module, name) {
            return Err(missing_attribute(rt, module, name, None));
        }
        return Ok(Global {
            module: module.into(),
            name: name.into(),
            known: Known::AppClass,
        });
    }
    let lookup_name = name;
    // An empty name never exists; nor, on py2, a non-ASCII one (not an identifier there).
    let exists = if name.is_empty()
        || (rt.is_py2() && !name.is_ascii())
        || (name.contains('.') && !dotted)
    {
        Some(false)
    } else if name.contains('.') {
        // Dotted names (protocol 4+): check the first part only.
        tables.module_attr(module, name.split('.').next().unwrap_or(name))
    } else {
        tables.module_attr(module, lookup_name)
    };
    if exists == Some(false) {
        if dotted && name.contains('.') && facts.find_class_plain_getattr {
            return Err(PyError::new(
                "AttributeError",
                format!("Can't resolve path '{name}' on module '{module}'"),
            ));
        }
        return Err(missing_attribute(
            rt,
            module,
            name,
            tables.module_repr(module),
        ));
    }
    // 3.3+: IOError and EnvironmentError are other names of OSError (its __name__).
    let name =
        if !rt.is_py2() && module == "builtins" && matches!(name, "IOError" | "EnvironmentError") {
            "OSError"
        } else {
            name
        };
    Ok(Global {
        module: module.into(),
        name: name.into(),
        known: known_global(rt, module, name),
    })
}

/// The standard library directory of a runtime, as `repr(module)` prints it: CPython prints the
/// file the module was imported from, under the reader's installation (`sys.prefix`, e.g.
/// `/usr` or `~/.pyenv/versions/3.8.18`), which no pickle carries. The models print the POSIX
/// layout with `<prefix>` standing for it, as the corpus oracle scrubs the real paths.
pub fn stdlib_dir(rt: Runtime) -> String {
    format!("<prefix>/lib/python{}.{}", rt.major, rt.minor)
}

pub(super) fn missing_attribute(
    rt: Runtime,
    module: &str,
    name: &str,
    repr: Option<&str>,
) -> PyError {
    if rt.facts().find_class_plain_getattr {
        // 3.14: find_class lets getattr's error through; a dotted name (protocol 4+) that does
        // not resolve is `Can't resolve path`.
        return PyError::new(
            "AttributeError",
            format!("module '{module}' has no attribute '{name}'"),
        );
    }
    if rt.is_py2() {
        // cPickle and pickle.py both let getattr's error through.
        return PyError::new(
            "AttributeError",
            format!("'module' object has no attribute '{name}'"),
        );
    }
    // A curated stdlib module: its real file under the stdlib directory. Any other module (an
    // application module): where it is installed is the application's, so the path names it.
    let repr = repr
        .map(|r| r.replace("{path}", &stdlib_dir(rt)))
        .unwrap_or_else(|| format!("<module '{module}' from '<path of {module}>'>"));
    PyError::new(
        "AttributeError",
        format!("Can't get attribute '{name}' on {repr}"),
    )
}

/// What the models know a resolved global to be.
pub(super) fn known_global(rt: Runtime, module: &str, name: &str) -> Known {
    let builtins = if rt.is_py2() {
        "__builtin__"
    } else {
        "builtins"
    };
    if module == builtins {
        return match name {
            "set" => Known::Set,
            "frozenset" => Known::FrozenSet,
            "bytearray" => Known::ByteArray,
            "bytes" if !rt.is_py2() => Known::Bytes,
            "bytes" | "str" if rt.is_py2() => Known::Bytes,
            "str" => Known::Str,
            "unicode" => Known::Unicode,
            "int" => Known::Int,
            "long" => Known::Long,
            "float" => Known::Float,
            "complex" => Known::Complex,
            "list" => Known::List,
            "tuple" => Known::Tuple,
            "dict" => Known::Dict,
            "object" => Known::Object,
            "getattr" => Known::Getattr,
            "range" if !rt.is_py2() => Known::Range,
            "xrange" if rt.is_py2() => Known::Range,
            n if is_exception_name(n) => Known::Exception,
            _ => Known::Other,
        };
    }
    if rt.is_py2() && module == "exceptions" && is_exception_name(name) {
        return Known::Exception;
    }
    match (module, name) {
        ("_codecs", "encode") => Known::CodecsEncode,
        ("copy_reg", "_reconstructor") if rt.is_py2() => Known::Reconstructor,
        ("copyreg", "_reconstructor") if !rt.is_py2() => Known::Reconstructor,
        ("copy_reg", "__newobj__") if rt.is_py2() => Known::NewObj,
        ("copyreg", "__newobj__") if !rt.is_py2() => Known::NewObj,
        ("datetime", "datetime") => Known::Datetime,
        ("datetime", "date") => Known::Date,
        ("datetime", "time") => Known::Time,
        ("datetime", "timedelta") => Known::Timedelta,
        ("datetime", "timezone") => Known::Timezone,
        // Rebuilt from a state dict like a plain class (NEWOBJ + BUILD {'int': N}).
        ("uuid", "UUID") => Known::AppClass,
        ("decimal", "Decimal") | ("_decimal", "Decimal") | ("_pydecimal", "Decimal") => {
            Known::Decimal
        }
        ("collections", "OrderedDict") => Known::OrderedDict,
        ("array", "array") => Known::Array,
        ("fractions", "Fraction") => Known::Fraction,
        ("collections", "defaultdict") | ("_collections", "defaultdict") => Known::DefaultDict,
        ("collections", "deque") | ("_collections", "deque") => Known::Deque,
        _ => Known::Other,
    }
}

/// Whether a resolved global is a class (NEWOBJ accepts only types). For names the models do not
/// know, builtins' lowercase names are functions and other names starting with a capital letter
/// are classes (the PEP 8 convention; application classes are assumed to be classes).
pub fn is_type(g: &Global) -> bool {
    match g.known {
        Known::CodecsEncode | Known::Reconstructor | Known::NewObj => false,
        Known::Other => {
            if g.module == "builtins" || g.module == "__builtin__" {
                BUILTIN_TYPES.contains(&g.name.as_str())
            } else {
                g.name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_uppercase())
            }
        }
        _ => true,
    }
}

pub(super) const BUILTIN_TYPES: &[&str] = &[
    "bool",
    "bytearray",
    "bytes",
    "classmethod",
    "complex",
    "dict",
    "enumerate",
    "filter",
    "float",
    "frozenset",
    "int",
    "list",
    "map",
    "memoryview",
    "object",
    "property",
    "range",
    "reversed",
    "set",
    "slice",
    "staticmethod",
    "str",
    "super",
    "tuple",
    "type",
    "zip",
    "basestring",
    "buffer",
    "file",
    "long",
    "unicode",
    "xrange",
];

pub(super) fn is_exception_name(n: &str) -> bool {
    n.ends_with("Error")
        || n.ends_with("Exception")
        || n.ends_with("Warning")
        || matches!(
            n,
            "KeyboardInterrupt"
                | "SystemExit"
                | "GeneratorExit"
                | "StopIteration"
                | "StopAsyncIteration"
        )
}

/// The Python type name of a value, as error messages print it.
pub fn type_name(n: &Node, py2: bool) -> String {
    match n {
        Node::None => "NoneType".into(),
        Node::Bool(_) => "bool".into(),
        Node::Int(_) => "int".into(),
        Node::Long(_) => "long".into(),
        Node::Float(_) => "float".into(),
        Node::Complex(..) => "complex".into(),
        Node::Bytes(_) => if py2 { "str" } else { "bytes" }.into(),
        Node::Text(_) => if py2 { "unicode" } else { "str" }.into(),
        Node::ByteArray(_) => "bytearray".into(),
        Node::List(_) => "list".into(),
        Node::Tuple(_) => "tuple".into(),
        Node::Dict(_) => "dict".into(),
        Node::Set(_) => "set".into(),
        Node::FrozenSet(_) => "frozenset".into(),
        Node::OrderedDict(_) => "collections.OrderedDict".into(),
        Node::DefaultDict { .. } => "collections.defaultdict".into(),
        Node::Deque { .. } => "collections.deque".into(),
        Node::Datetime { .. } => "datetime.datetime".into(),
        Node::Date(_) => "datetime.date".into(),
        Node::Time { .. } => "datetime.time".into(),
        Node::Timedelta(_) => "datetime.timedelta".into(),
        Node::Timezone { .. } => "datetime.timezone".into(),
        Node::ZoneInfo { .. } => "zoneinfo.ZoneInfo".into(),
        Node::Decimal(_) => "decimal.Decimal".into(),
        Node::Range(_) => if py2 { "xrange" } else { "range" }.into(),
        Node::Global(g) => if is_type(g) {
            "type"
        } else {
            "builtin_function_or_method"
        }
        .into(),
        Node::Exception { class, .. }
        | Node::Instance { class, .. }
        | Node::Opaque { class, .. } => class.name.clone(),
        Node::MemoryView(_) => "memoryview".into(),
    }
}
