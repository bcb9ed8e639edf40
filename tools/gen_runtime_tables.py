#!/usr/bin/env python3
"""Generate src/runtime/generated.rs from the real CPython interpreters.

Usage:
    python3 tools/gen_runtime_tables.py [--out PATH] [--pyenv-root DIR]

Every fact in the output comes from running small probe scripts inside each
interpreter (found under $PYENV_ROOT, else `pyenv root`, else ~/.pyenv; 3.14 is Pyodide,
run by Node.js through tools/pyodide/run.mjs, see PYODIDE below).
Nothing is typed by hand. The output is deterministic and rustfmt-clean.

If an interpreter is missing, the script fails, naming every missing path.
"""

import argparse
import concurrent.futures
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile

# (runtime name, pyenv version directory)
RUNTIMES = [
    ("2.7", "2.7.18"),
    ("3.6", "3.6.15"),
    ("3.7", "3.7.16"),
    ("3.8", "3.8.18"),
    ("3.9", "3.9.18"),
    ("3.10", "3.10.13"),
    ("3.11", "3.11.7"),
    ("3.12", "3.12.1"),
    ("3.13", "3.13.0"),
    ("3.14", "pyodide"),
    ("3.15", "debian"),
]

# 3.15 is CPython 3.15.2 from Debian's packages (python3.15-minimal, libpython3.15-minimal,
# libpython3.15-stdlib 3.15.2-1, pinned in tools/debian-py/3.15.lock), a native x86-64 Linux build
# installed by .ci/test-all (tools/debian-py/install.sh) into target/debian-py and run by the
# wrapper target/debian-py/bin/python3.15. Debian ships some of the stdlib in packages of their
# own (tkinter, turtle, idlelib, ensurepip, dbm.gnu/dbm.ndbm, the test suite): like Pyodide's
# missing modules, those are taken from the native stand-in (debian_native()).
DEBIAN = "debian"
DEBIAN_WRAPPER = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "target", "debian-py", "bin"
)
# The runtime whose module tables stand in for the modules Debian's packages leave out: 3.14
# (itself completed from 3.13 where Pyodide leaves modules out).
DEBIAN_NATIVE_STAND_IN = "3.14"

# 3.14 is Pyodide 314.0.7 (CPython 3.14.2 compiled to WebAssembly, with the real C _pickle),
# run by Node.js through tools/pyodide/run.mjs (pyodide installed by .ci/test-all into
# target/pyodide). It cannot fork: the probes that fork a fresh interpreter per module start a
# fresh Pyodide per module instead. Its platform differs from a native Linux build; see
# pyodide_native() for how the module tables are made to describe a native 3.14.
PYODIDE = "pyodide"
PYODIDE_RUNNER = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools", "pyodide", "run.mjs"
)
# The native runtime whose module tables stand in for modules Pyodide leaves out.
PYODIDE_NATIVE_STAND_IN = "3.13"
# Modules below a top-level name Pyodide keeps that it leaves out all the same (pure-Python
# fallbacks of C modules, the os.path frozen alias, the test package and the C test modules,
# which it ships apart): taken from the stand-in like whole top-level names (pyodide_native).
# Stated by hand, from what Pyodide's stdlib zip lacks that CPython 3.14's Lib/ has; not probed.
PYODIDE_LEAVES_OUT = [
    "collections.abc", "zoneinfo._zoneinfo", "os.path", "test", "test.*", "_ctypes_test",
    "_testimportmultiple", "_testmultiphase", "_testsinglephase", "xxlimited", "xxlimited_35",
]
# Modules below a top-level name Debian keeps that its packages leave out all the same: as
# Pyodide's (the test suite, the C test modules), and ctypes.macholib (macOS only). Stated by hand,
# from what Debian's 3.14.10 and 3.15.2 stdlib directories lack that CPython's Lib/ has
# (ctypes/macholib is in pyenv's 3.13.0 and in Pyodide's 3.14, in neither Debian build); not probed.
DEBIAN_LEAVES_OUT = PYODIDE_LEAVES_OUT + ["ctypes.macholib", "ctypes.macholib.*"]

# Modules that cached pickles commonly reference. Those that do not import
# in a runtime are left out of that runtime's table.
CURATED_MODULES = sorted(
    set(
        """
        builtins __builtin__ exceptions copyreg copy_reg collections collections.abc
        _collections _collections_abc _abcoll datetime _datetime decimal _decimal cdecimal
        _codecs codecs functools _functools fractions uuid array operator _operator
        itertools enum re types pathlib ipaddress numbers zoneinfo time calendar io _io
        os posix subprocess sys pickle _pickle cPickle copy weakref _weakref random
        _random string struct _struct json urlparse urllib urllib.parse email.message math
        UserDict UserList UserString StringIO cStringIO sets
        """.split()
    )
)

# Never trial-imported (importing them has visible side effects); assumed importable.
TRIAL_IMPORT_DENYLIST_TOP = {"antigravity", "this", "idlelib"}

OUT_DEFAULT = os.path.join("src", "runtime", "generated.rs")
MAX_WIDTH = 100

# --------------------------------------------------------------------------------------
# Probe scripts (must run unchanged on Python 2.7 and 3.6+).
# --------------------------------------------------------------------------------------

