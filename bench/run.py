# The speed harness of issue 6 (run it through bench/run.sh). Not a test: it measures, side by
# side on the same bytes, and prints (and writes to docs/benchmarks.md) the ratios against the
# issue's goals, with the machine it ran on.
#
#   bench/run.sh [--mb 100] [--reps 3] [--keys-1m 1000000] [--smoke] [--no-write] [--only PARTS]
#
# PARTS (comma separated): decode, scan, rdb, rss. --smoke: a few MB, one repetition, 20k keys for
# the RSS run; seconds, for CI. The corpus is cached under target/bench/corpus/ (keyed by size and
# by the generator's hash), so reruns only measure.
import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TARGET = os.path.join(ROOT, "target", "bench")
PYENV = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip() or \
    os.path.expanduser("~/.pyenv")
PIP_PINS = {
    "py311-redis": ["redis==5.0.8"],
    "py311-hiredis": ["redis==5.0.8", "hiredis==3.5.0"],
}
# (interpreter, tag, protocols) of the mixed corpus and of the large-strings corpus.
MIXED = [("2.7", "py27", [0, 2]), ("3.8", "py38", [0, 2, 4, 5]), ("3.11", "py311", [0, 2, 4, 5])]
LARGE = [("2.7", "py27", [2]), ("3.11", "py311", [0, 4, 5])]


def log(msg):
    sys.stderr.write("[bench] %s\n" % msg)
    sys.stderr.flush()


def python(version):
    base = os.path.join(PYENV, "versions")
    for v in sorted(os.listdir(base)):
        if v == version or v.startswith(version + "."):
            return os.path.join(base, v, "bin", "python")
    sys.exit("bench: no CPython %s under %s" % (version, base))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def corpus(mb):
    """Build (or reuse) the corpus; returns (mixed_dir, large_dir)."""
    with open(os.path.join(HERE, "make_corpus.py"), "rb") as f:
        h = hashlib.sha256(f.read()).hexdigest()[:10]
    base = os.path.join(TARGET, "corpus", "%gMB-%s" % (mb, h))
    mixed, large = os.path.join(base, "mixed"), os.path.join(base, "large")
    done = os.path.join(base, "done")
    if os.path.exists(done):
        log("corpus cached in %s" % base)
        return mixed, large
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(mixed)
    os.makedirs(large)
    nfiles = sum(len(p) for _, _, p in MIXED)
    per = mb / nfiles
    t = time.time()
    procs = []
    for ver, tag, protos in MIXED:
        procs.append(subprocess.Popen([python(ver), os.path.join(HERE, "make_corpus.py"), mixed,
                                       tag, ",".join(map(str, protos)), str(per), "bench"]))
    lper = max(mb / 4 / sum(len(p) for _, _, p in LARGE), 2)
    for ver, tag, protos in LARGE:
        procs.append(subprocess.Popen([python(ver), os.path.join(HERE, "make_corpus.py"), large,
                                       tag, ",".join(map(str, protos)), str(lper), "bench",
                                       "large"]))
    for p in procs:
        if p.wait() != 0:
            sys.exit("bench: corpus generation failed")
    open(done, "w").close()
    log("corpus written to %s in %.1fs" % (base, time.time() - t))
    return mixed, large


def records(d):
    for name in sorted(os.listdir(d)):
        if not name.endswith(".rec"):
            continue
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        i, n = 0, 0
        tag = name[:-4]
        while i + 4 <= len(data):
            (ln,) = struct.unpack_from("<I", data, i)
            yield "%s:%d" % (tag, n), data[i + 4:i + 4 + ln]
            i += 4 + ln
            n += 1


