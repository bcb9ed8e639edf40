# Writes corpora/malicious/samples.jsonl: pickles that load code, written by real CPython
# interpreters, from what picklescan 1.0.5 and fickling 0.1.12 consider malicious.
#
#   python3 corpora/malicious/make_samples.py            # finds the interpreters and sources
#
# The gadget lists are read from the two projects' own files, pinned:
#   target/malsrc/picklescan-1.0.5/   pip download --no-deps --no-binary :all: picklescan==1.0.5
#   target/malsrc/fickling-0.1.12/    pip download --no-deps --no-binary :all: fickling==0.1.12
# (the driver below runs those two commands when the directories are missing), and picklescan's
# own malicious test pickles are read from a git checkout of github.com/mmaitre314/picklescan at
# tag v1.0.5 when one is given with --picklescan-repo (they are not in its source distribution).
#
# Nothing is ever loaded: a gadget is pickled by the real pickler from a class whose __reduce__
# returns (callable, args), where the callable is the real object when its module imports here
# without side effects, else a stand-in function registered under the same module and qualified
# name (the pickler writes the same opcodes for both: GLOBAL/STACK_GLOBAL of module and name).
# Hand-written streams (obfuscations) are only disassembled by pickletools to check they parse.
#
# Each line: {"id", "source", "python", "protocol", "expect": "deny"|"warn",
#             "globals": [module.name the pickle names], "pickle": hex}
import ast
import binascii
import glob
import json
import os
import subprocess
import sys
import pickle
import pickletools
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PY2 = sys.version_info[0] == 2

# Modules never imported to find a real object (side effects when imported).
NO_IMPORT = {"antigravity", "this", "__hello__", "__phello__", "idlelib", "tkinter", "turtle"}