INFO_PROBE = r'''
import sys, os
PY2 = sys.version_info[0] == 2
import pickle, pickletools, json

out = {}
out["version"] = sys.version.splitlines()[0].rstrip()
out["highest"] = pickle.HIGHEST_PROTOCOL
# The protocol `dumps` uses without a protocol argument, read from its output.
d = pickle.dumps([])
if d[:1] == b"\x80":
    dumps_default = ord(d[1:2])
elif d[:1] == b"]":
    dumps_default = 1
else:
    dumps_default = 0
out["dumps_default"] = dumps_default
out["default_attr"] = getattr(pickle, "DEFAULT_PROTOCOL", None)
out["opcodes"] = sorted([ord(op.code), op.proto] for op in pickletools.opcodes)

if not PY2:
    import _compat_pickle as cp
    out["compat"] = {
        "IMPORT_MAPPING": sorted([k, v] for k, v in cp.IMPORT_MAPPING.items()),
        "NAME_MAPPING": sorted([list(k), list(v)] for k, v in cp.NAME_MAPPING.items()),
        "REVERSE_IMPORT_MAPPING": sorted([k, v] for k, v in cp.REVERSE_IMPORT_MAPPING.items()),
        "REVERSE_NAME_MAPPING": sorted(
            [list(k), list(v)] for k, v in cp.REVERSE_NAME_MAPPING.items()),
    }

# ---- stdlib module enumeration
stdlib = os.path.dirname(os.__file__)
out["stdlib"] = stdlib
frozen = set()
cands = ["_frozen_importlib", "_frozen_importlib_external", "zipimport", "__hello__",
         "__phello__", "__phello__.spam"]
if PY2:
    import imp
    is_frozen = imp.is_frozen
else:
    import _imp
    is_frozen = _imp.is_frozen
    if hasattr(_imp, "_frozen_module_names"):
        cands.extend(_imp._frozen_module_names())
for c in cands:
    if is_frozen(c):
        frozen.add(c)
out["builtin"] = sorted(sys.builtin_module_names)
out["frozen"] = sorted(frozen)

def is_name(s):
    return bool(s) and "." not in s

out["stdlib_module_names"] = sorted(getattr(sys, "stdlib_module_names", []))

# A stdlib in a zip file (Pyodide: /lib/python314.zip) is walked like a directory.
ZIPS = {}
def _in_zip(p):
    for z in ZIPS:
        if p == z or p.startswith(z + os.sep):
            return z, p[len(z):].lstrip(os.sep)
    return None
def register_zip(p):
    import zipfile
    if not (os.path.isfile(p) and zipfile.is_zipfile(p)):
        return False
    dirs, regular = {"": set()}, set()
    for n in zipfile.ZipFile(p).namelist():
        parts = [x for x in n.split("/") if x]
        for i in range(len(parts)):
            d = "/".join(parts[:i])
            dirs.setdefault(d, set()).add(parts[i])
        if n.endswith("/"):
            dirs.setdefault("/".join(parts), set())
        else:
            regular.add("/".join(parts))
    for d in list(dirs):
        dirs.setdefault(d, set())
    ZIPS[p] = (dirs, regular)
    return True
def listdir(p):
    z = _in_zip(p)
    if z:
        return sorted(ZIPS[z[0]][0].get(z[1], ()))
    return os.listdir(p)
def isdir(p):
    z = _in_zip(p)
    if z:
        return z[1] in ZIPS[z[0]][0]
    return os.path.isdir(p)
def isfile(p):
    z = _in_zip(p)
    if z:
        return z[1] in ZIPS[z[0]][1]
    return os.path.isfile(p)

files = {}
seen_top = set()
def walk(dirpath, prefix, top, where):
    try:
        entries = sorted(listdir(dirpath))
    except OSError:
        return
    for e in entries:
        p = os.path.join(dirpath, e)
        if isdir(p):
            if e in ("__pycache__", "site-packages"):
                continue
            if not isfile(os.path.join(p, "__init__.py")):
                continue
            name = prefix + e
            if top:
                if e in seen_top:
                    continue
                seen_top.add(e)
            files[name] = where
            walk(p, name + ".", False, where)
        elif e.endswith(".py"):
            stem = e[:-3]
            if not is_name(stem) or stem == "__init__":
                continue
            if top:
                if stem in seen_top:
                    continue
                seen_top.add(stem)
            files[prefix + stem] = where
        elif e.endswith(".so") and top:
            stem = e.split(".", 1)[0]
            if not stem or stem in seen_top:
                continue
            seen_top.add(stem)
            files[stem] = where

dirs = []
for entry in sys.path:
    if not entry:
        continue
    entry = os.path.abspath(entry)
    if "site-packages" in entry or not (entry == stdlib or entry.startswith(stdlib + os.sep)):
        continue
    if not os.path.isdir(entry) and not register_zip(entry):
        continue
    dirs.append(entry[len(stdlib):].lstrip(os.sep) or ".")
    walk(entry, "", True, entry)
out["path_dirs"] = dirs
out["files"] = sorted(files)

# ---- find_class error messages
if PY2:
    import cPickle
    impls = [("cPickle", cPickle.loads), ("pickle", pickle.loads)]
    builtins_name = "__builtin__"
else:
    impls = [("_pickle", pickle.loads), ("pickle", pickle._loads)]
    builtins_name = "builtins"

def exc_name(e):
    t = type(e)
    m = t.__module__
    if m in ("builtins", "exceptions", "__builtin__"):
        return t.__name__
    return m + "." + t.__name__

def probe(module, name):
    data = ("c" + module + "\n" + name + "\n.").encode("ascii")
    res = []
    for impl, loads in impls:
        try:
            loads(data)
            res.append([impl, None, None])
        except Exception as e:
            res.append([impl, exc_name(e), str(e)])
    return res

errors = {"missing_module": [], "not_a_package": [], "missing_attribute": []}
for mod in ["nosuchmod", "xml.nosuchmod", "nosuchpkg.sub", "xml.nosuchpkg.sub",
            "xml.etree.nosuchmod"]:
    errors["missing_module"].append([mod, probe(mod, "X")])
for mod in ["keyword.nosuchmod", "keyword.nosuchmod.sub", "xml.dom.minidom.nosuchmod"]:
    errors["not_a_package"].append([mod, probe(mod, "X")])
for mod in ["os", "keyword", "collections", builtins_name]:
    r = probe(mod, "nosuchattr")
    __import__(mod)
    rep = repr(sys.modules[mod])
    errors["missing_attribute"].append([mod, "nosuchattr", rep, r])
out["errors"] = errors

sys.stdout.write(json.dumps(out, sort_keys=True))
'''