def resp(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def pydeps(name):
    d = os.path.join(TARGET, "pydeps", name)
    if not os.path.isdir(d):
        log("installing %s into %s" % (" ".join(PIP_PINS[name]), d))
        try:
            run([python("3.11"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 "--no-deps", "--target", d] + PIP_PINS[name])
        except subprocess.CalledProcessError:
            shutil.rmtree(d, ignore_errors=True)
            return None
    return d


class Redis(object):
    def __init__(self, name):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.dir = os.path.join(TARGET, "redis-" + name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--dbfilename", "dump.rdb"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True,
                              text=True).stdout.strip() == "PONG":
                break
            time.sleep(0.05)
        self.url = "redis://127.0.0.1:%d" % self.port

    def cli(self, *args):
        return run(["redis-cli", "-p", str(self.port)] + list(args), capture_output=True,
                   text=True).stdout.strip()

    def fill(self, items):
        """items: iterable of (key bytes, value bytes), sent with redis-cli --pipe."""
        p = subprocess.Popen(["redis-cli", "-p", str(self.port), "--pipe"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        buf, n = [], 0
        for k, v in items:
            buf.append(resp([b"SET", k, v]))
            n += 1
            if len(buf) >= 10000:
                p.stdin.write(b"".join(buf))
                buf = []
        p.stdin.write(b"".join(buf))
        p.stdin.close()
        p.wait()
        return n

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def timed(cmd, env=None):
    """Run cmd, return (seconds, stdout, max RSS in KiB) from /usr/bin/time -v."""
    tf = os.path.join(TARGET, "time.txt")
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", "-o", tf] + cmd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, env=env)
    secs = time.perf_counter() - t
    with open(tf) as f:
        tv = f.read()
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", tv)
    rc = p.returncode
    if rc not in (0, 1):
        sys.exit("bench: %s exited %d: %s" % (" ".join(cmd), rc, p.stderr.decode("utf-8", "replace")[-2000:]))
    return secs, None, int(m.group(1)) if m else None


def median_run(n, fn):
    return interleaved(n, [("x", fn)])["x"]


def interleaved(n, fns):
    """Run each of fns n times, round-robin (so that a noisy neighbour hurts all alike); for
    each the run with the median (lower median) time, and every time."""
    runs = {name: [] for name, _ in fns}
    for _ in range(n):
        for name, fn in fns:
            runs[name].append(fn())
    out = {}
    for name, rs in runs.items():
        rs = sorted(rs, key=lambda r: r["secs"])
        r = dict(rs[(len(rs) - 1) // 2])
        r["all_secs"] = [round(x["secs"], 3) for x in rs]
        out[name] = r
    return out


def cc_bin():
    return os.path.join(ROOT, "target", "release", "cache-compat")


def scan_cmd(src, fmt=None):
    """`scan` on src; fmt: the format arguments (default `--format jsonl --output FILE`)."""
    if fmt is None:
        fmt = ["--format", "jsonl", "--output", os.path.join(TARGET, "scan-out.jsonl")]
    return [cc_bin(), "scan"] + src + ["--old", "2.7", "--new", "3.8", "--writer", "pickle"] + fmt


# The other formats whose peak RSS the rss part measures (jsonl is the main run's).
RSS_FORMATS = [
    ("table", ["--format", "table"]),
    ("json", ["--format", "json", "--output", os.path.join(TARGET, "scan-out.json")]),
    ("table --all", ["--format", "table", "--all", "--output",
                     os.path.join(TARGET, "scan-out.txt")]),
]


def part_decode(mixed, large, reps, res, measures):
    log("decode: cargo bench --bench decode (ours, serde-pickle)")
    out = run(["cargo", "bench", "--quiet", "--bench", "decode", "--", "--corpus", mixed,
               "--large", large, "--reps", str(reps), "--only", measures], cwd=ROOT,
              capture_output=True, text=True)
    sys.stderr.write(out.stderr[-3000:])
    rust = json.loads(out.stdout.strip().splitlines()[-1])
    log("decode: CPython 3.11 pickle.loads and pickletools.genops")
    py = {}
    for d, label in ((mixed, "mixed"), (large, "large")):
        o = run([python("3.11"), os.path.join(HERE, "py_decode.py"), d, "--reps", str(reps),
                 "--label", label], capture_output=True, text=True)
        sys.stderr.write(o.stderr)
        py.update(json.loads(o.stdout))
    for label in ("mixed", "large"):
        rust[label].update(py[label])
    res["decode"] = rust


def part_scan(mixed, reps, res):
    r = Redis("scan")
    try:
        t = time.perf_counter()
        n = r.fill((k.encode(), v) for k, v in records(mixed))
        log("scan: %d keys loaded into redis-server :%d in %.1fs (used_memory %s)" % (
            n, r.port, time.perf_counter() - t,
            re.search(r"used_memory_human:(\S+)", r.cli("info", "memory")).group(1)))
        out = {"keys": n}
        fns = []

        def ours():
            secs, _, rss = timed(scan_cmd(["--redis", r.url]))
            return {"secs": secs, "keys": n, "rss_kib": rss}

        fns.append(("cache-compat scan", ours))

        def fetch():
            o = run([os.path.join(ROOT, "target", "release", "examples", "bench_fetch"), r.url],
                    capture_output=True, text=True).stdout
            return json.loads(o)

        fns.append(("fetch-only (rust)", fetch))

        def audit(env, mode):
            return lambda: json.loads(run(
                [python("3.11"), os.path.join(HERE, "redispy_audit.py"), r.url] + mode,
                env=env, capture_output=True, text=True).stdout)

        for name in ("py311-redis", "py311-hiredis"):
            d = pydeps(name)
            if d is None:
                log("scan: %s not installable, skipped" % name)
                continue
            env = dict(os.environ, PYTHONPATH=d)
            for mode in ([], ["--fetch-only"]):
                label = "redis-py audit" + (" fetch-only" if mode else "") + (
                    " +hiredis" if "hiredis" in name else "")
                fns.append((label, audit(env, mode)))

        def cliscan():
            t = time.perf_counter()
            o = run(["redis-cli", "-p", str(r.port), "--scan"],
                    capture_output=True).stdout
            return {"secs": time.perf_counter() - t, "keys": o.count(b"\n")}

        fns.append(("redis-cli --scan", cliscan))
        log("scan: %d rounds of: %s" % (reps, ", ".join(name for name, _ in fns)))
        out.update(interleaved(reps, fns))
        for k, v in out.items():
            if isinstance(v, dict):
                v["keys_per_s"] = v["keys"] / v["secs"]
                if "bytes" in v:
                    v["mb_per_s"] = v["bytes"] / 1e6 / v["secs"]
        total = sum(len(v) for _, v in records(mixed))
        out["cache-compat scan"]["bytes"] = total
        out["cache-compat scan"]["mb_per_s"] = total / 1e6 / out["cache-compat scan"]["secs"]
        log("scan: SAVE for the RDB part")
        r.cli("save")
        rdb = os.path.join(TARGET, "bench.rdb")
        shutil.copy(os.path.join(r.dir, "dump.rdb"), rdb)
        res["scan"] = out
    finally:
        r.stop()
    return rdb


def part_rdb(rdb, reps, res):
    size = os.path.getsize(rdb)
    out = {"bytes": size}

    def t(cmd):
        def f():
            secs, _, rss = timed(cmd)
            return {"secs": secs, "rss_kib": rss}
        return f

    with open(rdb, "rb") as f:
        f.read()
    log("rdb: cat, redis-check-rdb, cache-compat scan --rdb on %.1f MB" % (size / 1e6))
    out.update(interleaved(reps, [("cat", t(["cat", rdb])),
                                  ("redis-check-rdb", t(["redis-check-rdb", rdb])),
                                  ("cache-compat scan --rdb", t(scan_cmd(["--rdb", rdb])))]))
    for v in out.values():
        if isinstance(v, dict):
            v["mb_per_s"] = size / 1e6 / v["secs"]
    res["rdb"] = out


def part_rss(mixed, nkeys, res):
    small = [v for _, v in records(mixed) if len(v) < 1000][:2000]
    largest = max(len(v) for v in small)
    # Every key gets its own value: the 40 hex digits of a session's csrf_token (a str of the
    # same length, so the pickle stays valid) become the key's number. Templates without one
    # (a few small non-session values) repeat.
    hex40 = re.compile(rb"(?<![0-9a-f])[0-9a-f]{40}(?![0-9a-f])")
    unique = sum(1 for v in small if hex40.search(v))

    def distinct(v, i):
        return hex40.sub(b"%040x" % i, v, count=1)
    out = {}
    for n in sorted({10000, nkeys}):
        r = Redis("rss")
        try:
            t = time.perf_counter()
            r.fill((b"sess:%d" % i, distinct(small[i % len(small)], i)) for i in range(n))
            log("rss: %d small keys (<1000 bytes, %d of %d templates made distinct per key) "
                "loaded in %.1fs; scan --redis" % (n, unique, len(small), time.perf_counter() - t))
            secs, _, rss = timed(scan_cmd(["--redis", r.url]))
            out[str(n)] = {"keys": n, "secs": secs, "rss_kib": rss, "largest_value": largest,
                           "keys_per_s": n / secs, "distinct_templates": unique,
                           "templates": len(small)}
            log("rss: %d keys: %.1fs, peak RSS %.1f MiB" % (n, secs, rss / 1024.0))
            formats = {}
            for name, fmt in RSS_FORMATS:
                fsecs, _, frss = timed(scan_cmd(["--redis", r.url], fmt))
                formats[name] = {"secs": fsecs, "rss_kib": frss}
                log("rss: %d keys, --format %s: %.1fs, peak RSS %.1f MiB" % (
                    n, name, fsecs, frss / 1024.0))
            out[str(n)]["formats"] = formats
            if n == nkeys:
                # keys/s on small values, against the same clients as the scan part (once each).
                fns = [("fetch-only (rust)", lambda: json.loads(run(
                    [os.path.join(ROOT, "target", "release", "examples", "bench_fetch"), r.url],
                    capture_output=True, text=True).stdout))]
                for name in ("py311-redis", "py311-hiredis"):
                    d = pydeps(name)
                    if d is None:
                        continue
                    env = dict(os.environ, PYTHONPATH=d)
                    for mode in ([], ["--fetch-only"]):
                        label = "redis-py audit" + (" fetch-only" if mode else "") + (
                            " +hiredis" if "hiredis" in name else "")
                        fns.append((label, (lambda env, mode: lambda: json.loads(run(
                            [python("3.11"), os.path.join(HERE, "redispy_audit.py"), r.url]
                            + mode, env=env, capture_output=True, text=True).stdout))(env, mode)))
                log("rss: the same %d keys: %s" % (n, ", ".join(k for k, _ in fns)))
                others = interleaved(1, fns)
                for v in others.values():
                    v["keys_per_s"] = v["keys"] / v["secs"]
                out[str(n)]["others"] = others
        finally:
            r.stop()
    # The same number of keys cycling over the templates unchanged (each value stored about
    # n / 2000 times): what the verdict cache does for a cache of repeated values.
    r = Redis("rss")
    try:
        n = nkeys
        r.fill((b"sess:%d" % i, small[i % len(small)]) for i in range(n))
        log("rss: %d keys repeating %d values; scan --redis" % (n, len(small)))
        secs, _, rss = timed(scan_cmd(["--redis", r.url]))
        out["repeated"] = {"keys": n, "secs": secs, "rss_kib": rss, "largest_value": largest,
                           "keys_per_s": n / secs, "values": len(small)}
        log("rss: %d repeated keys: %.1fs, peak RSS %.1f MiB" % (n, secs, rss / 1024.0))
    finally:
        r.stop()
    res["rss"] = out


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "loadavg_at_start": [round(x, 2) for x in load],
            "redis": subprocess.run(["redis-server", "--version"], capture_output=True,
                                    text=True).stdout.split()[2],
            "rustc": subprocess.run(["rustc", "--version"], capture_output=True,
                                    text=True).stdout.strip()}


def goals(res):
    """Rows: (goal, measured, ratio text, met?)."""
    rows = []
    d = res.get("decode")
    if d:
        m, lg = d["mixed"], d["large"]
        pl = m["pickle.loads"]["mb_per_s"]
        ratio = m["verdict"]["mb_per_s"] / pl
        rows.append(("decode + verdict (2.7 -> 3.8, five checks) >= 4x pickle.loads, mixed",
                     "%.1f vs %.1f MB/s" % (m["verdict"]["mb_per_s"], pl), "%.2fx" % ratio,
                     ratio >= 4))
        for k in ("verdict-full", "parse", "load-2.7", "load-3.8", "check", "serde-pickle",
                  "pickletools.genops"):
            if k not in m:
                continue
            rows.append(("  (reference) %s vs pickle.loads, mixed" % k,
                         "%.1f MB/s (%d of %d failed)" % (m[k]["mb_per_s"], m[k]["failures"],
                                                         m[k]["values"]),
                         "%.2fx" % (m[k]["mb_per_s"] / pl), None))
        rows.append(("decode + verdict >= 1 GB/s on large string values",
                     "%.1f MB/s" % lg["verdict"]["mb_per_s"],
                     "%.2fx of 1000" % (lg["verdict"]["mb_per_s"] / 1000),
                     lg["verdict"]["mb_per_s"] >= 1000))
        for k in ("verdict-full", "parse", "load-3.8", "check", "pickle.loads", "serde-pickle"):
            if k not in lg:
                continue
            rows.append(("  (reference) %s, large strings%s" % (k, " (opcodes only: payloads are not read)" if k == "parse" else ""),
                         "%.1f MB/s" % lg[k]["mb_per_s"], "", None))
    s = res.get("scan")
    if s:
        ours = s["cache-compat scan"]["keys_per_s"]
        for label in ("redis-py audit", "redis-py audit +hiredis"):
            if label in s:
                ratio = ours / s[label]["keys_per_s"]
                rows.append(("scan --redis >= 3x %s" % label,
                             "%.0f vs %.0f keys/s" % (ours, s[label]["keys_per_s"]),
                             "%.2fx" % ratio, ratio >= 3))
        # The ceiling: the fastest of the fetch-only clients on this server.
        fetchers = [k for k in ("fetch-only (rust)", "redis-py audit fetch-only",
                                "redis-py audit fetch-only +hiredis") if k in s]
        best = max(fetchers, key=lambda k: s[k]["keys_per_s"])
        ceil = s[best]["keys_per_s"]
        rows.append(("scan --redis >= 75% of the fetch-only ceiling (" + best + ")",
                     "%.0f vs %.0f keys/s" % (ours, ceil), "%.1f%%" % (100 * ours / ceil),
                     ours / ceil >= 0.75))
        for label in fetchers + ["redis-cli --scan"]:
            if label == best:
                continue
            if label in s:
                rows.append(("  (reference) %s" % label,
                             "%.0f keys/s" % s[label]["keys_per_s"], "", None))
        rows.append(("  (reference) scan --redis MB/s",
                     "%.1f MB/s" % s["cache-compat scan"]["mb_per_s"], "", None))
    r = res.get("rdb")
    if r:
        ours, ref = r["cache-compat scan --rdb"]["secs"], r["redis-check-rdb"]["secs"]
        rows.append(("scan --rdb at least as fast as redis-check-rdb",
                     "%.2f s vs %.2f s (%.0f MB dump; cat %.2f s)" % (
                         ours, ref, r["bytes"] / 1e6, r["cat"]["secs"]),
                     "%.2fx" % (ref / ours), ours <= ref))
    rss = res.get("rss")
    if rss:
        for n, v in sorted(rss.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 1e18):
            if not isinstance(v, dict) or "others" not in v:
                continue
            o, ours = v["others"], v["keys_per_s"]
            for label in ("redis-py audit", "redis-py audit +hiredis"):
                if label in o:
                    ratio = ours / o[label]["keys_per_s"]
                    rows.append(("scan --redis >= 3x %s, %s small keys" % (label, n),
                                 "%.0f vs %.0f keys/s" % (ours, o[label]["keys_per_s"]),
                                 "%.2fx" % ratio, ratio >= 3))
            best = max((k for k in o if "fetch-only" in k), key=lambda k: o[k]["keys_per_s"])
            ratio = ours / o[best]["keys_per_s"]
            rows.append(("scan --redis >= 75%% of the fetch-only ceiling (%s), %s small keys" % (
                best, n), "%.0f vs %.0f keys/s" % (ours, o[best]["keys_per_s"]),
                "%.1f%%" % (100 * ratio), ratio >= 0.75))
        for n, v in sorted(rss.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 1e18):
            if not isinstance(v, dict):
                continue
            limit = 64 * 1024 + v["largest_value"] / 1024.0
            what = ("%s keys" % n if n.isdigit() else
                    "%d keys repeating %d values" % (v["keys"], v["values"]))
            rows.append(("peak RSS of scan --redis <= 64 MiB + largest value, %s" % what,
                         "%.1f MiB (%.0f keys/s)" % (v["rss_kib"] / 1024.0, v["keys_per_s"]),
                         "%.2fx of limit" % (v["rss_kib"] / limit), v["rss_kib"] <= limit))
            for name, f in sorted(v.get("formats", {}).items()):
                rows.append(("  (same) --format %s, %s" % (name, what),
                             "%.1f MiB" % (f["rss_kib"] / 1024.0),
                             "%.2fx of limit" % (f["rss_kib"] / limit), f["rss_kib"] <= limit))
    return rows


def table(rows):
    out = ["| goal | measured | ratio | met |", "| --- | --- | --- | --- |"]
    for g, m, r, ok in rows:
        out.append("| %s | %s | %s | %s |" % (g, m, r, "" if ok is None else
                                              ("yes" if ok else "**no**")))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=100)
    ap.add_argument("--measures", default="parse,load-2.7,load-3.8,serde-pickle,verdict,verdict-full",
                    help="bench/decode.rs measures (add `check`: the five checks without the "
                    "envelope)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--keys-1m", type=int, default=1000000)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--only", default="decode,scan,rdb,rss")
    ap.add_argument("--report-only", action="store_true",
                    help="re-render the table from target/bench/results.json, measure nothing")
    a = ap.parse_args()
    if a.report_only:
        with open(os.path.join(TARGET, "results.json")) as f:
            res = json.load(f)
        tab = table(goals(res))
        print(tab)
        if not a.no_write and not res["args"].get("smoke"):
            write_doc(res, tab)
        return
    if a.smoke:
        a.mb, a.reps, a.keys_1m = 4, 1, 20000
    parts = a.only.split(",")
    os.makedirs(TARGET, exist_ok=True)
    mach = machine()
    log("machine: %s" % json.dumps(mach))
    log("building: cargo build --release --bin cache-compat --example bench_fetch")
    run(["cargo", "build", "--release", "--quiet", "--bin", "cache-compat", "--example",
         "bench_fetch"], cwd=ROOT)
    mixed, large = corpus(a.mb)
    res = {"machine": mach, "args": vars(a)}
    prev = os.path.join(TARGET, "results.json")
    if set(parts) != {"decode", "scan", "rdb", "rss"} and os.path.exists(prev):
        # A partial run updates the parts it measures in the last full run's results.
        with open(prev) as f:
            old = json.load(f)
        if old.get("args", {}).get("mb") == a.mb and not a.smoke:
            res = old
            res.setdefault("partial_runs", []).append({"parts": parts, "machine": mach})
    t0 = time.time()
    if "decode" in parts:
        part_decode(mixed, large, a.reps, res, a.measures)
    rdb = None
    if "scan" in parts or "rdb" in parts:
        rdb = part_scan(mixed, a.reps, res)
    if "rdb" in parts and rdb:
        part_rdb(rdb, a.reps, res)
    if "rss" in parts:
        part_rss(mixed, a.keys_1m, res)
    if "partial_runs" in res:
        res["partial_runs"][-1]["machine"]["loadavg_at_end"] = [
            round(x, 2) for x in os.getloadavg()]
    else:
        res["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        res["wall_secs"] = time.time() - t0
    with open(os.path.join(TARGET, "results-smoke.json" if a.smoke else "results.json"),
              "w") as f:
        json.dump(res, f, indent=1)
    rows = goals(res)
    tab = table(rows)
    print(tab)
    if not a.no_write and not a.smoke and ("partial_runs" in res or set(parts) == {
            "decode", "scan", "rdb", "rss"}):
        write_doc(res, tab)
    log("results in target/bench/results%s.json (%.0fs)" % ("-smoke" if a.smoke else "",
                                                           time.time() - t0))


def write_doc(res, tab, _a=None):
    m = res["machine"]
    a = argparse.Namespace(**res["args"])
    later = "".join(
        " Then `bench/run.sh --only %s` re-measured those parts on %s (load average %s at the "
        "start, %s at the end)." % (",".join(p["parts"]), p["machine"]["date"],
                                    p["machine"]["loadavg_at_start"],
                                    p["machine"].get("loadavg_at_end"))
        for p in res.get("partial_runs", []))
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    with open(path) as f:
        doc = f.read()
    block = "\n".join([
        "<!-- bench/run.sh writes between these markers -->",
        "Last run: %s on %d cores (%s), %s, redis %s, %s; load average %s at the start, %s at "
        "the end (the machine is shared: see the noise note). Command: `bench/run.sh --mb %g "
        "--reps %d --keys-1m %d` (%.0f s)." % (
            m["date"], m["nproc"], m["cpu"], m["kernel"], m["redis"], m["rustc"],
            m["loadavg_at_start"], m["loadavg_at_end"], a.mb, a.reps, a.keys_1m,
            res["wall_secs"]) + later,
        "",
        tab,
        "<!-- end of generated block -->",
    ])
    doc = re.sub(r"<!-- bench/run.sh writes between these markers -->.*?"
                 r"<!-- end of generated block -->", lambda _: block, doc, flags=re.S)
    with open(path, "w") as f:
        f.write(doc)
    log("wrote %s" % path)


if __name__ == "__main__":
    main()
