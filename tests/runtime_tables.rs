//! `src/runtime/generated.rs` must match what `tools/gen_runtime_tables.py` produces from
//! the real interpreters today, and must hold a few well-known facts.

use std::path::{Path, PathBuf};
use std::process::Command;

use cache_compat::runtime::generated::{self, RuntimeTables};

/// pyenv versions the generator probes (keep in step with `RUNTIMES` in the generator). 3.14 is
/// Pyodide (CPython 3.14 in WebAssembly) under Node.js, which the generator runs through
/// tools/pyodide/run.mjs (installed into target/pyodide by .ci/test-all); 3.15 is CPython 3.15.2
/// from Debian's packages, run by target/debian-py/bin/python3.15 (tools/debian-py/install.sh).
const VERSIONS: &[&str] = &[
    "2.7.18", "3.6.15", "3.7.16", "3.8.18", "3.9.18", "3.10.13", "3.11.7", "3.12.1", "3.13.0",
];

/// `$PYENV_ROOT`, else `pyenv root`, else `~/.pyenv` (the generator's rule).
fn pyenv_root() -> PathBuf {
    if let Some(root) = std::env::var_os("PYENV_ROOT").filter(|r| !r.is_empty()) {
        return PathBuf::from(root);
    }
    if let Ok(out) = Command::new("pyenv").arg("root").output() {
        let root = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !root.is_empty() {
            return PathBuf::from(root);
        }
    }
    let home = std::env::var_os("HOME").expect("HOME is not set and no pyenv root was found");
    Path::new(&home).join(".pyenv")
}

fn interpreter(root: &Path, version: &str) -> PathBuf {
    root.join("versions")
        .join(version)
        .join("bin")
        .join("python")
}