# Reads module names (one a line) on stdin and imports them all, in order, in this one
# process, writing "try NAME" then "ok NAME" or "fail NAME" lines on the original stdout
# (fds 0-2 point at /dev/null so that modules printing on import cannot disturb this).
SHARED_IMPORT_PROBE = r'''
import sys, os, warnings
warnings.simplefilter("ignore")
names = [l.strip() for l in sys.stdin.read().splitlines() if l.strip()]
res = os.fdopen(os.dup(1), "w")
devnull = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(devnull, fd)
for n in names:
    res.write("try " + n + "\n")
    res.flush()
    try:
        __import__(n)
        res.write("ok " + n + "\n")
    except BaseException:
        res.write("fail " + n + "\n")
    res.flush()
res.write("done\n")
res.flush()
os._exit(0)
'''

# Reads module names (one a line) on stdin. For each one it forks a child, so that
# every module is imported from the interpreter's startup state (holding only the
# modules startup loads), and writes "ok NAME" or "fail NAME" on stdout. Output of the
# modules themselves goes to /dev/null; a child that crashes or hangs counts as failed.
FRESH_IMPORT_PROBE = r'''
import sys, os
names = [l.strip() for l in sys.stdin.read().splitlines() if l.strip()]
out = os.fdopen(os.dup(1), "w")
for n in names:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            import signal, warnings
            signal.alarm(120)
            warnings.simplefilter("ignore")
            __import__(n)
            code = 0
        except BaseException:
            pass
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    out.write(("ok " if status == 0 else "fail ") + n + "\n")
out.flush()
'''

# FRESH_IMPORT_PROBE for an interpreter that cannot fork (Pyodide): one module name on
# stdin, imported in this process, which the caller starts afresh for every module.
SINGLE_IMPORT_PROBE = r'''
import sys, io, warnings
warnings.simplefilter("ignore")
name = sys.stdin.read().strip()
out = sys.stdout
sys.stdout = sys.stderr = io.StringIO()
code = "fail"
try:
    __import__(name)
    code = "ok"
except BaseException:
    pass
out.write(code + " " + name + "\n")
out.flush()
'''

# Reads "MODULE<TAB>cand1,cand2,..." lines on stdin. For each module it forks a
# child (so every module is examined in a fresh interpreter state holding only the
# startup modules) which imports pickle the way an unpickling process would, imports
# the module, and reports dir(), every extra candidate name getattr() finds, and
# repr(module) with the stdlib directory replaced by {path}.
ATTR_PROBE = r'''
import sys, os
lines = [l for l in sys.stdin.read().splitlines() if l.strip()]
out = os.fdopen(os.dup(1), "w")
results = []
for line in lines:
    mod, _, cands = line.partition("\t")
    cands = [c for c in cands.split(",") if c]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            import warnings
            warnings.simplefilter("ignore")
            if sys.version_info[0] == 2:
                import cPickle, pickle
            else:
                import pickle
            try:
                __import__(mod)
                m = sys.modules[mod]
            except BaseException as e:
                m = None
                err = type(e).__name__
            if m is None:
                payload = {"module": mod, "error": err}
            else:
                names = set(dir(m))
                extra = list(dir(type(m))) + cands
                for n in extra:
                    if n in names:
                        continue
                    try:
                        getattr(m, n)
                        names.add(n)
                    except BaseException:
                        pass
                d = m.__dict__
                stdlib = os.path.dirname(os.__file__)
                rep = repr(m).replace(stdlib, "{path}")
                payload = {
                    "module": mod,
                    "names": sorted(names),
                    "dynamic": "__getattr__" in d or "__dir__" in d,
                    "repr": rep,
                }
            import json
            data = json.dumps(payload, sort_keys=True).encode("utf-8")
            while data:
                data = data[os.write(w, data):]
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while True:
        c = os.read(r, 65536)
        if not c:
            break
        chunks.append(c)
    os.close(r)
    os.waitpid(pid, 0)
    data = b"".join(chunks).decode("utf-8")
    if not data:
        data = '{"module": "%s", "error": "child crashed"}' % mod
    results.append(data)
out.write("[" + ",".join(results) + "]")
out.flush()
'''


# ATTR_PROBE for an interpreter that cannot fork (Pyodide): one "MODULE<TAB>cands" line on
# stdin, examined in this process, which the caller starts afresh for every module. The
# same steps as ATTR_PROBE's child.
ATTR_SINGLE_PROBE = r'''
import sys, os, io, json, warnings
line = [l for l in sys.stdin.read().splitlines() if l.strip()][0]
out = sys.stdout
sys.stdout = sys.stderr = io.StringIO()
mod, _, cands = line.partition("\t")
cands = [c for c in cands.split(",") if c]
warnings.simplefilter("ignore")
import pickle
try:
    __import__(mod)
    m = sys.modules[mod]
except BaseException as e:
    m = None
    err = type(e).__name__
if m is None:
    payload = {"module": mod, "error": err}
else:
    names = set(dir(m))
    extra = list(dir(type(m))) + cands
    for n in extra:
        if n in names:
            continue
        try:
            getattr(m, n)
            names.add(n)
        except BaseException:
            pass
    d = m.__dict__
    stdlib = os.path.dirname(os.__file__)
    rep = repr(m).replace(stdlib, "{path}")
    payload = {
        "module": mod,
        "names": sorted(names),
        "dynamic": "__getattr__" in d or "__dir__" in d,
        "repr": rep,
    }
out.write("[" + json.dumps(payload, sort_keys=True) + "]")
out.flush()
'''


# --------------------------------------------------------------------------------------
# Running probes
# --------------------------------------------------------------------------------------


