"""The incident's cache layer, for real: Werkzeug 0.16.1's RedisCache (redis-py 3.5.3) under the
interpreter running this script (2.7 or 3.x). Modes (argv[1]):

  fill HOST PORT PREFIX   writes the test values under keys PREFIX<name> through cache.set
  read HOST PORT KEY...   for each key: what this runtime's cache layer does with the stored value:
                          RedisCache.load_object (what RedisCache.get calls) -> {"key", "ok",
                          "error", "none": it returned None}; then, when it loaded, writes the value
                          back through cache.set under "wb:<runtime>:<key>" (a key of the test's
                          own server) and reports that key
Answers are JSON lines on stdout.
"""
import datetime
import json
import sys

from werkzeug.contrib.cache import RedisCache

from oracle_text import error_text

PY2 = sys.version_info[0] == 2


def values():
    v = {}
    if PY2:
        v["page_utf8"] = "Nothing to see here. " * 40 + "It\xe2\x80\x99s fixed."
        v["title_ascii"] = "Release notes"
        v["name_unicode"] = u"Jos\xe9 \u4e2d\u6587 \U0001f600"
        v["session"] = {"user": "bob", "name": "caf\xc3\xa9", "id": 7, "roles": ["admin"]}
        v["big_long"] = 2 ** 70
    else:
        v["page_text"] = "Nothing to see here. " * 40 + "It\u2019s fixed."
        v["payload_bytes"] = b"\x00\xff\x80 binary"
        v["session"] = {"user": "bob", "name": "caf\xe9", "id": 7, "roles": ["admin"]}
    v["when"] = datetime.datetime(2020, 1, 2, 3, 4, 5, 600)
    v["count"] = 42
    v["flags"] = [True, None, 1.5]
    return v


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cache = RedisCache(host=host, port=port, default_timeout=0)
    if mode == "fill":
        prefix = sys.argv[4]
        for name, value in sorted(values().items()):
            cache.set(prefix + name, value)
        return
    runtime = "%d.%d" % sys.version_info[:2]
    for key in sys.argv[4:]:
        raw = cache._client.get(key)
        out = {"key": key}
        try:
            # What RedisCache.get does with the stored bytes: `!` + pickle.loads, where a
            # pickle.PickleError is caught and gives None (a miss); otherwise int(value).
            value = cache.load_object(raw)
            out["ok"] = True
            out["none"] = value is None
        except Exception as e:
            out["ok"] = False
            out["error"] = error_text(e)
        if out["ok"]:
            wb = "wb:%s:%s" % (runtime, key)
            cache.set(wb, value)
            out["written_back"] = wb
        sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
