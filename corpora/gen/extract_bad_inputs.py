#!/usr/bin/env python3
"""Collect CPython's own bad unpickler inputs (and a small hand-made hostile set) as data.

    python3 corpora/gen/extract_bad_inputs.py            # writes corpora/inputs/{pickletester,hostile_small}.jsonl
    python3 corpora/gen/extract_bad_inputs.py --verify   # also prints the per-test verification table
    python3 corpora/gen/extract_bad_inputs.py --check-other-versions
                                                         # also runs the 3.6-3.12 suites and reports any input
                                                         # they feed that 3.13.0 + 2.7.18 do not (writes nothing more)

How the pickletester inputs are obtained (nothing is copied by hand): DRIVER (below, valid Python 2 and 3) is
run by the real interpreters 3.13.0 and 2.7.18 (found under $PYENV_ROOT, `pyenv root` or ~/.pyenv). It imports
the interpreter's own Lib/test/test_pickle.py (and test_cpickle.py on 2.7), subclasses each concrete unpickler
test class, wraps `self.loads` (and `self.module.loads` for 2.7's module tests) so that every input is recorded
before the original is called, and wraps `check_unpickling_error` / `assertRaises` so that the exception
classes the test accepts are recorded with the input. The selected test methods are then run with unittest; the
driver reports whether each passed. Independently, the driver counts the loads call sites of each test method
statically (ast of the test's own source: call sites times the length of the literal list they loop over) and
collects the literal inputs it can resolve statically; the two must agree with what was recorded (--verify).

Output: one JSON object a line, deterministic order (interpreter 3.13.0 then 2.7.18; tests in TESTS order;
inputs in the order the test feeds them), bytes deduplicated within a file (first occurrence kept; the other
occurrences are merged into its "expects"/"sources"):
    {"id": "pickletester/<test>/<n>", "pickle": HEX, "test": "<test>",
     "expects": "<python> <impl>: <exception classes joined by |, or 'no error'>; ...",
     "sources": [{"python": "3.13.0", "class": "CUnpicklerTests", "test": ..., "expects": [...] | null}, ...]}
<n> counts from 1 within each test name. hostile_small.jsonl has the same keys ("expects" is "" there: no
CPython test states an expectation; "sources" is replaced by a one-line "note").

Safety: every input is < 10 KB and is checked by `danger()` (a small opcode walker): inputs whose length
prefix (BINSTRING, BINUNICODE, BINBYTES, *8, LONG4, FRAME) exceeds 1 MB, or that PUT/LONG_BINPUT a memo index
above 200 000 (the C unpickler's memo is a dense array), are dropped and listed on stderr. The 32-bit-only
tests (test_large_32b_*, test_negative_32b_*) are skipped by the suite itself on 64-bit builds, so their inputs
(which claim 2**32+ bytes) are never recorded.
"""
from __future__ import print_function

import argparse
import binascii
import json
import os
import pickletools
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "inputs"))

PRIMARY_VERSIONS = ["3.13.0", "2.7.18"]
OTHER_VERSIONS = ["3.6.15", "3.7.16", "3.8.18", "3.9.18", "3.10.13", "3.11.7", "3.12.1"]

# Tests asked for, then a few more tests of the same kind (marked "extra" in the report):
#   test_maxint64 (both): b'I9223372036854775807JUNK\n.' -> ValueError
#   test_garyp (2.7): b'garyp' -> KeyError / cPickle.BadPickleGet
#   test_bad_input (2.7, AbstractPickleModuleTests via self.module.loads): b'X\0\0\0T' -> EOFError
#   test_load_stack_global (3.13): STACK_GLOBAL with bad names / non-str operands
TESTS = [
    "test_bad_stack",
    "test_bad_mark",
    "test_truncated_data",
    "test_badly_escaped_string",
    "test_badly_quoted_string",
    "test_insecure_strings",
    "test_correctly_quoted_string",
    "test_misc_get",
    "test_negative_put",
    "test_bad_reduce",
    "test_bad_newobj",
    "test_bad_newobj_ex",
    "test_bad_ext_code",
    "test_load_global",
    "test_load_stack_global",
    "test_maxint64",
    "test_garyp",
    "test_bad_input",
]
EXTRA_TESTS = {"test_load_stack_global", "test_maxint64", "test_garyp", "test_bad_input"}

# Concrete test classes per major version: (module, class, short label used in "expects").
CLASSES = {
    "3": [
        ("test.test_pickle", "CUnpicklerTests", "C"),
        ("test.test_pickle", "PyUnpicklerTests", "py"),
        ("test.test_pickle", "InMemoryPickleTests", "loads"),
    ],
    "2": [
        ("test.test_cpickle", "cPickleTests", "cPickle"),
        ("test.test_cpickle", "cStringIOCUnpicklerTests", "cPickle"),
        ("test.test_cpickle", "BytesIOCUnpicklerTests", "cPickle"),
        ("test.test_cpickle", "FileIOCUnpicklerTests", "cPickle"),
        ("test.test_pickle", "PickleTests", "pickle"),
        ("test.test_pickle", "UnpicklerTests", "pickle"),
    ],
}

