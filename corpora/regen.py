#!/usr/bin/env python3
"""Regenerate corpora/pickles.jsonl and corpora/outcomes/*.jsonl from real interpreters.

    python3 corpora/regen.py [-j JOBS]

Interpreters are found under $PYENV_ROOT/versions, else `pyenv root`/versions, else ~/.pyenv/versions.
1. every writer dumps every value of gen/values.py (inside the writer interpreter);
   lines of corpora/inputs/*.jsonl are appended (writer = file stem, protocol null);
2. every reader x option set loads every pickle through gen/oracle.py.
Output is sorted and stable: regenerating on the same machine gives identical files.
"""
import argparse
import glob
import json
import os
import queue
import resource
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "gen")
ORACLE = os.path.join(GEN, "oracle.py")
VALUES = os.path.join(GEN, "values.py")

VERSIONS = {
    "2.7": "2.7.18", "3.6": "3.6.15", "3.7": "3.7.16", "3.8": "3.8.18", "3.9": "3.9.18",
    "3.10": "3.10.13", "3.11": "3.11.7", "3.12": "3.12.1", "3.13": "3.13.0",
}
PY3 = ["3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]
# 3.14 is Pyodide (CPython 3.14 in WebAssembly, tools/pyodide/run.mjs); 3.15 is CPython 3.15.2
# from Debian's packages (tools/debian-py/install.sh, target/debian-py/bin/python3.15). Both are
# readers, not writers (their pickles would change every other outcome file).
READ_ONLY = ["3.14", "3.15"]
HIGHEST = dict([("2.7", 2), ("3.6", 4), ("3.7", 4)] + [(v, 5) for v in PY3[2:] + READ_ONLY])

OPTSETS = [  # (name, loads() keyword arguments), in README order
    ("default", {}),
    ("latin1", {"encoding": "latin1"}),
    ("bytes", {"encoding": "bytes"}),
    ("utf8", {"encoding": "utf-8"}),
    ("utf8-surrogateescape", {"encoding": "utf-8", "errors": "surrogateescape"}),
    ("no-fix-imports", {"fix_imports": False}),
]
OPT_ORDER = dict((name, i) for i, (name, _) in enumerate(OPTSETS))

# writers: (writer name, minor version, impl, module name)
WRITERS = [("2.7-cpickle", "2.7", "c", "cPickle"), ("2.7-pickle", "2.7", "py", "pickle")] + \
    [(v, v, "c", "_pickle") for v in PY3]
# readers: (reader name, minor version, impl, option sets)
READERS = [("2.7", "2.7", "c", ["default"]), ("2.7-pickle", "2.7", "py", ["default"])] + \
    [(v, v, "c", [name for name, _ in OPTSETS]) for v in PY3 + READ_ONLY]

# Large values are written only at these (writer, protocol) pairs (every other value: everywhere).
HEAVY = {
    "pystr_long_utf8": [("2.7-cpickle", 0), ("2.7-cpickle", 2)],
    "text_long": [("3.6", 4), ("3.13", 4)],
    "int_digits_4300": [("2.7-cpickle", 0), ("2.7-cpickle", 2), ("3.6", 0), ("3.13", 2)],
    "int_digits_4301": [("2.7-cpickle", 0), ("2.7-cpickle", 2), ("3.6", 0), ("3.13", 2)],
    "list_1001": [("2.7-cpickle", 2), ("3.13", 2), ("3.13", 4)],
    "dict_1001": [("2.7-cpickle", 2), ("3.13", 2), ("3.13", 4)],
}
DUMP_LIMIT = 4096           # re-pickle ("dumps") only pickles shorter than this many bytes
REQUEST_TIMEOUT = 120       # seconds; the oracle itself gives up after 10 s per phase
ADDRESS_SPACE = 4000000 * 1024  # like `ulimit -v 4000000` (MemoryError outcomes depend on it)


def pyenv_root():
    r = os.environ.get("PYENV_ROOT")
    if r and os.path.isdir(r):
        return r
    try:
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
        if out and os.path.isdir(out):
            return out
    except (OSError, subprocess.CalledProcessError):
        pass
    return os.path.expanduser("~/.pyenv")


RUNNER_314 = os.path.join(os.path.dirname(HERE), "tools", "pyodide", "run.mjs")
DEBIAN_BIN = os.path.join(os.path.dirname(HERE), "target", "debian-py", "bin")


def interpreter(minor):
    """The command (a list) that runs a Python file under this minor version."""
    if minor == "3.14":
        # Pyodide: CPython 3.14 compiled to WebAssembly, run by Node.js (tools/pyodide/run.mjs).
        return ["node", RUNNER_314]
    if minor == "3.15":
        # CPython 3.15.2, Debian's build, installed by .ci/test-all (tools/debian-py/install.sh).
        python = os.path.join(DEBIAN_BIN, "python3.15")
        if not os.path.exists(python):
            sys.exit("regen: no Python 3.15 at %s (run tools/debian-py/install.sh 3.15)" % python)
        return [python]
    return [pyenv_python(minor)]


def pyenv_python(minor):
    base = os.path.join(pyenv_root(), "versions")
    exact = os.path.join(base, VERSIONS[minor], "bin", "python")
    if os.path.exists(exact):
        return exact
    cands = sorted(glob.glob(os.path.join(base, minor + ".*", "bin", "python")),
                   key=lambda p: [int(x) if x.isdigit() else x for x in p.split("/")[-3].split(".")])
    if not cands:
        sys.exit("regen: no interpreter for Python %s under %s" % (minor, base))
    return cands[-1]


def child_env():
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
    }
    return env


