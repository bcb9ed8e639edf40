# Seeded random values of the kinds the verdict's fast path takes (None, bools, ints, floats, py2
# str, text, lists, tuples, dicts, shared strings) and near misses (NaN, big ints, bytes, sets,
# datetimes, shared lists, deep nesting, py2 str of UTF-8), pickled by the real interpreter running
# this at each protocol it has; one hex pickle a line. Used by tests/fastpath.rs.
#   python gen.py SEED COUNT
import sys, random, pickle, binascii, datetime
if sys.version_info[0] == 2:
    import cPickle as pickle
PY2 = sys.version_info[0] == 2
if not PY2:
    long = int
seed, count = int(sys.argv[1]), int(sys.argv[2])
r = random.Random(seed)
TEXT = [u"a", u"caf\xe9", u"\u20ac", u"\U0001f600", u"back\\slash", u"new\nline", u"tab\t", u"\x00", u"q'\"", u"plain words"]

def text():
    return u"".join(r.choice(TEXT) for _ in range(r.randint(0, 4)))

def pystr():
    s = "".join(chr(r.randint(32, 126)) for _ in range(r.randint(0, 6)))
    if r.random() < 0.1:
        s += "\n\\"
    return s

def scalar(near):
    k = r.randint(0, 9 if near else 6)
    if k == 0: return None
    if k == 1: return r.random() < 0.5
    if k == 2: return r.randint(-2 ** 31, 2 ** 31 - 1) if r.random() < 0.5 else r.randint(-300, 300)
    if k == 3: return r.choice([0.0, -0.0, 1.5, 1e22, 3.14159, -2.5e-300, r.random()])
    if k == 4: return text()
    if k == 5: return pystr()
    if k == 6: return text() if r.random() < 0.5 else r.randint(0, 9)
    if k == 7: return r.choice([float("nan"), float("inf"), 2 ** 70, -2 ** 40, 2 ** 31, -2 ** 31 - 1,
                                2 ** 63 - 1, -2 ** 63, 2 ** 63, 2 ** 127 - 1, -2 ** 127, 2 ** 200])
    if k == 8: return r.choice([datetime.date(2020, 1, 2), b"\xc3\xa9", b"bytes", frozenset([1]),
                                (long(7) if PY2 else 7), (long(2 ** 40) if PY2 else 2 ** 40)])
    return u"caf\xe9".encode("utf-8") if PY2 else u"x"

def value(depth, near):
    if depth > 3 or r.random() < 0.3:
        return scalar(near)
    k = r.randint(0, 2)
    n = r.randint(0, 5)
    if k == 0:
        return [value(depth + 1, near) for _ in range(n)]
    if k == 1:
        return tuple(value(depth + 1, near) for _ in range(n))
    d = {}
    for _ in range(n):
        key = scalar(False)
        if isinstance(key, float) and key != key:
            continue
        d[key] = value(depth + 1, near)
    return d

protos = range(0, pickle.HIGHEST_PROTOCOL + 1)
out = []
for i in range(count):
    near = i % 4 == 0
    v = value(0, near)
    if i % 10 == 0:
        s = text() + u"shared"
        v = [v, s, s]
    if i % 37 == 0:
        inner = [1]
        v = [inner, inner]
    if i % 53 == 0:
        for _ in range(60):
            v = [v]
    for p in protos:
        out.append(binascii.hexlify(pickle.dumps(v, p)).decode("ascii"))
sys.stdout.write("\n".join(out) + "\n")