#[test]
fn generated_file_matches_the_interpreters() {
    let root = pyenv_root();
    let missing: Vec<String> = VERSIONS
        .iter()
        .map(|v| interpreter(&root, v))
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "cannot check src/runtime/generated.rs against the real interpreters: missing {}",
        missing.join(", ")
    );

    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let committed_path = manifest.join("src/runtime/generated.rs");
    let out = std::env::temp_dir().join(format!(
        "runtime_tables_{}_{}.rs",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    // Any python3 can run the generator; use one of the probed interpreters so the test
    // does not depend on what `python3` means on PATH.
    let runner = interpreter(&root, "3.13.0");
    let result = Command::new(&runner)
        .arg(manifest.join("tools/gen_runtime_tables.py"))
        .arg("--out")
        .arg(&out)
        .arg("--pyenv-root")
        .arg(&root)
        .current_dir(manifest)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", runner.display()));
    assert!(
        result.status.success(),
        "tools/gen_runtime_tables.py failed ({}):\n{}",
        result.status,
        String::from_utf8_lossy(&result.stderr)
    );
    let fresh = std::fs::read_to_string(&out).expect("generator wrote no output");
    let _ = std::fs::remove_file(&out);
    let committed = std::fs::read_to_string(&committed_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", committed_path.display()));
    if fresh != committed {
        let (line, a, b) = fresh
            .lines()
            .zip(committed.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| (i + 1, a.to_string(), b.to_string()))
            .unwrap_or((
                fresh.lines().count().min(committed.lines().count()) + 1,
                "<end or extra lines>".into(),
                "<end or extra lines>".into(),
            ));
        panic!(
            "src/runtime/generated.rs is stale (first difference at line {line}):\n  \
             generated: {a}\n  committed: {b}\n\
             regenerate with: python3 tools/gen_runtime_tables.py"
        );
    }
}

fn rt(name: &str) -> &'static RuntimeTables {
    generated::tables(name).unwrap_or_else(|| panic!("no runtime {name}"))
}

#[test]
fn runtimes_are_listed_in_order() {
    let names: Vec<&str> = generated::RUNTIMES.iter().map(|r| r.name).collect();
    assert_eq!(
        names,
        [
            "2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15"
        ]
    );
    assert!(
        generated::tables("3.15")
            .unwrap()
            .version
            .starts_with("3.15.2 ")
    );
    assert!(generated::tables("3.16").is_none());
    for r in generated::RUNTIMES {
        assert!(r.version.starts_with(r.name), "{} vs {}", r.name, r.version);
        assert!(
            r.modules.windows(2).all(|w| w[0] < w[1]),
            "{} modules unsorted",
            r.name
        );
        assert!(r.module_names.windows(2).all(|w| w[0].0 < w[1].0));
        for m in r.module_names {
            assert!(
                m.2.windows(2).all(|w| w[0] < w[1]),
                "{} {} unsorted",
                r.name,
                m.0
            );
        }
        assert!(r.opcodes.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(r.compat.is_some(), r.name != "2.7");
    }
}

#[test]
fn protocols() {
    assert_eq!(rt("3.13").highest_protocol, 5);
    assert_eq!(rt("3.13").default_protocol, 4);
    assert_eq!(rt("3.14").highest_protocol, 5);
    assert_eq!(rt("3.14").default_protocol, 5);
    assert_eq!(rt("3.15").highest_protocol, 5);
    assert_eq!(rt("3.15").default_protocol, 5);
    assert_eq!(rt("3.6").highest_protocol, 4);
    assert_eq!(rt("3.6").default_protocol, 3);
    assert_eq!(rt("2.7").highest_protocol, 2);
    assert_eq!(rt("2.7").default_protocol, 0);
    assert_eq!(rt("2.7").opcodes.len(), 53);
    assert_eq!(rt("3.7").opcodes.len(), 65);
    assert_eq!(rt("3.8").opcodes.len(), 68);
    assert_eq!(rt("3.8").opcode_protocol(0x96), Some(5));
    assert_eq!(rt("3.7").opcode_protocol(0x96), None);
    assert_eq!(rt("2.7").opcode_protocol(b'c'), Some(0));
}

#[test]
fn compat_tables() {
    let c = rt("3.8").compat.unwrap();
    assert_eq!(c.name("__builtin__", "unicode"), Some(("builtins", "str")));
    assert_eq!(c.import("__builtin__"), Some("builtins"));
    assert_eq!(c.import("copy_reg"), Some("copyreg"));
    assert_eq!(c.reverse_import("builtins"), Some("__builtin__"));
    assert_eq!(
        c.reverse_name("builtins", "str"),
        Some(("__builtin__", "unicode"))
    );
    assert_eq!(c.name("__builtin__", "nosuch"), None);

    let (c12, c13) = (rt("3.12").compat.unwrap(), rt("3.13").compat.unwrap());
    assert_eq!(c12.import("Tix"), Some("tkinter.tix"));
    assert_eq!(c13.import("Tix"), None);
    assert_eq!(c12.reverse_import("tkinter.tix"), Some("Tix"));
    assert_eq!(c13.reverse_import("tkinter.tix"), None);
    // 3.6 to 3.12 share one table set.
    assert!(std::ptr::eq(rt("3.6").compat.unwrap(), c12));
    assert!(!std::ptr::eq(c13, c12));
    assert!(std::ptr::eq(generated::compat_tables("3.13").unwrap(), c13));
    assert!(generated::compat_tables("2.7").is_none());
    // 3.15 dropped CGIHTTPServer (http.server.CGIHTTPRequestHandler is gone): checked on 3.15.2,
    // where `pickle.loads(b'cCGIHTTPServer\nCGIHTTPRequestHandler\n.')` raises
    // ModuleNotFoundError and 3.13 loads the class.
    let c15 = rt("3.15").compat.unwrap();
    assert_eq!(c13.import("CGIHTTPServer"), Some("http.server"));
    assert_eq!(c15.import("CGIHTTPServer"), None);
    assert_eq!(c15.import("copy_reg"), Some("copyreg"));
}

#[test]
fn modules() {
    assert!(!rt("2.7").has_module("asyncio"));
    assert!(rt("3.6").has_module("asyncio"));
    // 3.14: Pyodide leaves out dbm (and curses, pwd, ...); the generator takes them from 3.13.
    // 3.15: Debian ships dbm.ndbm's _dbm apart; the generator takes it from 3.14.
    for r in ["3.6", "3.13", "3.14", "3.15"] {
        for m in [
            "xml.etree.ElementTree",
            "http.client",
            "dbm.ndbm",
            "collections.abc",
        ] {
            assert!(rt(r).has_module(m), "{r} {m}");
        }
        assert!(rt(r).has_module("builtins") && rt(r).has_module("posix"));
        assert!(!rt(r).has_module("test.test_pickle") && !rt(r).has_module("idlelib"));
        assert!(rt(r).has_module("test.support"));
    }
    assert!(rt("2.7").has_module("copy_reg") && rt("2.7").has_module("Tkinter"));
    assert!(rt("2.7").has_module("test.test_support"));
    assert!(!rt("3.8").has_module("zoneinfo") && rt("3.9").has_module("zoneinfo"));
    assert!(!rt("3.12").has_module("distutils") && rt("3.11").has_module("distutils"));
    assert!(rt("3.8").is_importable("json") && !rt("3.8").is_importable("nosuch"));
    assert!(!rt("3.8").is_importable("asyncio.windows_events"));
    // sre_compile, sre_constants and sre_parse: deprecated aliases up to 3.14, gone in 3.15
    // (3.15.2: `import sre_compile` raises ModuleNotFoundError).
    for m in ["sre_compile", "sre_constants", "sre_parse"] {
        assert!(rt("3.14").is_importable(m), "{m}");
        assert!(!rt("3.15").has_module(m), "{m}");
    }
}

#[test]
fn module_attributes() {
    assert_eq!(rt("2.7").module_attr("datetime", "timezone"), Some(false));
    assert_eq!(rt("3.8").module_attr("datetime", "timezone"), Some(true));
    assert_eq!(rt("3.8").module_attr("nosuchmod", "x"), None);
    assert_eq!(rt("2.7").module_attr("__builtin__", "unicode"), Some(true));
    assert_eq!(rt("3.13").module_attr("builtins", "unicode"), Some(false));
    assert_eq!(
        rt("2.7").module_attr("copy_reg", "_reconstructor"),
        Some(true)
    );
    assert_eq!(rt("3.6").module_attr("copyreg", "__newobj__"), Some(true));
    // collections.Mapping: plain attribute in 3.6, module __getattr__ in 3.7-3.9, gone in 3.10.
    assert_eq!(rt("3.6").module_attr("collections", "Mapping"), Some(true));
    assert_eq!(rt("3.9").module_attr("collections", "Mapping"), Some(true));
    assert_eq!(
        rt("3.10").module_attr("collections", "Mapping"),
        Some(false)
    );
    assert_eq!(
        rt("3.8").module_repr("builtins"),
        Some("<module 'builtins' (built-in)>")
    );
    assert_eq!(
        rt("3.8").module_repr("collections"),
        Some("<module 'collections' from '{path}/collections/__init__.py'>")
    );
    assert_eq!(rt("3.13").module_repr("os"), Some("<module 'os' (frozen)>"));
    assert_eq!(rt("3.14").module_repr("os"), Some("<module 'os' (frozen)>"));
    assert_eq!(rt("3.15").module_repr("os"), Some("<module 'os' (frozen)>"));
}

/// The hand-stated facts of `runtime::Facts` that the generated tables also hold, for every
/// runtime an interpreter here runs (3.14: Pyodide; 3.15: Debian's 3.15.2).
#[test]
fn facts_agree_with_the_tables() {
    use cache_compat::runtime::Runtime;
    for t in generated::RUNTIMES {
        let r = Runtime::parse(t.name).expect("runtime name");
        let f = r.facts();
        assert_eq!(f.highest_protocol, t.highest_protocol, "{}", t.name);
        assert_eq!(f.default_protocol, t.default_protocol, "{}", t.name);
        // 3.14: find_class lets getattr's AttributeError through.
        assert_eq!(
            f.find_class_plain_getattr,
            t.c_loader.missing_attribute.message == "module '{module}' has no attribute '{name}'",
            "{}: {:?}",
            t.name,
            t.c_loader.missing_attribute
        );
    }
}

#[test]
fn loader_error_templates() {
    let r = rt("3.13");
    assert_eq!(r.c_loader.implementation, "_pickle");
    assert_eq!(r.c_loader.missing_module.exception, "ModuleNotFoundError");
    assert_eq!(
        r.c_loader.missing_attribute.message,
        "Can't get attribute '{name}' on {repr}"
    );
    assert_eq!(
        r.py_loader.missing_attribute.message,
        "module '{module}' has no attribute '{name}'"
    );
    let r = rt("2.7");
    assert_eq!(r.c_loader.implementation, "cPickle");
    assert_eq!(r.py_loader.missing_module.exception, "ImportError");
    assert_eq!(
        r.py_loader.missing_module.message,
        "No module named {missing_tail}"
    );
}
