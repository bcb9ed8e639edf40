# Writes part of the benchmark corpus with the interpreter that runs it (2.7 or 3.x).
#
#   python make_corpus.py OUTDIR TAG PROTOCOLS MB SEED [large]
#
# For each protocol in PROTOCOLS (comma separated) it writes OUTDIR/TAG-pN.rec: records of
# [u32 little-endian length][pickle bytes], realistic cache values (sessions, nested API
# responses, lists of strings, DB rows, unicode-heavy text, ints and floats,
# datetime/Decimal/set/OrderedDict, app-class instances, JSON-API responses of hundreds to thousands
# of item dicts with NaN and infinities, values that change between 2.7 and 3.x with the change at
# their end; small values, 2-40 KB fragments and 50-500 KB pages; py2 and py3 at protocol 0 too) until MB megabytes of pickles are written per protocol. With `large` it writes
# instead single large string values (1-4 MB text, ASCII and non-ASCII, and bytes).
import collections
import datetime
import decimal
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import appmodels  # noqa: E402

PY2 = sys.version_info[0] == 2
if PY2:
    import cPickle as pickle
    text_type = unicode  # noqa: F821
    unichr_ = unichr  # noqa: F821
    range_ = xrange  # noqa: F821
else:
    import pickle
    text_type = str
    unichr_ = chr
    range_ = range

ASCII_WORDS = (
    "the of and to in is you that it he was for on are as with his they at be this have from or "
    "one had by word but not what all were we when your can said there use an each which she do "
    "how their if will up other about out many then them these so some her would make like him "
    "into time has look two more write go see number no way could people my than first water "
    "been call who oil its now find long down day did get come made may part cache session user "
    "order price invoice account token redis python deploy server request response status"
).split()
UNI_WORDS = [
    u"caf\u00e9", u"na\u00efve", u"r\u00e9sum\u00e9", u"\u00fcber", u"Stra\u00dfe",
    u"\u0645\u0631\u062d\u0628\u0627", u"\u043f\u0440\u0438\u0432\u0435\u0442",
    u"\u4f60\u597d", u"\u65e5\u672c\u8a9e", u"\uc548\ub155", u"\u2014", u"\u20ac",
    u"\U0001f600", u"\U0001f680", u"\u00bfqu\u00e9?", u"Ol\u00e1", u"\u0160koda",
]