# --------------------------------------------------------------------------------------------------------------
# The driver: runs inside the real interpreter (2.7 or 3.x). Reads a JSON request from argv[1], prints JSON lines.
DRIVER = r'''
import ast, binascii, importlib, inspect, json, sys, textwrap, unittest

REQ = json.loads(sys.argv[1])
PY2 = sys.version_info[0] == 2
BYTES = str if PY2 else bytes

def out(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")

def exc_names(e):
    if isinstance(e, tuple):
        r = []
        for x in e:
            r.extend(exc_names(x))
        return r
    m = getattr(e, "__module__", "")
    n = getattr(e, "__name__", repr(e))
    return [n if m in ("builtins", "exceptions", "__builtin__") else m + "." + n]

EXPECT = []      # stack of accepted exception names for the loads currently running
RECS = []        # recorded inputs of the running test
CUR = {}

def recorder(orig):
    def loads(data, *a, **k):
        RECS.append({"pickle": binascii.hexlify(data).decode("ascii"),
                     "expects": EXPECT[-1] if EXPECT else None})
        return orig(data, *a, **k)
    return loads

class ModuleProxy(object):
    def __init__(self, mod):
        self._mod = mod
        self.loads = recorder(mod.loads)
    def __getattr__(self, name):
        return getattr(self._mod, name)

class CM(object):
    def __init__(self, cm, names):
        self.cm, self.names = cm, names
    def __enter__(self):
        EXPECT.append(self.names)
        return self.cm.__enter__()
    def __exit__(self, *exc):
        EXPECT.pop()
        return self.cm.__exit__(*exc)

def make(cls):
    class Rec(cls):
        def setUp(self):
            super(Rec, self).setUp()
            self.loads = recorder(self.loads)
            if getattr(self, "module", None) is not None:
                self.module = ModuleProxy(self.module)
        def check_unpickling_error(self, errors, data):
            EXPECT.append(exc_names(errors))
            try:
                return cls.check_unpickling_error(self, errors, data)
            finally:
                EXPECT.pop()
        def assertRaises(self, exc, *args, **kw):
            if args:
                EXPECT.append(exc_names(exc))
                try:
                    return cls.assertRaises(self, exc, *args, **kw)
                finally:
                    EXPECT.pop()
            return CM(cls.assertRaises(self, exc, **kw), exc_names(exc))
    Rec.__name__ = cls.__name__
    return Rec

# ---- static count of loads call sites (from the test's own source) -------------------------------------------
def const(node):
    if hasattr(ast, "Constant") and isinstance(node, ast.Constant):
        return node.value
    if not PY2 and hasattr(ast, "Bytes") and isinstance(node, getattr(ast, "Bytes")):
        return node.s
    if PY2 and isinstance(node, ast.Str):
        return node.s
    return None

def is_self_attr(node, names):
    return (isinstance(node, ast.Attribute) and node.attr in names and
            ((isinstance(node.value, ast.Name) and node.value.id == "self") or
             (isinstance(node.value, ast.Attribute) and node.value.attr == "module")))

def static_sites(func):
    src = textwrap.dedent(inspect.getsource(func))
    tree = ast.parse(src)
    fdef = tree.body[0]
    lists = {}          # name -> list literal assigned in the function
    consts = {}         # name -> constant assigned in the function
    for node in ast.walk(fdef):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if isinstance(node.value, (ast.List, ast.Tuple)):
                lists[node.targets[0].id] = node.value
            elif isinstance(const(node.value), BYTES):
                consts[node.targets[0].id] = const(node.value)
    total = [0]
    literals = []
    unresolved = [0]

    def resolve(arg, loopvars):
        v = const(arg)
        if isinstance(v, BYTES):
            return [v]
        if isinstance(arg, ast.Name):
            if arg.id in loopvars:
                return loopvars[arg.id]
            if arg.id in consts:
                return [consts[arg.id]]
        return None

    def visit(node, mult, loopvars):
        if isinstance(node, ast.For):
            it = node.iter
            if isinstance(it, ast.Name) and it.id in lists:
                it = lists[it.id]
            if isinstance(it, (ast.List, ast.Tuple)):
                n = len(it.elts)
                lv = dict(loopvars)
                if isinstance(node.target, ast.Name):
                    vals = [const(e) for e in it.elts]
                    if all(isinstance(v, BYTES) for v in vals):
                        lv[node.target.id] = vals
                elif isinstance(node.target, ast.Tuple) and isinstance(node.target.elts[0], ast.Name):
                    vals = [const(e.elts[0]) if isinstance(e, ast.Tuple) else None for e in it.elts]
                    if all(isinstance(v, BYTES) for v in vals):
                        lv[node.target.elts[0].id] = vals
                for b in node.body:
                    visit(b, mult * n, lv)
                return
            for b in node.body:
                visit(b, None, loopvars)     # unknown iteration count
            return
        if isinstance(node, ast.Call):
            f = node.func
            site_arg = None
            if is_self_attr(f, ("loads",)) and node.args:
                site_arg = node.args[0]
            elif is_self_attr(f, ("check_unpickling_error",)) and len(node.args) == 2:
                site_arg = node.args[1]
            elif (is_self_attr(f, ("assertRaises",)) and len(node.args) >= 3 and
                  is_self_attr(node.args[1], ("loads",))):
                site_arg = node.args[2]
            if site_arg is not None:
                if mult is None:
                    total[0] = None
                elif total[0] is not None:
                    total[0] += mult
                r = resolve(site_arg, loopvars)
                if r is None:
                    unresolved[0] += 1
                else:
                    literals.extend(r)
                for a in node.args:
                    if a is not site_arg:
                        visit(a, mult, loopvars)
                visit(site_arg, mult, loopvars)
                return
        for child in ast.iter_child_nodes(node):
            visit(child, mult, loopvars)

    for b in fdef.body:
        visit(b, 1, {})
    return total[0], [binascii.hexlify(x).decode("ascii") for x in literals], unresolved[0]

# ---- run -----------------------------------------------------------------------------------------------------
out({"kind": "version", "version": sys.version.split()[0]})
for modname, clsname, label in REQ["classes"]:
    try:
        mod = importlib.import_module(modname)
        cls = getattr(mod, clsname)
    except Exception as e:
        out({"kind": "missing_class", "class": clsname, "error": repr(e)})
        continue
    rec_cls = make(cls)
    for test in REQ["tests"]:
        if not hasattr(cls, test):
            continue
        func = getattr(cls, test)
        func = getattr(func, "__func__", func)
        try:
            st_count, st_literals, st_unresolved = static_sites(func)
        except Exception as e:
            st_count, st_literals, st_unresolved = None, [], -1
        del RECS[:]
        result = unittest.TestResult()
        rec_cls(test).run(result)
        status = "ok"
        if result.errors or result.failures:
            status = "FAIL: " + " | ".join(tb.strip().splitlines()[-1] for _, tb in result.errors + result.failures)
        elif result.skipped:
            status = "skipped: " + "; ".join(r for _, r in result.skipped)
        out({"kind": "test", "class": clsname, "label": label, "test": test, "status": status,
             "records": list(RECS), "static_count": st_count, "static_literals": st_literals,
             "static_unresolved": st_unresolved})
'''