def limit_memory():
    try:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    except (ValueError, OSError):
        pass


def dumps_line(obj):
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"))


# ------------------------------------------------------------------------------------------------
# 1. writers


def run_writer(writer):
    name, minor, impl, module = writer
    py = interpreter(minor)
    p = subprocess.run(py + [VALUES, "write", impl], capture_output=True, text=True, env=child_env(),
                       cwd=GEN, preexec_fn=limit_memory)
    if p.returncode != 0:
        sys.exit("regen: writer %s failed:\n%s" % (name, p.stderr))
    pickles, errors = [], []
    for line in p.stdout.splitlines():
        rec = json.loads(line)
        if rec["name"] in HEAVY and (name, rec["protocol"]) not in HEAVY[rec["name"]]:
            continue
        pid = "%s/p%d/%s" % (name, rec["protocol"], rec["name"])
        if "error" in rec:
            errors.append((pid, rec["error"]))
            continue
        pickles.append({"id": pid, "writer": name, "module": module, "protocol": rec["protocol"],
                        "value": rec["name"], "pickle": rec["pickle"]})
    return pickles, errors


def read_inputs():
    out = []
    for path in sorted(glob.glob(os.path.join(HERE, "inputs", "*.jsonl"))):
        stem = os.path.splitext(os.path.basename(path))[0]
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                rec = json.loads(line)
                if "id" not in rec or "pickle" not in rec:
                    sys.exit("regen: %s:%d: a line needs 'id' and 'pickle'" % (path, n))
                bytes.fromhex(rec["pickle"])  # validate
                out.append({"id": rec["id"], "writer": stem, "module": None, "protocol": None,
                            "value": rec.get("value"), "pickle": rec["pickle"]})
    return out


# ------------------------------------------------------------------------------------------------
# 2. readers


