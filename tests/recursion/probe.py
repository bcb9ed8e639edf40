"""The real pickler at its recursion limit (tests/recursion.rs).

    python probe.py read  < requests   (one JSON object a line: {"pickle": HEX, "protocol": P})
    python probe.py write N            (prints the hex of a list nested N deep, pickled at
                                        protocol 2 with the recursion limit raised, on a big stack)

`read` loads each pickle and dumps what it got at protocol P, at the default recursion limit, from
the script's top level (the loop below runs in the module's frame: the shallowest stack a caller
of dumps has), with cPickle on 2.7 and the C pickle on 3.x. Answers, one a line:
{"ok": true, "dump": HEX} or {"ok": false, "error": "Type: message"}.
"""
import binascii
import json
import sys

try:
    import cPickle as pickle
except ImportError:
    import pickle

if sys.argv[1] == "write":
    import threading

    n = int(sys.argv[2])
    out = []

    def write():
        x = []
        for _ in range(n):
            x = [x]
        sys.setrecursionlimit(10 * n + 1000)
        out.append(pickle.dumps(x, 2))

    threading.stack_size(512 << 20)
    t = threading.Thread(target=write)
    t.start()
    t.join()
    sys.stdout.write(binascii.hexlify(out[0]).decode("ascii") + "\n")
    sys.exit(0)

assert sys.getrecursionlimit() == 1000
for line in sys.stdin.read().splitlines():
    req = json.loads(line)
    value = pickle.loads(binascii.unhexlify(req["pickle"].encode("ascii")))
    try:
        ans = {"ok": True, "dump": binascii.hexlify(pickle.dumps(value, req["protocol"])).decode("ascii")}
    except Exception as e:
        ans = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
    del value
    sys.stdout.write(json.dumps(ans) + "\n")
    sys.stdout.flush()