# --------------------------------------------------------------------------------------------------------------
def pyenv_root():
    r = os.environ.get("PYENV_ROOT")
    if r and os.path.isdir(r):
        return r
    try:
        r = subprocess.check_output(["pyenv", "root"], stderr=subprocess.DEVNULL).decode().strip()
        if r and os.path.isdir(r):
            return r
    except (OSError, subprocess.CalledProcessError):
        pass
    return os.path.expanduser("~/.pyenv")


def interpreter(version):
    exe = os.path.join(pyenv_root(), "versions", version, "bin", "python")
    if not os.path.exists(exe):
        raise SystemExit("interpreter not found: %s" % exe)
    return exe


def run_driver(version):
    req = {"classes": CLASSES[version[0]], "tests": TESTS}
    tmp = tempfile.mkdtemp(prefix="extract_bad_inputs.")
    try:
        env = dict(os.environ, PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1", PYTHONIOENCODING="utf-8")
        env.pop("PYTHONPATH", None)
        env.pop("PYTHONSTARTUP", None)
        p = subprocess.run([interpreter(version), "-s", "-c", DRIVER, json.dumps(req)],
                           cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode("utf-8", "replace"))
        raise SystemExit("driver failed under %s (rc %d)" % (version, p.returncode))
    rows = [json.loads(line) for line in p.stdout.decode("utf-8").splitlines() if line.strip()]
    return rows


# Every opcode byte of 3.13's pickle (protocol 5, 68 opcodes), as in pickletools.opcodes; fixed here so that the
# output does not depend on the host python3.
KNOWN_OPCODES = (b"().012BCFGIJKLMNPQRSTUVX]abcdeghijlopqrstu}\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89"
                 b"\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98")
assert set(KNOWN_OPCODES) <= set(op.code.encode("latin-1")[0] for op in pickletools.opcodes), \
    "the host python3's pickletools must know protocol 5 (3.8+)"

# --------------------------------------------------------------------------------------------------------------
# Safety walker: refuse inputs that would make CPython allocate much memory.
MAX_LEN = 1 << 20
MAX_MEMO = 200000


def danger(data):
    """Return a reason string if `data` has a huge length prefix or memo index, else None.
    Walks the opcodes like the unpickler would, stopping at STOP, at an unknown opcode or at the end."""
    i = 0
    n = len(data)

    def le(start, size, signed=False):
        return int.from_bytes(data[start:start + size], "little", signed=signed)

    while i < n:
        code = data[i:i + 1].decode("latin-1")
        op = pickletools.code2op.get(code)
        if op is None or op.name == "STOP":
            return None
        i += 1
        arg = op.arg
        if arg is None:
            continue
        if arg.n >= 0:
            if op.name == "LONG_BINPUT" and i + 4 <= n and le(i, 4) > MAX_MEMO:
                return "LONG_BINPUT index %d" % le(i, 4)
            if op.name == "FRAME" and i + 8 <= n and le(i, 8) > MAX_LEN:
                return "FRAME length %d" % le(i, 8)
            i += arg.n
            continue
        if op.name in ("GLOBAL", "INST"):          # two lines
            for _ in range(2):
                j = data.find(b"\n", i)
                if j < 0:
                    return None
                i = j + 1
            continue
        if arg.n == pickletools.UP_TO_NEWLINE:
            j = data.find(b"\n", i)
            if j < 0:
                return None
            if op.name == "PUT":
                try:
                    if int(data[i:j]) > MAX_MEMO:
                        return "PUT index %s" % data[i:j]
                except ValueError:
                    pass
            i = j + 1
            continue
        if arg.n == pickletools.TAKEN_FROM_ARGUMENT1:
            size = 1
        elif arg.n in (pickletools.TAKEN_FROM_ARGUMENT4, pickletools.TAKEN_FROM_ARGUMENT4U):
            size = 4
        elif arg.n == pickletools.TAKEN_FROM_ARGUMENT8U:
            size = 8
        else:
            return None
        if i + size > n:
            return None
        length = le(i, size, signed=(arg.n == pickletools.TAKEN_FROM_ARGUMENT4))   # BINSTRING, LONG4
        if length > MAX_LEN:
            return "%s length %d" % (op.name, length)
        if length < 0:
            return None                               # rejected before any allocation
        i += size + length
    return None


def unsafe(data):
    if len(data) >= 10 * 1024:
        return "size %d" % len(data)
    return danger(data)


# --------------------------------------------------------------------------------------------------------------
def ver_short(v):
    return ".".join(v.split(".")[:2])


def expects_text(sources, first_test):
    # group labels with the same (python, test, expectation), keep first-seen order
    parts = []
    seen = {}
    for s in sources:
        exp = "no error" if s["expects"] is None else "|".join(s["expects"])
        key = (s["python"], s["test"], s["label"], exp)
        if key in seen:
            continue
        seen[key] = True
        who = "%s %s" % (ver_short(s["python"]), s["label"])
        if s["test"] != first_test:
            who += " (%s)" % s["test"]
        parts.append("%s: %s" % (who, exp))
    return "; ".join(parts)


def collect(versions, verify_lines):
    entries = {}        # hex -> entry
    order = []
    dropped = []
    per_test = {}       # (version, test) -> stats
    failures = []
    for version in versions:
        rows = run_driver(version)
        got = rows[0].get("version")
        if got != version:
            raise SystemExit("asked for %s, driver reports %s" % (version, got))
        tests = {}
        for r in rows[1:]:
            if r["kind"] == "missing_class":
                failures.append("%s: class %s missing: %s" % (version, r["class"], r["error"]))
                continue
            tests.setdefault(r["test"], []).append(r)
        for test in TESTS:
            runs = tests.get(test, [])
            if not runs:
                continue
            seqs = set()
            for r in runs:
                if r["status"] != "ok":
                    failures.append("%s %s.%s: %s" % (version, r["class"], test, r["status"]))
                seqs.add(tuple(x["pickle"] for x in r["records"]))
                recorded = [x["pickle"] for x in r["records"]]
                st = r["static_count"]
                missing_literals = sorted(set(r["static_literals"]) - set(recorded))
                verify_lines.append(
                    "%-7s %-26s %-30s recorded %3d  static %4s  literals %3d (not recorded: %d, unresolved sites: %d)  %s"
                    % (version, r["class"], test, len(recorded), st, len(r["static_literals"]),
                       len(missing_literals), r["static_unresolved"], r["status"]))
                if st is not None and st != len(recorded):
                    failures.append("%s %s.%s: recorded %d inputs, static count %d"
                                    % (version, r["class"], test, len(recorded), st))
                if missing_literals:
                    failures.append("%s %s.%s: literal inputs not recorded: %s"
                                    % (version, r["class"], test, missing_literals))
            stats = per_test.setdefault((version, test), {"calls": 0, "classes": len(runs), "new": 0,
                                                          "dropped": 0, "identical_across_classes": len(seqs) == 1})
            stats["calls"] = max(len(r["records"]) for r in runs)
            # merge: inputs in call order (calls are the same in every class), classes in CLASSES order
            maxlen = stats["calls"]
            for k in range(maxlen):
                for r in runs:
                    if k >= len(r["records"]):
                        continue
                    rec = r["records"][k]
                    h = rec["pickle"]
                    src = {"python": version, "class": r["class"], "label": r["label"], "test": test,
                           "expects": rec["expects"]}
                    if h in entries:
                        if src not in entries[h]["_sources"]:
                            entries[h]["_sources"].append(src)
                        continue
                    why = unsafe(binascii.unhexlify(h))
                    if why:
                        if h not in [d[0] for d in dropped]:
                            dropped.append((h, "%s %s: %s" % (version, test, why)))
                            stats["dropped"] += 1
                        continue
                    entries[h] = {"pickle": h, "test": test, "_sources": [src]}
                    order.append(h)
                    stats["new"] += 1
    # ids
    counters = {}
    out = []
    for h in order:
        e = entries[h]
        counters[e["test"]] = counters.get(e["test"], 0) + 1
        srcs = e["_sources"]
        out.append({
            "id": "pickletester/%s/%d" % (e["test"], counters[e["test"]]),
            "pickle": h,
            "test": e["test"],
            "expects": expects_text(srcs, e["test"]),
            "sources": [{"python": s["python"], "class": s["class"], "test": s["test"],
                         "expects": s["expects"]} for s in srcs],
        })
    return out, dropped, per_test, failures


# --------------------------------------------------------------------------------------------------------------
# The hand-made hostile set. (name, bytes, note). Names become the "test" field.
def hostile_cases():
    C = []

    def add(name, data, note):
        C.append((name, data, note))

    # empty / no STOP / trailing data
    add("empty", b"", "empty input")
    add("no_stop", b"N", "NONE without STOP")
    add("no_stop", b"\x80\x02N", "PROTO 2, NONE, no STOP")
    add("no_stop", b"(", "lone MARK, no STOP")
    add("after_stop", b"N.garbage", "bytes after STOP are ignored")
    add("after_stop", b"N.\xff\xff", "unknown opcode bytes after STOP")
    add("leftover_stack", b"K\x01K\x02.", "STOP returns the top; 1 is left on the stack")
    add("leftover_stack", b"(N.", "an unmatched MARK under the result")
    add("leftover_stack", b"(K\x01K\x02.", "MARK and an int under the result")
    add("stop_on_mark", b"(.", "STOP with a MARK on top and an empty stack")

    # protocols
    for proto in (0, 1, 2, 3, 4, 5, 6, 255):
        add("proto", b"\x80" + bytes([proto]) + b"N.", "PROTO %d" % proto)
    add("proto_twice", b"\x80\x02\x80\x03N.", "PROTO 2 then PROTO 3")
    add("proto_twice", b"\x80\x04\x80\x02N.", "PROTO 4 then PROTO 2")
    add("proto_twice", b"\x80\x02\x80\x06N.", "PROTO 2 then unsupported PROTO 6")
    add("proto_late", b"N\x80\x02.", "PROTO after the first opcode")
    add("proto_late", b"N\x80\x06.", "unsupported PROTO after the first opcode")

    # unknown opcodes (unknown to every runtime: not in 3.13's opcode table), each alone and after PROTO 2
    for c in range(256):
        b = bytes([c])
        if b not in KNOWN_OPCODES:
            add("unknown_opcode", b, "unknown opcode 0x%02x alone" % c)
    add("unknown_opcode", b"\x80\x02N\xff.", "unknown opcode 0xff after valid data")
    add("unknown_opcode", b"\x80\x05\x99.", "0x99, one past READONLY_BUFFER")

    # opcodes that older runtimes do not know, in a valid context
    add("newer_opcode", b"C\x01a.", "SHORT_BINBYTES without PROTO (unknown in 2.7)")
    add("newer_opcode", b"B\x01\x00\x00\x00a.", "BINBYTES without PROTO (unknown in 2.7)")
    add("newer_opcode", b"\x8c\x01a.", "SHORT_BINUNICODE without PROTO (unknown in 2.7, 3.0-3.3)")
    add("newer_opcode", b"\x8d\x01\x00\x00\x00\x00\x00\x00\x00a.", "BINUNICODE8 without PROTO")
    add("newer_opcode", b"\x8e\x01\x00\x00\x00\x00\x00\x00\x00a.", "BINBYTES8 without PROTO")
    add("newer_opcode", b"\x8f.", "EMPTY_SET without PROTO")
    add("newer_opcode", b"\x8f(K\x01\x90.", "EMPTY_SET, ADDITEMS")
    add("newer_opcode", b"(K\x01\x91.", "FROZENSET")
    add("newer_opcode", b"\x95\x02\x00\x00\x00\x00\x00\x00\x00N.", "FRAME without PROTO")
    add("newer_opcode", b"\x96\x01\x00\x00\x00\x00\x00\x00\x00a.", "BYTEARRAY8 without PROTO (unknown before 3.8)")
    add("newer_opcode", b"N\x94h\x00.", "MEMOIZE then BINGET 0")
    add("newer_opcode", b"\x8c\x08builtins\x8c\x03str\x93.", "STACK_GLOBAL builtins.str")
    add("newer_opcode", b"\x8c\x08builtins\x8c\x03int\x93)}\x92.", "NEWOBJ_EX int()")

    # memo
    add("memoize_empty", b"\x80\x04\x94.", "MEMOIZE on an empty stack")
    add("memoize_empty", b"\x80\x04(\x94.", "MEMOIZE with a MARK on top")
    add("memo_missing", b"h\x05.", "BINGET 5, memo empty")
    add("memo_missing", b"\x80\x02h\x00.", "BINGET 0, memo empty")
    add("memo_missing", b"j\x01\x00\x00\x00.", "LONG_BINGET 1, memo empty")
    add("memo_missing", b"g7\n.", "GET 7, memo empty")
    add("memo_missing", b"Nq\x00h\x01.", "BINGET 1 after BINPUT 0")
    add("memo_bad_index", b"gx\n.", "GET with a non-integer index")
    add("memo_bad_index", b"Npx\n.", "PUT with a non-integer index")
    add("memo_bad_index", b"Np-1\n.", "PUT -1")
    add("memo_bad_index", b"Np-1\ng-1\n.", "PUT -1 then GET -1")
    add("memo_bad_index", b"Np 1\n.", "PUT with a leading space")
    add("memo_bad_index", b"Np01\ng1\n.", "PUT 01 then GET 1")
    add("memo_overwrite", b"(K\x01q\x00K\x02q\x00h\x00t.", "BINPUT 0 twice, second wins")

    # STACK_GLOBAL with non-str operands
    add("stack_global_nonstr", b"\x80\x04K\x01K\x02\x93.", "STACK_GLOBAL with two ints")
    add("stack_global_nonstr", b"\x80\x04\x8c\x08builtinsK\x01\x93.", "STACK_GLOBAL, name is an int")
    add("stack_global_nonstr", b"\x80\x04K\x01\x8c\x03str\x93.", "STACK_GLOBAL, module is an int")
    add("stack_global_nonstr", b"\x80\x04C\x08builtins\x8c\x03str\x93.", "STACK_GLOBAL, module is bytes")
    add("stack_global_nonstr", b"\x80\x04\x8c\x08builtinsC\x03str\x93.", "STACK_GLOBAL, name is bytes")
    add("stack_global_nonstr", b"\x80\x04NN\x93.", "STACK_GLOBAL with two Nones")
    add("stack_global_nonstr", b"\x80\x04\x8c\x03str\x93.", "STACK_GLOBAL with one operand")

    # out-of-band buffers
    add("next_buffer", b"\x80\x05\x97.", "NEXT_BUFFER without buffers")
    add("next_buffer", b"\x80\x05\x97\x98.", "NEXT_BUFFER, READONLY_BUFFER without buffers")
    add("readonly_buffer", b"\x80\x05K\x01\x98.", "READONLY_BUFFER on an int")
    add("readonly_buffer", b"\x80\x05C\x01x\x98.", "READONLY_BUFFER on bytes")
    add("readonly_buffer", b"\x80\x05\x96\x01\x00\x00\x00\x00\x00\x00\x00x\x98.", "READONLY_BUFFER on a bytearray")
    add("readonly_buffer", b"\x80\x05\x98.", "READONLY_BUFFER on an empty stack")

    # frames
    add("frame", b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00N.", "FRAME of 16 bytes, 2 present")
    add("frame", b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00N.", "FRAME of 0 bytes")
    add("frame", b"\x80\x04\x95\x01\x00\x00\x00\x00\x00\x00\x00K\x01.", "FRAME ends inside BININT1's argument")
    add("frame", b"\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00N.N.", "FRAME of 2 holding N.")
    add("frame", b"\x80\x04\x95\x01\x00\x00\x00\x00\x00\x00\x00N\x95\x01\x00\x00\x00\x00\x00\x00\x00.",
        "two frames")
    add("frame", b"\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00N\x95\x01\x00\x00\x00\x00\x00\x00\x00.",
        "FRAME inside a FRAME")
    add("frame", b"\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00I1\n.", "FRAME ends inside INT's line")
    add("frame", b"\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00N", "FRAME, no STOP")

    # length prefixes (small only)
    add("binstring_negative", b"T\xff\xff\xff\xffabc.", "BINSTRING length -1")
    add("binstring_negative", b"\x80\x01T\xfe\xff\xff\xff.", "BINSTRING length -2")
    add("binstring_negative", b"T\x00\x00\x00\x80.", "BINSTRING length -2**31")
    add("binstring_short", b"T\x10\x00\x00\x00ab.", "BINSTRING length 16, 3 bytes follow")
    add("long4_negative", b"\x80\x02\x8b\xff\xff\xff\xff.", "LONG4 count -1")
    add("long4_negative", b"\x80\x02\x8b\x00\x00\x00\x80.", "LONG4 count -2**31")
    add("long1", b"\x80\x02\x8a\x00.", "LONG1 of 0 bytes (0)")
    add("long1", b"\x80\x02\x8a\x01\xff.", "LONG1 -1")
    add("long1", b"\x80\x02\x8a\x02\x00\x80.", "LONG1 -32768")
    add("long4", b"\x80\x02\x8b\x00\x00\x00\x00.", "LONG4 of 0 bytes (0)")
    add("long4", b"\x80\x02\x8b\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01.", "LONG4 2**64")

    # text decoding
    add("binunicode_bad_utf8", b"X\x01\x00\x00\x00\xff.", "BINUNICODE with byte 0xff")
    add("binunicode_bad_utf8", b"X\x02\x00\x00\x00\xc3(.", "BINUNICODE with a broken 2-byte sequence")
    add("binunicode_bad_utf8", b"X\x03\x00\x00\x00\xed\xa0\x80.", "BINUNICODE with an encoded lone surrogate")
    add("binunicode_bad_utf8", b"X\x04\x00\x00\x00\xf4\x90\x80\x80.", "BINUNICODE with U+110000 encoded")
    add("binunicode_bad_utf8", b"X\x02\x00\x00\x00\xc0\x80.", "BINUNICODE with overlong NUL")
    add("binunicode_bad_utf8", b"\x80\x04\x8c\x01\xff.", "SHORT_BINUNICODE with byte 0xff")
    add("binunicode_bad_utf8", b"\x80\x04\x8d\x01\x00\x00\x00\x00\x00\x00\x00\xff.", "BINUNICODE8 with 0xff")
    add("unicode_escape", b"V\\U00110000\n.", "UNICODE with \\U00110000")
    add("unicode_escape", b"V\\U0010ffff\n.", "UNICODE with \\U0010ffff")
    add("unicode_escape", b"V\\u12\n.", "UNICODE with a truncated \\u escape")
    add("unicode_escape", b"V\\ud800\n.", "UNICODE with a lone surrogate escape")
    add("unicode_escape", b"V\xff\n.", "UNICODE with a raw byte 0xff (latin-1)")
    add("unicode_escape", b"V\\n\n.", "UNICODE with \\n (not an escape in raw-unicode-escape)")
    add("unicode_escape", b"V\\\n.", "UNICODE ending in a backslash")

    # STRING quoting and escapes
    add("string_escape", b"S'\\'\n.", "S'\\' trailing backslash")
    add("string_escape", b"S'\\x4'\n.", "S with a short \\x escape")
    add("string_escape", b"S'\\xzz'\n.", "S with a bad \\x escape")
    add("string_escape", b"S'\\u1234'\n.", "S with \\u (not a string_escape escape)")
    add("string_escape", b"S'\\q'\n.", "S with an unknown escape \\q")
    add("string_escape", b"S'\\400'\n.", "S with octal escape > 0xff")
    add("string_escape", b"S'\xff'\n.", "S with a raw byte 0xff")
    add("string_quote", b"S'abc'junk\n.", "S with junk after the quote")
    add("string_quote", b"S\"a'\n.", "S with mismatched quotes")
    add("string_quote", b"S'a\"\n.", "S with mismatched quotes (other way)")
    add("string_quote", b"S'a'b'\n.", "S with an inner quote")
    add("string_quote", b"Sabc\n.", "S without quotes")

    # INT / LONG / FLOAT text forms
    add("int_text", b"I01\n.", "I01 (True)")
    add("int_text", b"I00\n.", "I00 (False)")
    add("int_text", b"I02\n.", "I02")
    add("int_text", b"I010\n.", "I010 (leading zero)")
    add("int_text", b"I1\n.", "I1")
    add("int_text", b"I-0\n.", "I-0")
    add("int_text", b"I+1\n.", "I+1")
    add("int_text", b"I 1\n.", "I with a leading space")
    add("int_text", b"I1 \n.", "I with a trailing space")
    add("int_text", b"I1_000\n.", "I with an underscore")
    add("int_text", b"I0x10\n.", "I hex")
    add("int_text", b"I1L\n.", "I with an L suffix")
    add("int_text", b"I\n.", "I empty")
    add("int_text", b"I-\n.", "I minus only")
    add("int_text", b"I1.0\n.", "I with a decimal point")
    add("int_text", b"I9223372036854775807\n.", "I 2**63-1")
    add("int_text", b"I9223372036854775808\n.", "I 2**63")
    add("int_text", b"I-9223372036854775809\n.", "I -2**63-1")
    add("int_text", b"I2147483648\n.", "I 2**31")
    add("int_text", b"I\xd9\xa1\n.", "I with an Arabic-Indic digit one (UTF-8)")
    add("int_digits", b"I" + b"1" * 4300 + b"\n.", "I with 4300 digits (the 3.11+ limit)")
    add("int_digits", b"I" + b"1" * 4301 + b"\n.", "I with 4301 digits (over the 3.11+ limit)")
    add("int_digits", b"I-" + b"1" * 4301 + b"\n.", "I with -4301 digits")
    add("int_digits", b"I" + b"0" * 4300 + b"1\n.", "I with 4301 digits, leading zeros")
    add("long_text", b"L5L\n.", "L5L")
    add("long_text", b"L5\n.", "L5 (no suffix)")
    add("long_text", b"L-0L\n.", "L-0L")
    add("long_text", b"L0x5L\n.", "L hex")
    add("long_text", b"L5 L\n.", "L with a space before L")
    add("long_text", b"L5l\n.", "L with a lower-case l")
    add("long_text", b"LL\n.", "L only the suffix")
    add("long_text", b"L1_0L\n.", "L with an underscore")
    add("long_digits", b"L" + b"1" * 4301 + b"L\n.", "L with 4301 digits")
    add("long_digits", b"L" + b"1" * 4300 + b"L\n.", "L with 4300 digits")
    add("float_text", b"F1e400\n.", "F overflow to inf")
    add("float_text", b"F-1e400\n.", "F overflow to -inf")
    add("float_text", b"F1e-400\n.", "F underflow to 0")
    add("float_text", b"Fnan\n.", "F nan")
    add("float_text", b"Finf\n.", "F inf")
    add("float_text", b"F-inf\n.", "F -inf")
    add("float_text", b"Finfinity\n.", "F infinity")
    add("float_text", b"F1_0\n.", "F with an underscore")
    add("float_text", b"F0x1p3\n.", "F hex")
    add("float_text", b"F\n.", "F empty")
    add("float_text", b"F 1.5\n.", "F with a leading space")
    add("float_text", b"F1.5 \n.", "F with a trailing space")
    add("float_text", b"F1,5\n.", "F with a comma")
    add("float_text", b"F1.5L\n.", "F with an L suffix")
    add("float_text", b"G\x7f\xf8\x00\x00\x00\x00\x00\x01.", "BINFLOAT NaN with a payload")
    add("float_text", b"G\xff\xf0\x00\x00\x00\x00\x00\x00.", "BINFLOAT -inf")

    # structure / type errors
    add("type_error", b"K\x01Na.", "APPEND to an int")
    add("type_error", b"K\x01NNs.", "SETITEM on an int")
    add("type_error", b"K\x01}b.", "BUILD on an int")
    add("type_error", b"(Nd.", "DICT with an odd number of items")
    add("type_error", b"}(Nu.", "SETITEMS with an odd number of items")
    add("type_error", b"\x80\x04](N\x90.", "ADDITEMS to a list")
    add("type_error", b"\x80\x04(]\x91.", "FROZENSET with an unhashable item")
    add("type_error", b"(]Nd.", "DICT with an unhashable key")
    add("type_error", b"}]Ns.", "SETITEM with an unhashable key")
    add("type_error", b"\x80\x04\x8f(]\x90.", "ADDITEMS of an unhashable item")
    add("type_error", b"N1.", "POP_MARK without a MARK")
    add("type_error", b"N)\x81.", "NEWOBJ on None")
    add("type_error", b"K\x01)R.", "REDUCE calling an int")
    add("type_error", b"N]R.", "REDUCE with a list as args")
    add("type_error", b"]K\x01(K\x02e.", "APPENDS with a MARK inside")
    add("persid", b"Pabc\n.", "PERSID without persistent_load")
    add("persid", b"N\x51.", "BINPERSID without persistent_load")
    add("persid", b"P\xff\n.", "PERSID with a non-ASCII id")
    add("ext", b"\x82\x01.", "EXT1 1 unregistered")
    add("ext", b"\x84\xff\xff\xff\xff.", "EXT4 -1")
    add("global", b"c\nx\n.", "GLOBAL with an empty module")
    add("global", b"cbuiltins\n\n.", "GLOBAL with an empty name")
    add("global", b"cno_such_module_xyz\nf\n.", "GLOBAL of a missing module")
    add("global", b"cbuiltins\nno_such_attr\n.", "GLOBAL of a missing attribute")
    add("global", b"cbuiltins\nstr.upper\n.", "GLOBAL dotted name without PROTO 4")
    add("global", b"\x80\x02cbuiltins\nstr.upper\n.", "GLOBAL dotted name under PROTO 2")
    add("global", b"\x80\x04cbuiltins\nstr.upper\n.", "GLOBAL dotted name under PROTO 4")
    add("global", b"c__builtin__\nstr\n.", "GLOBAL __builtin__.str (fix_imports)")
    add("global", b"c__builtin__\nunicode\n.", "GLOBAL __builtin__.unicode (fix_imports)")
    add("global", b"cbuiltins\nstr\n.", "GLOBAL builtins.str (no module builtins in 2.7)")
    add("global", b"cbuiltins\n__class__\n.", "GLOBAL builtins.__class__ (the module's class)")
    add("global", b"cos.path\njoin\n.", "GLOBAL os.path.join")
    add("global", b"cbuiltins \nstr\n.", "GLOBAL with a trailing space in the module")
    add("global", b"c\xc3\xa9\nx\n.", "GLOBAL with a non-ASCII module")
    add("inst", b"(ibuiltins\nint\n.", "INST int()")
    add("inst", b"(K\x05i__builtin__\nint\n.", "INST __builtin__.int(5)")
    return C


def build_hostile():
    rows = []
    seen = set()
    counters = {}
    for name, data, note in hostile_cases():
        h = binascii.hexlify(data).decode("ascii")
        if h in seen:
            continue
        why = unsafe(data)
        if why:
            raise SystemExit("hostile case %s is unsafe: %s" % (name, why))
        seen.add(h)
        counters[name] = counters.get(name, 0) + 1
        rows.append({"id": "hostile_small/%s/%d" % (name, counters[name]), "pickle": h, "test": name,
                     "expects": "", "note": note})
    return rows


def write_jsonl(path, rows):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, sort_keys=False, ensure_ascii=True) + "\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--verify", action="store_true", help="print the per-class verification table")
    ap.add_argument("--check-other-versions", action="store_true",
                    help="also run the 3.6-3.12 suites and report inputs missing from the output")
    args = ap.parse_args()

    verify_lines = []
    rows, dropped, per_test, failures = collect(PRIMARY_VERSIONS, verify_lines)
    hostile = build_hostile()
    os.makedirs(OUT_DIR, exist_ok=True)
    write_jsonl(os.path.join(OUT_DIR, "pickletester.jsonl"), rows)
    write_jsonl(os.path.join(OUT_DIR, "hostile_small.jsonl"), hostile)

    if args.verify:
        print("\n".join(verify_lines))
        print()
    print("%-8s %-30s %6s %8s %6s %8s %s" % ("python", "test", "calls", "classes", "new", "dropped",
                                             "same inputs in every class"))
    for (version, test), s in sorted(per_test.items(), key=lambda kv: (PRIMARY_VERSIONS.index(kv[0][0]),
                                                                        TESTS.index(kv[0][1]))):
        print("%-8s %-30s %6d %8d %6d %8d %s%s" % (version, test, s["calls"], s["classes"], s["new"],
                                                  s["dropped"], s["identical_across_classes"],
                                                  "  (extra)" if test in EXTRA_TESTS else ""))
    by_test = {}
    for r in rows:
        by_test[r["test"]] = by_test.get(r["test"], 0) + 1
    print("pickletester.jsonl: %d inputs (%s)" % (len(rows), ", ".join("%s %d" % kv for kv in by_test.items())))
    print("hostile_small.jsonl: %d inputs" % len(hostile))
    for h, why in dropped:
        print("dropped (unsafe): %s  %s" % (h, why), file=sys.stderr)
    missing = [t for t in TESTS if not any(k[1] == t for k in per_test)]
    if missing:
        print("tests not present in any suite: %s" % ", ".join(missing))

    if args.check_other_versions:
        have = set(r["pickle"] for r in rows)
        root = pyenv_root()
        for v in OTHER_VERSIONS:
            if not os.path.exists(os.path.join(root, "versions", v, "bin", "python")):
                print("%s: not installed" % v)
                continue
            vl = []
            orows, odropped, _, ofail = collect([v], vl)
            new = [r for r in orows if r["pickle"] not in have]
            print("%s: %d inputs, %d not in the output%s" % (v, len(orows), len(new),
                                                            (": " + ", ".join(r["pickle"] + " (" + r["test"] + ")"
                                                                              for r in new)) if new else ""))
            for f in ofail:
                print("  %s" % f)

    if failures:
        print("PROBLEMS:", file=sys.stderr)
        for f in failures:
            print("  " + f, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