def find_pyenv_root(explicit):
    if explicit:
        return explicit
    env = os.environ.get("PYENV_ROOT")
    if env:
        return env
    try:
        r = subprocess.run(
            ["pyenv", "root"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True
        )
        root = r.stdout.decode().strip()
        if root:
            return root
    except (OSError, subprocess.CalledProcessError):
        pass
    return os.path.expanduser("~/.pyenv")


def command(python, script, cwd):
    """The command line that runs `script` (Python source): `python -E -s -B -c SCRIPT`, or for
    Pyodide `node tools/pyodide/run.mjs FILE` with the script written to a file in `cwd`."""
    if python == PYODIDE:
        import hashlib

        path = os.path.join(cwd, "probe_%s.py" % hashlib.sha256(script.encode()).hexdigest()[:16])
        if not os.path.exists(path):
            import threading

            tmp = "%s.%d.tmp" % (path, threading.get_ident())
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(script)
            os.replace(tmp, path)
        return ["node", PYODIDE_RUNNER, path]
    return [python, "-E", "-s", "-B", "-c", script]


def run_python(python, script, stdin_text="", cwd=None):
    r = subprocess.run(
        command(python, script, cwd),
        input=stdin_text.encode("utf-8"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
    )
    if r.returncode != 0:
        raise SystemExit(
            "probe failed in %s (exit %d):\n%s" % (python, r.returncode, r.stderr.decode())
        )
    return r.stdout.decode("utf-8")


def module_excluded(name, py2):
    """Test suites, idlelib: not part of what a cached pickle can refer to. The `test`
    package itself, `test.support` (and its submodules) and, on 2.7, its old name
    `test.test_support` are kept."""
    parts = name.split(".")
    if parts[0] == "idlelib":
        return True
    if parts[0] == "test" and len(parts) > 1:
        return not (parts[1] == "support" or (py2 and parts[1] == "test_support"))
    return any(p in ("test", "tests", "idle_test") for p in parts[1:])


IMPORT_ENV = {"LC_ALL": "C.UTF-8", "TERM": "dumb"}


def run_import_probe(python, script, names, cwd):
    """Runs an import probe. Returns ({name: "ok" | "fail"} for the names it got to,
    whether it finished, the module it was importing when it died, the process)."""
    env = dict(IMPORT_ENV, PATH=os.environ.get("PATH", "/usr/bin:/bin"))
    r = subprocess.run(
        command(python, script, cwd),
        input="\n".join(names).encode("utf-8"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=env,
        timeout=900,
    )
    seen = {}
    current = None
    finished = False
    for line in r.stdout.decode("utf-8").splitlines():
        kind, _, name = line.partition(" ")
        if kind == "try":
            current = name
        elif kind in ("ok", "fail"):
            seen[name] = kind
            current = None
        elif kind == "done":
            finished = True
    return seen, finished, current, r


def trial_import(python, names, cwd):
    """Returns the subset of names whose import fails in a fresh interpreter.

    Every module is first imported in one shared process (fast). Those that fail there
    (or crash it) are tried again, each in a freshly forked interpreter, and count as
    unimportable only if that fails too."""
    todo = [
        n
        for n in names
        if n.split(".")[0] not in TRIAL_IMPORT_DENYLIST_TOP
        and not n.startswith(("__hello", "__phello"))
        and n.split(".")[-1] != "__main__"
    ]
    suspects = []
    while todo:
        seen, finished, current, r = run_import_probe(python, SHARED_IMPORT_PROBE, todo, cwd)
        suspects.extend(n for n in todo if seen.get(n) == "fail")
        if finished:
            break
        if current is None:
            raise SystemExit("import probe failed in %s:\n%s" % (python, r.stderr.decode()))
        suspects.append(current)
        todo = todo[todo.index(current) + 1 :]
    if not suspects:
        return set()
    if python == PYODIDE:
        # No fork: a fresh Pyodide per suspect.
        seen = {}
        for n in suspects:
            one, _, _, r = run_import_probe(python, SINGLE_IMPORT_PROBE, [n], cwd)
            seen[n] = one.get(n, "fail")
        return {n for n, k in seen.items() if k == "fail"}
    seen, _, _, r = run_import_probe(python, FRESH_IMPORT_PROBE, suspects, cwd)
    if r.returncode != 0 or sorted(seen) != sorted(suspects):
        raise SystemExit("import probe failed in %s:\n%s" % (python, r.stderr.decode()))
    return {n for n, k in seen.items() if k == "fail"}


def probe_runtime(rt, python, workdir):
    info = json.loads(run_python(python, INFO_PROBE, cwd=workdir))
    py2 = info["version"].startswith("2.")
    files = [n for n in info["files"] if not module_excluded(n, py2)]
    modules = sorted(set(files) | set(info["builtin"]) | set(info["frozen"]))
    failed = trial_import(python, modules, workdir)
    info["modules"] = modules
    info["unimportable"] = sorted(failed)
    if python == PYODIDE:
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
            attrs = list(ex.map(lambda m: probe_candidates(python, m, [], workdir), CURATED_MODULES))
    else:
        attrs = json.loads(
            run_python(python, ATTR_PROBE, "\n".join(m + "\t" for m in CURATED_MODULES), workdir)
        )
    info["attrs"] = {a["module"]: a for a in attrs}
    return rt, info


def pyodide_native(info, native, leaves_out=PYODIDE_LEAVES_OUT):
    """Makes the module tables Pyodide gave describe a native (Linux) build of the same version:
    - top-level modules that `sys.stdlib_module_names` (the compiled-in list, complete whatever
      the platform) names but Pyodide leaves out (curses, dbm, pwd, grp, resource, tkinter,
      venv, _hashlib, _pydecimal, ...): taken, with their submodules and whether they import,
      from the native stand-in runtime (PYODIDE_NATIVE_STAND_IN); names the stand-in lacks too
      (Windows, macOS, iOS, Android, AIX only) stay out, as on a native Linux build;
    - the submodules of PYODIDE_LEAVES_OUT: taken from the stand-in the same way;
    - modules that do not import under Pyodide but do on the native stand-in
      (multiprocessing.synchronize, ...): importable;
    - Pyodide's own modules (pyodide, _pyodide, _pyodide_core, the emscripten sysconfigdata),
      in neither list: left out."""
    mods = set(info["modules"])
    unimp = set(info["unimportable"])
    names = set(info["stdlib_module_names"])
    nat_mods = set(native["modules"])
    nat_unimp = set(native["unimportable"])
    nat_tops = {m.split(".")[0] for m in nat_mods}
    tops = {m.split(".")[0] for m in mods}
    def left_out(m):
        t = m.split(".")[0]
        if t in names and t not in tops:
            return True
        return any(m == p or (p.endswith(".*") and m.startswith(p[:-1])) for p in leaves_out)

    for m in nat_mods:
        if m not in mods and left_out(m):
            mods.add(m)
            if m in nat_unimp:
                unimp.add(m)
    for m in sorted(unimp):
        if m in nat_mods and m not in nat_unimp:
            unimp.discard(m)
    for m in sorted(mods):
        t = m.split(".")[0]
        if t not in names and t not in nat_tops:
            mods.discard(m)
            unimp.discard(m)
    info["modules"] = sorted(mods)
    info["unimportable"] = sorted(unimp & mods)


def probe_candidates(python, module, cands, workdir):
    script = ATTR_SINGLE_PROBE if python == PYODIDE else ATTR_PROBE
    res = json.loads(run_python(python, script, module + "\t" + ",".join(cands), workdir))
    return res[0]


# --------------------------------------------------------------------------------------
# Error-message templates
# --------------------------------------------------------------------------------------

PLACEHOLDER_PREFERENCE = ["repr", "module", "missing_prefix", "missing_tail", "parent", "name"]


def fill(template, values):
    out = []
    i = 0
    while i < len(template):
        c = template[i]
        if c == "{" and template.startswith("{{", i):
            out.append("{")
            i += 2
        elif c == "}" and template.startswith("}}", i):
            out.append("}")
            i += 2
        elif c == "{":
            j = template.index("}", i)
            out.append(values[template[i + 1:j]])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def build_template(message, values, order):
    keys = [k for k in order if values.get(k)]
    if not keys:
        return message.replace("{", "{{").replace("}", "}}")
    pat = re.compile("|".join(re.escape(values[k]) for k in keys))
    lookup = {}
    for k in keys:
        lookup.setdefault(values[k], k)
    pieces = []
    last = 0
    for m in pat.finditer(message):
        pieces.append(message[last:m.start()].replace("{", "{{").replace("}", "}}"))
        pieces.append("{" + lookup[m.group(0)] + "}")
        last = m.end()
    pieces.append(message[last:].replace("{", "{{").replace("}", "}}"))
    return "".join(pieces)


def derive_template(observations):
    """observations: list of (exception, message, values). Returns (exception, template)."""
    excs = {o[0] for o in observations}
    if len(excs) != 1:
        raise SystemExit("inconsistent exception types: %r" % (observations,))
    keys = [k for k in PLACEHOLDER_PREFERENCE if any(k in o[2] for o in observations)]
    for order in itertools.permutations(keys):
        for base in observations:
            t = build_template(base[1], base[2], order)
            if all(fill(t, o[2]) == o[1] for o in observations):
                return observations[0][0], t
    raise SystemExit("no template explains: %r" % (observations,))


def split_missing(module, first_missing_index):
    parts = module.split(".")
    i = first_missing_index
    return {
        "module": module,
        "missing_prefix": ".".join(parts[: i + 1]),
        "missing_tail": ".".join(parts[i:]),
        "parent": ".".join(parts[:i]),
    }


# Index of the first component that does not exist, for the probe names.
FIRST_MISSING = {
    "nosuchmod": 0,
    "xml.nosuchmod": 1,
    "nosuchpkg.sub": 0,
    "xml.nosuchpkg.sub": 1,
    "xml.etree.nosuchmod": 2,
    "keyword.nosuchmod": 1,
    "keyword.nosuchmod.sub": 1,
    "xml.dom.minidom.nosuchmod": 3,
}


def templates_for(info):
    errs = info["errors"]
    impls = [r[0] for r in errs["missing_module"][0][1]]
    result = {}
    for idx, impl in enumerate(impls):
        t = {}
        for kind in ("missing_module", "not_a_package"):
            obs = []
            for mod, res in errs[kind]:
                assert res[idx][0] == impl
                if res[idx][1] is None:
                    raise SystemExit("%s %s unexpectedly loaded %s" % (info["version"], impl, mod))
                obs.append((res[idx][1], res[idx][2], split_missing(mod, FIRST_MISSING[mod])))
            t[kind] = derive_template(obs)
        obs = []
        for mod, name, rep, res in errs["missing_attribute"]:
            obs.append((res[idx][1], res[idx][2], {"module": mod, "name": name, "repr": rep}))
        t["missing_attribute"] = derive_template(obs)
        result[impl] = t
    return impls, result


# --------------------------------------------------------------------------------------
# A small Rust expression formatter that lays code out the way rustfmt does
# (default config: max_width 100, array/fn-call width 60, struct-literal width 18).
# --------------------------------------------------------------------------------------


class Lit:
    def __init__(self, text):
        self.text = text


class Tup:
    def __init__(self, items):
        self.items = items


class Arr:
    def __init__(self, items):
        self.items = items


class Struct:
    def __init__(self, name, fields):
        self.name = name
        self.fields = fields


def rstr(s):
    out = ['"']
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u{%x}" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def S(s):
    return Lit(rstr(s))


def flat(node):
    if isinstance(node, Lit):
        return node.text
    if isinstance(node, Tup):
        inner = ", ".join(flat(i) for i in node.items)
        return "(" + inner + ("," if len(node.items) == 1 else "") + ")"
    if isinstance(node, Arr):
        return "&[" + ", ".join(flat(i) for i in node.items) + "]"
    if isinstance(node, Struct):
        return node.name + " { " + ", ".join(k + ": " + flat(v) for k, v in node.fields) + " }"
    raise TypeError(node)


def fmt(node, indent, used, trailing):
    """Format node starting at column `used` (current indentation `indent`), followed by
    `trailing` characters on its last line."""
    one = flat(node)
    fits = used + len(one) + trailing <= MAX_WIDTH
    if isinstance(node, Lit):
        return one
    if isinstance(node, Tup):
        inner = len(one) - 2
        if fits and inner <= 60:
            return one
        return block("(", ")", node.items, indent, False)
    if isinstance(node, Arr):
        inner = len(one) - 3
        if fits and inner <= 60 and "\n" not in one:
            return one
        mixed = node.items and all(
            isinstance(i, Lit) and len(i.text) <= 10 for i in node.items
        )
        return block("&[", "]", node.items, indent, mixed)
    if isinstance(node, Struct):
        inner = len(one) - len(node.name) - 4
        if fits and inner <= 18:
            return one
        pad = " " * (indent + 4)
        lines = [node.name + " {"]
        for k, v in node.fields:
            lines.append(pad + k + ": " + fmt(v, indent + 4, indent + 4 + len(k) + 2, 1) + ",")
        lines.append(" " * indent + "}")
        return "\n".join(lines)
    raise TypeError(node)


def block(open_, close, items, indent, mixed):
    pad = " " * (indent + 4)
    if not items:
        return open_ + close
    lines = [open_]
    if mixed:
        width = MAX_WIDTH - (indent + 4)
        cur = ""
        for it in items:
            w = len(it.text) + 1
            if cur and len(cur) + 1 + w > width:
                lines.append(pad + cur)
                cur = ""
            cur = (cur + " " if cur else "") + it.text + ","
        lines.append(pad + cur)
    else:
        for it in items:
            lines.append(pad + fmt(it, indent + 4, indent + 4, 1) + ",")
    lines.append(" " * indent + close)
    return "\n".join(lines)


def static(name, ty, node, doc=None):
    head = "pub static %s: %s = " % (name, ty)
    text = head + fmt(node, 0, len(head), 1) + ";"
    if doc:
        text = "".join("/// %s\n" % d if d else "///\n" for d in doc) + text
    return text


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------

PRELUDE = r'''
/// Error text of one unpickler failure: the exception type as a traceback names it
/// (module-qualified unless built in) and a message template.
///
/// Placeholders in `message`:
/// - `{module}`: the module name `find_class` looked up (after `fix_imports` mapping);
/// - `{name}`: the attribute name;
/// - `{repr}`: `repr()` of the module object (see [`RuntimeTables::module_repr`]);
/// - `{missing_prefix}`: `{module}` cut after its first component that cannot be imported
///   (`nosuchpkg.sub` gives `nosuchpkg`, `xml.nosuchmod` gives `xml.nosuchmod`);
/// - `{missing_tail}`: `{module}` from that component to the end
///   (`nosuchpkg.sub` gives `nosuchpkg.sub`, `xml.nosuchmod` gives `nosuchmod`);
/// - `{parent}`: `{module}` before that component (the existing non-package module).
///
/// `{{` and `}}` stand for literal braces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorTemplate {
    pub exception: &'static str,
    pub message: &'static str,
}

/// What one unpickler implementation says when `find_class` fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoaderErrors {
    /// `_pickle` (3.x C accelerator), `pickle` (pure Python) or `cPickle` (2.7).
    pub implementation: &'static str,
    /// The module, or a package on its dotted path, does not exist
    /// (`cnosuchmod\nX\n.`, `cxml.nosuchmod\nX\n.`, `cnosuchpkg.sub\nX\n.`).
    pub missing_module: ErrorTemplate,
    /// A dotted module below an existing module that is not a package
    /// (`ckeyword.nosuchmod\nX\n.`).
    pub not_a_package: ErrorTemplate,
    /// The module imports but lacks the attribute (`cos\nnosuchattr\n.`).
    pub missing_attribute: ErrorTemplate,
}

/// `_compat_pickle` tables, each sorted by key.
#[derive(Debug)]
pub struct CompatTables {
    pub import_mapping: &'static [(&'static str, &'static str)],
    pub name_mapping: &'static [NameMapping],
    pub reverse_import_mapping: &'static [(&'static str, &'static str)],
    pub reverse_name_mapping: &'static [NameMapping],
}

/// `((module, name), (module, name))`.
pub type NameMapping = ((&'static str, &'static str), (&'static str, &'static str));

/// `(module, repr template, sorted attribute names)`. The repr template has `{path}`
/// where the interpreter showed its stdlib directory (e.g. `/usr/lib/python3.8`).
pub type ModuleNames = (&'static str, &'static str, &'static [&'static str]);

/// Facts about one CPython runtime.
#[derive(Debug)]
pub struct RuntimeTables {
    /// `"2.7"`, `"3.6"`, ..., `"3.13"`.
    pub name: &'static str,
    /// First line of `sys.version` of the interpreter the facts come from.
    pub version: &'static str,
    pub highest_protocol: u8,
    /// The protocol `pickle.dumps` uses when none is given.
    pub default_protocol: u8,
    /// `(opcode byte, protocol that introduced it)` for every opcode `pickletools` lists,
    /// sorted by byte.
    pub opcodes: &'static [(u8, u8)],
    /// Sorted names of the stdlib modules: built-in, frozen, and every module file of
    /// the stdlib directory (test suites, idlelib and site-packages excluded).
    pub modules: &'static [&'static str],
    /// Sorted subset of `modules` that failed to import on the probed build (missing
    /// optional C libraries, other platforms). Side-effecting modules (`antigravity`,
    /// `this`, `__main__` submodules, `__hello__`/`__phello__`) were not tried.
    pub unimportable_modules: &'static [&'static str],
    /// Curated modules that cached pickles reference, sorted by name; only those that
    /// import on this runtime. Each name list holds what `getattr(module, name)` finds
    /// right after `import pickle; import <module>` in a fresh interpreter: `dir(module)`,
    /// attributes every module object has (`__class__`, `__reduce__`, ...), and names a
    /// module-level `__getattr__` answers (tried: every name any runtime lists for that
    /// module, e.g. `collections.Mapping` on 3.7-3.9). Submodules count only if importing
    /// `pickle` and the module itself loaded them (`collections.abc` is an attribute of
    /// `collections` on 3.6 but not on 3.7).
    pub module_names: &'static [ModuleNames],
    /// `_compat_pickle` (3.x only).
    pub compat: Option<&'static CompatTables>,
    /// 3.x: the `_pickle` accelerator (`pickle.loads`); 2.7: `cPickle`.
    pub c_loader: LoaderErrors,
    /// 3.x: pure-Python `pickle._loads`; 2.7: `pickle`.
    pub py_loader: LoaderErrors,
}

/// The runtime named `name` (`"2.7"`, `"3.6"`, ..., `"3.13"`).
pub fn tables(name: &str) -> Option<&'static RuntimeTables> {
    RUNTIMES.iter().find(|r| r.name == name)
}

/// The `_compat_pickle` tables of the runtime named `name` (`None` for 2.7 or unknown).
pub fn compat_tables(name: &str) -> Option<&'static CompatTables> {
    tables(name).and_then(|r| r.compat)
}

impl RuntimeTables {
    /// Whether `m` is a stdlib module of this runtime (see [`RuntimeTables::modules`]).
    pub fn has_module(&self, m: &str) -> bool {
        self.modules.binary_search(&m).is_ok()
    }

    /// Whether `m` is a stdlib module that imported on the probed build.
    pub fn is_importable(&self, m: &str) -> bool {
        self.has_module(m) && self.unimportable_modules.binary_search(&m).is_err()
    }

    fn curated(&self, m: &str) -> Option<&'static ModuleNames> {
        self.module_names
            .binary_search_by(|e| e.0.cmp(m))
            .ok()
            .map(|i| &self.module_names[i])
    }

    /// Whether `getattr(module, n)` succeeds; `None` if `m` is not a curated module that
    /// imports on this runtime.
    pub fn module_attr(&self, m: &str, n: &str) -> Option<bool> {
        self.curated(m).map(|e| e.2.binary_search(&n).is_ok())
    }

    /// `repr(module)` with `{path}` for the stdlib directory; `None` if not curated.
    pub fn module_repr(&self, m: &str) -> Option<&'static str> {
        self.curated(m).map(|e| e.1)
    }

    /// The protocol that introduced `opcode`, or `None` if this runtime does not know it.
    pub fn opcode_protocol(&self, opcode: u8) -> Option<u8> {
        self.opcodes
            .binary_search_by(|e| e.0.cmp(&opcode))
            .ok()
            .map(|i| self.opcodes[i].1)
    }
}

fn lookup_pair(table: &'static [(&'static str, &'static str)], key: &str) -> Option<&'static str> {
    table
        .binary_search_by(|e| e.0.cmp(key))
        .ok()
        .map(|i| table[i].1)
}

fn lookup_name(
    table: &'static [NameMapping],
    m: &str,
    n: &str,
) -> Option<(&'static str, &'static str)> {
    table
        .binary_search_by(|e| e.0.cmp(&(m, n)))
        .ok()
        .map(|i| table[i].1)
}

impl CompatTables {
    /// `NAME_MAPPING[(m, n)]`: py2 `(module, name)` to py3.
    pub fn name(&self, m: &str, n: &str) -> Option<(&'static str, &'static str)> {
        lookup_name(self.name_mapping, m, n)
    }

    /// `IMPORT_MAPPING[m]`: py2 module to py3.
    pub fn import(&self, m: &str) -> Option<&'static str> {
        lookup_pair(self.import_mapping, m)
    }

    /// `REVERSE_NAME_MAPPING[(m, n)]`: py3 `(module, name)` to py2.
    pub fn reverse_name(&self, m: &str, n: &str) -> Option<(&'static str, &'static str)> {
        lookup_name(self.reverse_name_mapping, m, n)
    }

    /// `REVERSE_IMPORT_MAPPING[m]`: py3 module to py2.
    pub fn reverse_import(&self, m: &str) -> Option<&'static str> {
        lookup_pair(self.reverse_import_mapping, m)
    }
}
'''


def ident(s):
    return re.sub(r"[^A-Za-z0-9]", "_", s).upper()


class Pool:
    """Dedupes identical tables; each distinct one becomes a static named after the
    first runtime that uses it."""

    def __init__(self):
        self.by_value = {}
        self.items = []

    def add(self, base, rt, value, render):
        key = (base, json.dumps(value))
        if key not in self.by_value:
            name = "%s_%s" % (base, ident(rt))
            self.by_value[key] = name
            self.items.append((name, render(name, value)))
        return self.by_value[key]


def render_str_list(name, value, doc=None):
    return static(name, "&[&str]", Arr([S(v) for v in value]), doc)


def generate(infos, command):
    pool = Pool()
    out = []
    out.append("//! Facts about real CPython runtimes, probed from the interpreters themselves.")
    out.append("//!")
    out.append("//! GENERATED FILE, do not edit. Regenerate with:")
    out.append("//!")
    out.append("//! ```text")
    out.append("//! %s" % command)
    out.append("//! ```")
    out.append("//!")
    out.append("//! from these interpreters (first line of `sys.version`):")
    out.append("//!")
    for rt, _ in RUNTIMES:
        out.append("//! - %s: `%s`" % (rt, infos[rt]["version"]))
    text = "\n".join(out) + "\n" + PRELUDE

    runtime_nodes = []
    for rt, _ in RUNTIMES:
        info = infos[rt]
        opc = pool.add(
            "OPCODES",
            rt,
            info["opcodes"],
            lambda n, v: static(
                n, "&[(u8, u8)]", Arr([Tup([Lit("0x%02x" % b), Lit(str(p))]) for b, p in v])
            ),
        )
        mods = pool.add("MODULES", rt, info["modules"], render_str_list)
        unimp = pool.add("UNIMPORTABLE", rt, info["unimportable"], render_str_list)
        entries = []
        for m in CURATED_MODULES:
            a = info["attrs"][m]
            if "error" in a:
                continue
            names = pool.add("NAMES_" + ident(m), rt, a["names"], render_str_list)
            entries.append(Tup([S(m), S(a["repr"]), Lit(names)]))
        mn = pool.add(
            "MODULE_NAMES",
            rt,
            [flat(e) for e in entries],
            lambda n, v: static(n, "&[ModuleNames]", Arr(entries)),
        )
        compat = "None"
        if "compat" in info:
            c = info["compat"]
            parts = []
            for key, field in (
                ("IMPORT_MAPPING", "import_mapping"),
                ("NAME_MAPPING", "name_mapping"),
                ("REVERSE_IMPORT_MAPPING", "reverse_import_mapping"),
                ("REVERSE_NAME_MAPPING", "reverse_name_mapping"),
            ):
                if "NAME" in key:
                    render = lambda n, v: static(
                        n,
                        "&[NameMapping]",
                        Arr([Tup([Tup([S(a), S(b)]), Tup([S(x), S(y)])]) for (a, b), (x, y) in v]),
                    )
                else:
                    render = lambda n, v: static(
                        n, "&[(&str, &str)]", Arr([Tup([S(a), S(b)]) for a, b in v])
                    )
                parts.append((field, Lit(pool.add(key, rt, c[key], render))))
            cname = pool.add(
                "COMPAT",
                rt,
                [flat(p[1]) for p in parts],
                lambda n, v: static(n, "CompatTables", Struct("CompatTables", parts)),
            )
            compat = "Some(&%s)" % cname
        impls, temps = templates_for(info)

        def loader(impl):
            t = temps[impl]
            return Struct(
                "LoaderErrors",
                [("implementation", S(impl))]
                + [
                    (
                        k,
                        Struct("ErrorTemplate", [("exception", S(t[k][0])), ("message", S(t[k][1]))]),
                    )
                    for k in ("missing_module", "not_a_package", "missing_attribute")
                ],
            )

        default = info["dumps_default"]
        if info["default_attr"] is not None and info["default_attr"] != default:
            raise SystemExit("%s: DEFAULT_PROTOCOL disagrees with dumps()" % rt)
        runtime_nodes.append(
            Struct(
                "RuntimeTables",
                [
                    ("name", S(rt)),
                    ("version", S(info["version"])),
                    ("highest_protocol", Lit(str(info["highest"]))),
                    ("default_protocol", Lit(str(default))),
                    ("opcodes", Lit(opc)),
                    ("modules", Lit(mods)),
                    ("unimportable_modules", Lit(unimp)),
                    ("module_names", Lit(mn)),
                    ("compat", Lit(compat)),
                    ("c_loader", loader(impls[0])),
                    ("py_loader", loader(impls[1])),
                ],
            )
        )
    body = [static("RUNTIMES", "&[RuntimeTables]", Arr(runtime_nodes),
                   ["Every probed runtime, oldest first."])]
    body.extend(item for _, item in pool.items)
    return text + "\n" + "\n\n".join(body) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="output path (default: %s)" % OUT_DEFAULT)
    ap.add_argument("--pyenv-root", default=None, help="pyenv root (default: auto)")
    args = ap.parse_args()

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_path = args.out or os.path.join(repo, OUT_DEFAULT)
    root = find_pyenv_root(args.pyenv_root)
    pythons = {
        rt: PYODIDE if v == PYODIDE
        else os.path.join(DEBIAN_WRAPPER, "python" + rt) if v == DEBIAN
        else os.path.join(root, "versions", v, "bin", "python")
        for rt, v in RUNTIMES
    }
    missing = [p for p in pythons.values() if p != PYODIDE and not os.access(p, os.X_OK)]
    if missing:
        sys.stderr.write(
            "gen_runtime_tables: missing interpreter(s):\n%s\n"
            % "\n".join("  " + p for p in missing)
        )
        sys.exit(2)

    with tempfile.TemporaryDirectory(prefix="gen_runtime_tables.") as workdir:
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(RUNTIMES)) as ex:
            futs = [ex.submit(probe_runtime, rt, pythons[rt], workdir) for rt, _ in RUNTIMES]
            infos = dict(f.result() for f in futs)

        # Second pass: modules with a module-level __getattr__ / __dir__ may answer names
        # that dir() does not list. Try every name any runtime lists for that module.
        union = {}
        for info in infos.values():
            for m, a in info["attrs"].items():
                union.setdefault(m, set()).update(a.get("names", []))
        jobs = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(RUNTIMES)) as ex:
            for rt, _ in RUNTIMES:
                for m, a in sorted(infos[rt]["attrs"].items()):
                    if a.get("dynamic"):
                        cands = sorted(union[m] - set(a["names"]))
                        jobs.append((rt, m, ex.submit(
                            probe_candidates, pythons[rt], m, cands, workdir)))
            for rt, m, f in jobs:
                res = f.result()
                infos[rt]["attrs"][m]["names"] = res["names"]

    for rt, python in pythons.items():
        if python == PYODIDE:
            pyodide_native(infos[rt], infos[PYODIDE_NATIVE_STAND_IN])
    for rt, v in RUNTIMES:
        if v == DEBIAN:
            # The same completion as Pyodide's (after 3.14's own): the top-level modules
            # sys.stdlib_module_names names that Debian's three packages leave out (tkinter,
            # turtledemo, idlelib, ensurepip, _tkinter, _gdbm, _dbm), the test suite's
            # submodules, and the modules that import only with a package Debian ships apart
            # (turtle, dbm.gnu, dbm.ndbm), and DEBIAN_LEAVES_OUT, from DEBIAN_NATIVE_STAND_IN.
            pyodide_native(infos[rt], infos[DEBIAN_NATIVE_STAND_IN], DEBIAN_LEAVES_OUT)

    for rt, info in infos.items():
        for m, a in info["attrs"].items():
            if "repr" in a and (info["stdlib"] in a["repr"] or root in a["repr"]):
                raise SystemExit("%s: repr of %s still holds a path: %s" % (rt, m, a["repr"]))

    command = "python3 tools/gen_runtime_tables.py"
    text = generate(infos, command)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


if __name__ == "__main__":
    main()
