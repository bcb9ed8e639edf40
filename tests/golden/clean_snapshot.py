# Writes a cache-compat snapshot (the format documented in src/source.rs: gzip JSON lines, a header
# line, then one hex-encoded value a line) whose values are pickled by the running interpreter's
# own pickler. Run by a real Python 2.7: every value is one that survives 2.7 <-> 3.x with a
# protocol-2 writer on both sides (unicode text, ints, floats, None, bools, lists, dicts).
# usage: python2.7 clean_snapshot.py OUT.snapshot
import binascii, gzip, json, sys
try:
    import cPickle as pickle
except ImportError:
    import pickle

values = [
    ("user:1:name", u"caf\xe9"),
    ("user:2:name", u"na\xefve \u2603"),
    ("user:3:name", u"plain"),
    ("counter:1", 42),
    ("counter:2", -7),
    ("ratio:1", 0.25),
    ("flags:1", [True, False, None]),
    ("profile:1", {u"name": u"Zo\xeb", u"age": 31, u"tags": [u"a", u"b"]}),
]

out = gzip.open(sys.argv[1], "wb")
out.write((json.dumps({"cache_compat_snapshot": 1, "source": "clean_snapshot.py"}) + "\n").encode("ascii"))
for key, value in values:
    line = {
        "key": binascii.hexlify(key.encode("ascii")).decode("ascii"),
        "type": "string",
        "field": None,
        "ttl_ms": None,
        "value": binascii.hexlify(pickle.dumps(value, 2)).decode("ascii"),
    }
    out.write((json.dumps(line) + "\n").encode("ascii"))
out.close()