class Oracle(object):
    def __init__(self, py):
        self.py = py
        self.proc = None
        self.q = None
        self.restarts = 0

    def start(self):
        # Node reserves far more address space than it uses (WebAssembly memories): no RLIMIT_AS.
        limit = None if self.py[0] == "node" else limit_memory
        self.proc = subprocess.Popen(self.py + [ORACLE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=child_env(), cwd=GEN,
                                     preexec_fn=limit, text=True, bufsize=1)
        self.q = queue.Queue()
        proc, q = self.proc, self.q

        def pump():
            for line in proc.stdout:
                q.put(line)
            q.put(None)
        threading.Thread(target=pump, daemon=True).start()

    def stop(self):
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def ask(self, req):
        """One request, one answer; a crash or hang of the oracle becomes an error answer."""
        if self.proc is None:
            self.start()
        try:
            self.proc.stdin.write(dumps_line(req) + "\n")
            self.proc.stdin.flush()
            line = self.q.get(timeout=REQUEST_TIMEOUT)
        except (BrokenPipeError, OSError):
            line = None
        except queue.Empty:
            self.kill()
            self.restarts += 1
            return {"id": req["id"], "ok": False, "error": "!oracle-timeout: no answer in %d s" % REQUEST_TIMEOUT}
        if line is None:
            rc = self.proc.wait()
            self.proc = None
            self.restarts += 1
            return {"id": req["id"], "ok": False, "error": "!oracle-crash: exit status %d" % rc}
        ans = json.loads(line)
        if ans.get("id") != req["id"]:
            raise RuntimeError("oracle answered %r to request %r" % (ans.get("id"), req["id"]))
        return ans


def run_reader_job(reader, optname, pickles):
    name, minor, impl, _ = reader
    opts = dict(OPTSETS)[optname]
    protos = list(range(HIGHEST[minor] + 1))
    oracle = Oracle(interpreter(minor))
    out = []
    try:
        for rec in pickles:
            req = {"op": "load", "id": rec["id"], "pickle": rec["pickle"], "opts": opts, "impl": impl}
            want_dumps = optname == "default" and len(rec["pickle"]) // 2 < DUMP_LIMIT
            if want_dumps:
                req["dump"] = protos
            ans = oracle.ask(req)
            line = {"id": rec["id"], "opts": optname, "ok": ans["ok"]}
            if ans["ok"]:
                line["render"] = ans["render"]
                if want_dumps:
                    line["dumps"] = ans.get("dumps", {})
            else:
                line["error"] = ans["error"]
            out.append(line)
    finally:
        oracle.stop()
    return name, optname, out, oracle.restarts


def write_lines(path, lines):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="\n") as f:
        for obj in lines:
            f.write(dumps_line(obj) + "\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--readers", help="comma-separated reader names: regenerate only their outcome files, "
                    "from the existing pickles.jsonl (which the full run writes first)")
    args = ap.parse_args()
    t0 = time.time()
    if args.readers:
        wanted = args.readers.split(",")
        unknown = [w for w in wanted if w not in [r[0] for r in READERS]]
        if unknown:
            sys.exit("regen: unknown readers: %s" % ", ".join(unknown))
        pickles = []
        with open(os.path.join(HERE, "pickles.jsonl")) as f:
            for line in f:
                if line.strip():
                    pickles.append(json.loads(line))
        read_outcomes(pickles, [r for r in READERS if r[0] in wanted], args.jobs, t0, t0)
        return

    with ThreadPoolExecutor(max_workers=args.jobs) as ex:
        results = list(ex.map(run_writer, WRITERS))
    pickles, write_errors = [], []
    for p, e in results:
        pickles.extend(p)
        write_errors.extend(e)
    pickles.extend(read_inputs())
    ids = set()
    for rec in pickles:
        if rec["id"] in ids:
            sys.exit("regen: duplicate pickle id %r" % rec["id"])
        ids.add(rec["id"])
    pickles.sort(key=lambda r: r["id"])
    write_lines(os.path.join(HERE, "pickles.jsonl"), pickles)
    t1 = time.time()
    print("regen: %d pickles from %d writers (+ inputs) in %.1f s" % (len(pickles), len(WRITERS), t1 - t0))
    for pid, err in sorted(write_errors):
        print("regen: not written: %s: %s" % (pid, err))

    read_outcomes(pickles, READERS, args.jobs, t0, t1)
    # drop outcome files of readers that no longer exist
    known = set(r[0] + ".jsonl" for r in READERS)
    for path in glob.glob(os.path.join(HERE, "outcomes", "*.jsonl")):
        if os.path.basename(path) not in known:
            os.remove(path)


def read_outcomes(pickles, readers, jobs_n, t0, t1):
    jobs = [(r, o) for r in readers for o in r[3]]
    # longest first: default (with dumps) of 3.x
    jobs.sort(key=lambda j: (j[1] != "default", j[0][0]))
    outdir = os.path.join(HERE, "outcomes")
    os.makedirs(outdir, exist_ok=True)
    by_reader = {}
    restarts = 0
    with ThreadPoolExecutor(max_workers=jobs_n) as ex:
        futs = [ex.submit(run_reader_job, r, o, pickles) for r, o in jobs]
        for f in futs:
            rname, optname, lines, rs = f.result()
            restarts += rs
            by_reader.setdefault(rname, []).extend(lines)
    nlines = 0
    for reader in readers:
        lines = by_reader[reader[0]]
        lines.sort(key=lambda l: (l["id"], OPT_ORDER[l["opts"]]))
        write_lines(os.path.join(outdir, reader[0] + ".jsonl"), lines)
        nlines += len(lines)
    t2 = time.time()
    print("regen: %d outcome lines for %d readers in %.1f s (oracle restarts: %d); total %.1f s"
          % (nlines, len(readers), t2 - t1, restarts, t2 - t0))


if __name__ == "__main__":
    main()