class Gen(object):
    def __init__(self, seed):
        self.r = random.Random(seed)

    def word(self):
        return self.r.choice(ASCII_WORDS)

    def s(self, n=None):
        """A py2 str (bytes) or py3 str of ASCII words."""
        n = n or self.r.randint(1, 6)
        return " ".join(self.word() for _ in range_(n))

    def u(self, n=None, uni=0.2):
        """Text with non-ASCII words (unicode on both)."""
        n = n or self.r.randint(1, 12)
        out = []
        for _ in range_(n):
            out.append(self.r.choice(UNI_WORDS) if self.r.random() < uni else text_type(self.word()))
        return u" ".join(out)

    def py2_utf8(self, n=None):
        """On 2.7 a str holding UTF-8 (the incident's values); text on 3.x."""
        t = self.u(n)
        return t.encode("utf-8") if PY2 else t

    def dt(self):
        return datetime.datetime(2015 + self.r.randint(0, 10), self.r.randint(1, 12),
                                 self.r.randint(1, 28), self.r.randint(0, 23),
                                 self.r.randint(0, 59), self.r.randint(0, 59),
                                 self.r.randint(0, 999999))

    def dec(self):
        return decimal.Decimal("%d.%02d" % (self.r.randint(0, 99999), self.r.randint(0, 99)))

    def session(self):
        return {
            "_fresh": self.r.random() < 0.5,
            "_id": "%032x" % self.r.getrandbits(128),
            "user_id": self.r.randint(1, 10 ** 7),
            "csrf_token": "%040x" % self.r.getrandbits(160),
            "_flashes": [("message", self.py2_utf8(6)) for _ in range_(self.r.randint(0, 2))],
            "cart": [self.r.randint(1, 10 ** 6) for _ in range_(self.r.randint(0, 8))],
            "locale": self.r.choice(["en_US", "fr_FR", "de_DE", "ja_JP"]),
            "last_seen": self.dt(),
        }

    def json_like(self, depth, budget):
        """A nested API response (dicts, lists, strings, numbers, None, bools)."""
        r = self.r
        if depth <= 0 or budget[0] <= 0:
            c = r.random()
            budget[0] -= 12
            if c < 0.35:
                return self.s()
            if c < 0.45:
                return self.u(4)
            if c < 0.65:
                return r.randint(-1000, 10 ** 6)
            if c < 0.8:
                return r.random() * 1000
            if c < 0.9:
                return None
            return r.random() < 0.5
        if r.random() < 0.6:
            d = {}
            for _ in range_(r.randint(2, 8)):
                d[self.word() + "_" + self.word()] = self.json_like(depth - 1, budget)
            return d
        return [self.json_like(depth - 1, budget) for _ in range_(r.randint(1, 10))]

    def api(self, size):
        items = []
        budget = [size]
        while budget[0] > 0:
            items.append(self.json_like(4, budget))
        return {"status": "ok", "count": len(items), "items": items,
                "next": "/api/v2/items?page=%d" % self.r.randint(2, 500)}

    def api_items(self, size):
        """A JSON-API response: a list of hundreds to thousands of item dicts, some numbers NaN
        or infinite (what json.loads of a real API gives with allow_nan)."""
        r = self.r
        items, n = [], 0
        while n < size:
            score = r.random() * 100
            c = r.random()
            if c < 0.03:
                score = float("nan")
            elif c < 0.05:
                score = float("inf") if r.random() < 0.5 else float("-inf")
            items.append({
                "id": r.randint(1, 10 ** 9), "type": "article",
                "attributes": {"title": self.u(r.randint(2, 8)), "slug": self.s(2),
                               "score": score, "published": r.random() < 0.8,
                               "tags": [self.word() for _ in range_(r.randint(0, 4))]},
                "relationships": {"author": {"data": {"type": "user",
                                                      "id": str(r.randint(1, 10 ** 6))}}},
                "links": {"self": "/api/articles/%d" % r.randint(1, 10 ** 6)},
            })
            n += 260
        return {"data": items, "meta": {"count": len(items)},
                "links": {"next": "/api/articles?page=%d" % r.randint(2, 99)}}

    def changing(self, size):
        """Values whose verdict changes between 2.7 and 3.x, so that the explanation is timed
        too: ints past 32 bits (py3 writes LONG, which 2.7 reads as long), bytes (a py2 str on
        2.7), py2 UTF-8 str; the change sits at the end of a list of plain rows."""
        r = self.r
        out, n = [], 0
        while n < size:
            out.append({"id": r.randint(1, 10 ** 6), "name": self.s(2), "ok": True})
            n += 60
        tail = {"big": r.randint(2 ** 33, 2 ** 40), "name": self.py2_utf8(2)}
        if not PY2:
            tail["raw"] = bytes(bytearray(r.getrandbits(7) for _ in range_(16)))
        out.append(tail)
        return out

    def strings(self, size):
        out, n = [], 0
        while n < size:
            w = self.s(self.r.randint(1, 3)) if self.r.random() < 0.8 else self.u(3)
            out.append(w)
            n += len(w) + 3
        return out

    def rows(self, size):
        out, n = [], 0
        while n < size:
            row = (self.r.randint(1, 10 ** 9), self.s(2), "%s@example.com" % self.word(), self.dt(),
                   self.dec(), self.r.random() < 0.5, None, self.py2_utf8(3))
            out.append(row)
            n += 110
        return out

    def text(self, size):
        paras, n = [], 0
        while n < size:
            p = self.u(self.r.randint(20, 80), uni=0.35)
            paras.append(p)
            n += len(p) * 2
        return {"title": self.u(6), "lang": "mul", "body": u"\n\n".join(paras),
                "updated": self.dt()}

    def numbers(self, size):
        out, n = [], 0
        while n < size:
            c = self.r.random()
            if c < 0.5:
                out.append(self.r.randint(-2 ** 31, 2 ** 31))
            elif c < 0.6:
                out.append(self.r.getrandbits(self.r.randint(64, 200)))
            else:
                out.append(self.r.random() * 10 ** self.r.randint(-3, 9))
            n += 9
        return out

    def mixed(self, size):
        out, n = [], 0
        while n < size:
            od = collections.OrderedDict()
            for _ in range_(5):
                od[self.word()] = self.dec()
            out.append({
                "when": self.dt(), "day": self.dt().date(), "at": self.dt().time(),
                "amount": self.dec(), "tags": set(self.s(1) for _ in range_(4)),
                "frozen": frozenset([self.r.randint(0, 99) for _ in range_(3)]),
                "totals": od, "pair": (self.r.randint(0, 9), self.s(1)),
            })
            n += 420
        return out

    def instances(self, size):
        out, n = [], 0
        while n < size:
            u = appmodels.User(self.r.randint(1, 10 ** 7), self.py2_utf8(2),
                               "%s@example.com" % self.word(), [self.s(1) for _ in range_(2)],
                               {"theme": self.s(1), "tz": "Europe/Paris", "since": self.dt()})
            lines = [appmodels.OrderLine("SKU-%06d" % self.r.randint(0, 999999),
                                         self.r.randint(1, 9), self.dec(), self.s(3))
                     for _ in range_(self.r.randint(1, 4))]
            out.append({"user": u, "lines": lines})
            n += 450
        return out

    def value(self):
        r = self.r
        c = r.random()
        if c < 0.3:
            return self.session()
        if c < 0.9:
            size = r.randint(2000, 40000)
        else:
            size = r.randint(50000, 500000)
        kind = r.choice(["api", "api_items", "strings", "rows", "text", "numbers", "mixed",
                         "instances", "changing"])
        return getattr(self, kind)(size)

    def large(self):
        r = self.r
        n = r.randint(1, 4) << 20
        c = r.random()
        if c < 0.4:
            base = self.s(2000)
            return text_type((base * (n // len(base) + 1))[:n])
        if c < 0.8:
            base = self.u(2000, uni=0.3)
            return (base * (n // len(base) + 1))[:n // 2]
        return bytearray(r.getrandbits(8) for _ in range_(4096)) * (n // 4096) if PY2 else \
            bytes(r.getrandbits(8) for _ in range_(4096)) * (n // 4096)


def main():
    outdir, tag, protos, mb, seed = sys.argv[1:6]
    large = len(sys.argv) > 6 and sys.argv[6] == "large"
    target = int(float(mb) * 1e6)
    for p in [int(x) for x in protos.split(",")]:
        g = Gen("%s-%s-%d" % (seed, tag, p))
        path = os.path.join(outdir, "%s-p%d.rec" % (tag, p))
        tmp = path + ".tmp"
        n = 0
        with open(tmp, "wb") as f:
            while n < target:
                v = g.large() if large else g.value()
                if PY2 and isinstance(v, bytearray):
                    v = str(v)
                b = pickle.dumps(v, p)
                f.write(struct.pack("<I", len(b)))
                f.write(b)
                n += len(b)
        os.rename(tmp, path)


if __name__ == "__main__":
    main()
