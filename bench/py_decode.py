# CPython's side of the decode benchmark: times pickle.loads (the C unpickler) and
# pickletools.genops over the same records bench/decode.rs reads, in process, single thread.
#
#   python3.11 py_decode.py DIR [--reps N] [--label mixed]
#
# Prints one JSON object {label: {"pickle.loads": {...}, "pickletools.genops": {...}}}; "secs" is
# the median CPU time of the thread (the machine is shared), "wall_secs" the wall-clock times.
# pickle.loads uses encoding='latin1' so that py2 str values (datetime states, UTF-8 bytes) load
# as they do in a migrated app that sets it; values that still raise are counted as failures.
import json
import os
import pickle
import pickletools
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def records(d):
    out = []
    for name in sorted(os.listdir(d)):
        if not name.endswith(".rec"):
            continue
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        i = 0
        while i + 4 <= len(data):
            (n,) = struct.unpack_from("<I", data, i)
            out.append(data[i + 4:i + 4 + n])
            i += 4 + n
    return out


def loads(b):
    try:
        pickle.loads(b, encoding="latin1")
        return True
    except Exception:
        return False


def genops(b):
    try:
        for _ in pickletools.genops(b):
            pass
        return True
    except Exception:
        return False


def main():
    d = sys.argv[1]
    reps = 3
    label = "mixed"
    skip_genops = False
    args = sys.argv[2:]
    while args:
        a = args.pop(0)
        if a == "--reps":
            reps = int(args.pop(0))
        elif a == "--label":
            label = args.pop(0)
        elif a == "--no-genops":
            skip_genops = True
    vals = records(d)
    total = sum(len(v) for v in vals)
    res = {}
    fns = [("pickle.loads", loads)]
    if not skip_genops:
        fns.append(("pickletools.genops", genops))
    for name, fn in fns:
        secs, walls = [], []
        fails = 0
        for _ in range(reps):
            fails = 0
            t, w = time.thread_time(), time.perf_counter()
            for v in vals:
                if not fn(v):
                    fails += 1
            secs.append(time.thread_time() - t)
            walls.append(time.perf_counter() - w)
        med = sorted(secs)[(len(secs) - 1) // 2]
        res[name] = {"secs": med, "all_secs": secs, "wall_secs": walls, "bytes": total, "values": len(vals),
                     "mb_per_s": total / 1e6 / med, "failures": fails}
        sys.stderr.write("%-6s %-20s %9.1f MB/s (%d values, %.1f MB, %d failed)\n"
                         % (label, name, total / 1e6 / med, len(vals), total / 1e6, fails))
    print(json.dumps({label: res}))


if __name__ == "__main__":
    main()