def read_gadgets(src):
    """(module, name, source) triples from the two projects' deny lists and tests."""
    out = []
    ps = os.path.join(src, "picklescan-1.0.5")
    fk = os.path.join(src, "fickling-0.1.12")
    # picklescan: _unsafe_globals (a dict of module -> "*" | name | {names}).
    tree = ast.parse(open(os.path.join(ps, "src/picklescan/scanner.py")).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "_unsafe_globals":
            table = ast.literal_eval(node.value)
            for module, names in sorted(table.items()):
                if names == "*":
                    names = ["system"]
                elif isinstance(names, str):
                    names = [names]
                for n in sorted(names):
                    out.append((module, n, "picklescan 1.0.5 scanner.py _unsafe_globals"))
    # picklescan's tests: every Global(module, name, SafetyLevel.Dangerous) they assert.
    tree = ast.parse(open(os.path.join(ps, "tests/test_scanner.py")).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Global":
            args = [a for a in node.args if isinstance(a, ast.Constant)]
            kw = dict((k.arg, k.value) for k in node.keywords)
            level = node.args[2] if len(node.args) > 2 else kw.get("safety")
            if len(args) >= 1 and getattr(level, "attr", "") == "Dangerous":
                module = args[0].value
                name = args[1].value if len(args) > 1 else getattr(kw.get("name"), "value", None)
                if "unknown" not in (module, name) and isinstance(name, str):
                    out.append((module, name, "picklescan 1.0.5 tests/test_scanner.py"))
    # fickling: UNSAFE_IMPORTS (whole modules; its own tests use "eval" for builtins modules and
    # "dangerous" for the rest), and UnsafeImportsML's module and name tables.
    tree = ast.parse(open(os.path.join(fk, "fickling/fickle.py")).read())
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if getattr(target, "id", "") == "UNSAFE_IMPORTS":
                for m in sorted(ast.literal_eval(node.value.args[0])):
                    if m in ("compile", "exec", "eval"):
                        out.append(("builtins", m, "fickling 0.1.12 fickle.py UNSAFE_IMPORTS"))
                        continue
                    name = "eval" if m in ("builtins", "__builtin__", "__builtins__") else "dangerous"
                    out.append((m, name, "fickling 0.1.12 fickle.py UNSAFE_IMPORTS"))
    tree = ast.parse(open(os.path.join(fk, "fickling/analysis.py")).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "UnsafeImportsML":
            for item in node.body:
                if isinstance(item, ast.Assign):
                    key = item.targets[0].id
                    table = ast.literal_eval(item.value)
                    src_name = "fickling 0.1.12 analysis.py UnsafeImportsML." + key
                    if key == "UNSAFE_MODULES":
                        for m in sorted(table):
                            out.append((m, "dangerous", src_name))
                    elif key == "UNSAFE_IMPORTS":
                        for m in sorted(table):
                            for n in sorted(table[m]):
                                out.append((m, n, src_name))
    # The globals issue 16 names that the first deny list missed.
    for m, n in [
        ("_posixsubprocess", "fork_exec"), ("platform", "popen"), ("io", "open"),
        ("codecs", "open"), ("zipimport", "zipimporter"), ("dill", "loads"), ("yaml", "load"),
        ("signal", "signal"), ("builtins", "__import__"), ("builtins", "getattr"),
        ("operator", "attrgetter"), ("operator", "methodcaller"),
    ]:
        out.append((m, n, "cache-compat issue 16"))
    seen, uniq = set(), []
    for g in out:
        if (g[0], g[1]) not in seen:
            seen.add((g[0], g[1]))
            uniq.append(g)
    return uniq


def module_for(module):
    """The real module when it imports here without side effects, else a stand-in module."""
    if module in sys.modules:
        return sys.modules[module]
    top = module.split(".")[0]
    if top not in NO_IMPORT:
        try:
            __import__(module)
            return sys.modules[module]
        except Exception:
            pass
    mod = types.ModuleType(module)
    sys.modules[module] = mod
    if "." in module:
        parent, last = module.rsplit(".", 1)
        setattr(module_for(parent), last, mod)
    return mod


def stand_in(module, name):
    """A function registered as module.name (dotted names through stand-in classes); on a real
    module only a missing attribute is added, nothing is replaced."""
    parts = name.split(".")
    owner = module_for(module)
    for i, p in enumerate(parts[:-1]):
        cls = getattr(owner, p, None)
        if not isinstance(cls, type):
            cls = type(p, (object,), {})
            cls.__module__ = module
            if not PY2:
                cls.__qualname__ = ".".join(parts[: i + 1])
            setattr(owner, p, cls)
        owner = cls

    def f(*a, **k):
        raise RuntimeError("never called")

    f.__name__ = parts[-1]
    f.__module__ = module
    if not PY2:
        f.__qualname__ = name
    if isinstance(owner, types.ModuleType):
        setattr(owner, parts[-1], f)
        return f
    setattr(owner, parts[-1], staticmethod(f))
    return f


def real(module, name):
    top = module.split(".")[0]
    if top in NO_IMPORT or module in NO_IMPORT:
        return None
    try:
        obj = __import__(module, fromlist=["_"])
        for p in name.split("."):
            obj = getattr(obj, p)
        return obj
    except Exception:
        return None


class Gadget(object):
    def __init__(self, f, args):
        self.f, self.args = f, args

    def __reduce__(self):
        return self.f, self.args


def names_in(data):
    import pickletools
    out, strs = [], []
    for op, arg, pos in pickletools.genops(data):
        if op.name in ("GLOBAL", "INST"):
            out.append(arg.replace(" ", ".", 1))
        elif op.name == "STACK_GLOBAL":
            out.append("%s.%s" % (strs[-2], strs[-1]))
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strs.append(arg)
        elif op.name in ("BINPUT", "LONG_BINPUT", "MEMOIZE", "PUT", "FRAME", "PROTO"):
            pass
        else:
            strs.append(None)
    return out


# Hand-written streams: obfuscations the two projects' tests build opcode by opcode
# (fickling's test_bypasses.py, picklescan's GHSA advisories), and the CPython-side gadgets.
HAND = [
    ("memo_stack_global", "fickling 0.1.12 test_bypasses (STACK_GLOBAL from memo'd strings)",
     b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x30\x30h\x00h\x01\x93\x8c\x02id\x85R."),
    ("getattr_import", "fickling 0.1.12 test_bypasses.test_builtins_import_bypass",
     b"c__builtin__\ngetattr\n(c__builtin__\n__import__\n(S'os'\ntRS'system'\ntR(S'id'\ntR."),
    ("attrgetter_import", "picklescan GHSA-46h3-79wf-xr6c",
     b"coperator\nattrgetter\n(S'system'\ntR(c__builtin__\n__import__\n(S'os'\ntRtR(S'id'\ntR."),
    ("methodcaller_import", "picklescan GHSA-955r-x9j8-7rhh, fickling test_operator_methodcaller",
     b"c_operator\nmethodcaller\n(S'system'\nS'id'\ntR(c__builtin__\n__import__\n(S'os'\ntRtR."),
    ("partial_call", "picklescan 1.0.5 scanner.py (functools.partial(os.system, ...))",
     b"cfunctools\npartial\n(cos\nsystem\nS'id'\ntR)R."),
    ("partial_setstate", "partial whose BUILD state swaps in os.system",
     b"\x80\x02cfunctools\npartial\ncbuiltins\nlen\n\x85R(cos\nsystem\n(S'id'\ntNNtb)R."),
    ("reconstructor_popen", "copyreg._reconstructor of a dangerous class",
     b"ccopy_reg\n_reconstructor\n(csubprocess\nPopen\nc__builtin__\nobject\nNtR."),
    ("inst", "INST of os.system", b"(S'id'\nios\nsystem\n."),
    ("obj", "OBJ of os.system", b"(cos\nsystem\nS'id'\no."),
    ("newobj_popen", "NEWOBJ of subprocess.Popen",
     b"\x80\x02csubprocess\nPopen\n(S'id'\nt\x81."),
    ("dotted_through_module", "fickling 0.1.12 test_dotted_attr_via_stdlib_module",
     b"\x80\x04\x8c\x07pathlib\x8c\x09os.system\x93\x8c\x02id\x85R."),
    ("getattr_builtins_eval", "getattr(__import__('builtins'), 'eval')",
     b"c__builtin__\ngetattr\n(c__builtin__\n__import__\n(S'builtins'\ntRS'eval'\ntR(S'1'\ntR."),
    ("dunder_globals", "a dunder walk from an allowed class (protocol 4 dotted name)",
     b"\x80\x04\x8c\x0bcollections\x8c\x20OrderedDict.__init__.__globals__\x93."),
    ("build_patches_module", "picklescan sys_module_override_sploit (BUILD on a global)",
     b"\x80\x04\x8c\x05myapp\x8c\x05utils\x93}\x8c\x01f\x8c\x08builtinss\x62."),
    ("import_default_ext", "EXT code (nothing registered by default: an unknown global, warn)",
     b"\x80\x02\x82\x01)R."),
]


def samples():
    """The samples this interpreter writes."""
    import pickletools
    gadgets = json.loads(sys.stdin.read())
    out = []
    tag = "%d.%d" % sys.version_info[:2]
    protocols = [0, 2] if PY2 else [0, 2, 4]
    for module, name, source in gadgets:
        module, name = str(module), str(name)
        if PY2 and ("." in name or module in ("builtins",)):
            continue
        f = real(module, name)
        how = "real"
        if f is None:
            f = stand_in(module, name)
            how = "stand-in"
        for p in protocols:
            try:
                data = pickle.dumps(Gadget(f, ("id",)), p)
            except Exception:
                # Some real objects do not pickle by reference (bound methods of instances,
                # C functions whose module attribute differs): the stand-in does.
                try:
                    data = pickle.dumps(Gadget(stand_in(module, name), ("id",)), p)
                    how = "stand-in"
                except Exception as e:
                    sys.stderr.write("skip %s.%s p%d: %s\n" % (module, name, p, e))
                    continue
            out.append({
                "id": "%s/p%d/%s.%s" % (tag, p, module, name),
                "source": "%s (%s object)" % (source, how),
                "python": tag,
                "protocol": p,
                "expect": ALLOWED.get((module, name), "deny"),
                "globals": names_in(data),
                "pickle": binascii.hexlify(data).decode("ascii"),
            })
    if not PY2:
        for name, source, data in HAND:
            pickletools.dis(data, out=open(os.devnull, "w"))
            out.append({
                "id": "hand/%s" % name,
                "source": source,
                "python": tag,
                "protocol": None,
                "expect": "warn" if "ext" in name else "deny",
                "globals": names_in(data),
                "pickle": binascii.hexlify(data).decode("ascii"),
            })
        repo = os.environ.get("CC_PICKLESCAN_REPO")
        if repo:
            for rel in sorted(PICKLESCAN_FILES):
                data = subprocess.check_output(["git", "-C", repo, "show", "v1.0.5:tests/" + rel])
                out.append({
                    "id": "picklescan/" + rel,
                    # malicious6.pkl: its payload follows a first, harmless pickle's STOP, and
                    # pickle.loads reads only the first (so does every cache layer).
                    "note": "payload after STOP: never read by pickle.loads" if rel.endswith("malicious6.pkl") else None,
                    "source": "picklescan v1.0.5 tests/" + rel,
                    "python": None,
                    "protocol": None,
                    "expect": "allow" if rel.endswith("malicious6.pkl") else "deny",
                    "globals": [],
                    "pickle": binascii.hexlify(data).decode("ascii"),
                })
    return out


# Listed by picklescan but on this project's allow-list (docs/hazards.md says why): a partial's
# function is judged on its own; Counter builds a dict.
ALLOWED = {("functools", "partial"): "allow", ("collections", "Counter"): "allow"}

# picklescan's raw malicious test pickles (not zip, 7z, numpy or PyTorch containers).
PICKLESCAN_FILES = [
    "data/malicious0.pkl", "data/malicious1_v0.pkl", "data/malicious1_v3.pkl",
    "data/malicious1_v4.pkl", "data/malicious2_v0.pkl", "data/malicious2_v3.pkl",
    "data/malicious2_v4.pkl", "data/malicious3.pkl", "data/malicious4.pickle",
    "data/malicious5.pickle", "data/malicious6.pkl", "data/malicious7.pkl",
    "data/malicious8.pkl", "data/malicious9.pkl", "data/malicious10.pkl",
    "data/malicious11.pkl", "data/malicious12.pkl", "data/malicious13a.pkl",
    "data/malicious13b.pkl", "data/malicious14.pkl", "data/malicious15a.pkl",
    "data/malicious15b.pkl", "data/malicious16.pkl", "data/malicious17.pkl",
    "data/malicious18.pkl", "data/malicious19.pkl", "data/malicious20.pkl",
    "data/sys_module_override_sploit.pkl", "data2/keyerror-exploit.pkl",
    "data2/type-confusion-exploit.pkl", "data2/io_FileIO.pkl", "data2/logging_FileHandler.pkl",
    "data2/urllib_request_urlopen.pkl", "data2/types_CodeType.pkl",
    "data2/cloudpickle_codeinjection.pkl", "data2/malicious21.pkl", "data2/malicious22.pkl",
    "data2/malicious23.pkl",
]


def driver():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--picklescan-repo", help="a git checkout of mmaitre314/picklescan (tag v1.0.5)")
    ap.add_argument("--out", default=os.path.join(HERE, "samples.jsonl"))
    a = ap.parse_args()
    src = os.path.join(ROOT, "target", "malsrc")
    pyenv = os.environ.get("PYENV_ROOT") or subprocess.check_output(["pyenv", "root"]).decode().strip()
    def python(v):
        return sorted(glob.glob(os.path.join(pyenv, "versions", v + ".*", "bin", "python")))[-1]
    py3 = python("3.12")
    if not os.path.isdir(os.path.join(src, "picklescan-1.0.5")) or not os.path.isdir(os.path.join(src, "fickling-0.1.12")):
        os.makedirs(src, exist_ok=True)
        subprocess.check_call([py3, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                               "picklescan==1.0.5", "fickling==0.1.12", "-d", src])
        for t in glob.glob(os.path.join(src, "*.tar.gz")):
            subprocess.check_call(["tar", "xzf", t, "-C", src])
    env = dict(os.environ, CC_MALSRC=src)
    if a.picklescan_repo:
        env["CC_PICKLESCAN_REPO"] = a.picklescan_repo
    gadgets = json.dumps(read_gadgets(src))
    lines = []
    for v in ["2.7", "3.12"]:
        p = subprocess.Popen([python(v), os.path.abspath(__file__), "--child"], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        out, _ = p.communicate(gadgets.encode("utf-8"))
        if p.returncode != 0:
            raise SystemExit("Python %s failed" % v)
        lines.extend(l for l in out.decode("utf-8").splitlines() if l)
    with open(a.out, "w") as f:
        for l in lines:
            f.write(l + "\n")
    sys.stderr.write("wrote %d samples to %s\n" % (len(lines), a.out))


if __name__ == "__main__":
    if "--child" in sys.argv:
        for s in samples():
            sys.stdout.write(json.dumps(s, sort_keys=True) + "\n")
    else:
        driver()
