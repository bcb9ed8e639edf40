# The hand-written audit `scan` is measured against: redis-py, SCAN + MGET + pickle.loads, what a
# team would write in an afternoon. Run with redis==5.0.8 (and hiredis==3.5.0 when it is on the
# path: redis-py then parses replies with it), both pinned by bench/run.py.
#
#   python3.11 redispy_audit.py redis://127.0.0.1:PORT [--fetch-only]
#
# Prints {"keys": N, "bytes": B, "secs": S, "failures": F, "hiredis": bool, "redis": version}.
import json
import os
import pickle
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import redis  # noqa: E402

try:
    import hiredis  # noqa: F401
    HIREDIS = True
except ImportError:
    HIREDIS = False


def main():
    url = sys.argv[1]
    fetch_only = "--fetch-only" in sys.argv
    r = redis.Redis.from_url(url)
    keys = nbytes = failures = 0
    t = time.perf_counter()
    cursor = 0
    while True:
        cursor, batch = r.scan(cursor, count=1000)
        if batch:
            for v in r.mget(batch):
                if v is None:
                    continue
                keys += 1
                nbytes += len(v)
                if fetch_only:
                    continue
                try:
                    pickle.loads(v, encoding="latin1")
                except Exception:
                    failures += 1
        if cursor == 0:
            break
    secs = time.perf_counter() - t
    print(json.dumps({"keys": keys, "bytes": nbytes, "secs": secs, "failures": failures,
                      "hiredis": HIREDIS, "redis": redis.__version__}))


if __name__ == "__main__":
    main()
