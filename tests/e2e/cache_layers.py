"""More cache layers, for real, under the interpreter running this script (tests/envelopes.rs).
Works on Python 2.7 and 3.x.

LAYER (argv[2]) is one of
  cachelib        cachelib.RedisCache (key_prefix ''): `!` + pickle; ints pickled or ASCII digits
                  depending on the installed cachelib version
  flask-caching   flask_caching.backends.rediscache.RedisCache (key_prefix ''), used as Flask-Caching
                  uses it (no app needed): `!` + pickle; its own dump_object or cachelib's
                  serializer, by the installed versions
  dogpile         dogpile.cache region on the `dogpile.cache.redis` backend (key = name)
  beaker          Beaker CacheManager(type='ext:redis'), namespace "ns": key beaker_cache:ns:<name>
  celery-result   Celery's redis result backend with result_serializer='pickle':
                  backend.store_result(PREFIX+name, value, 'SUCCESS') -> key celery-task-meta-<id>;
                  read with backend.get_task_meta(id)['result']
  celery-broker   Celery app.send_task('tasks.echo', args=(value,), serializer='pickle',
                  queue=PREFIX+name): one kombu message in the Redis list PREFIX+name; read with
                  kombu's own Message and its registered pickle decoder

Modes (argv[1]):
  fill LAYER HOST PORT PREFIX   writes each test value under PREFIX + name through the layer
  read LAYER HOST PORT KEY...   for each Redis key (list: each item, field = its index): what the
                                layer gets -> {"key", "field", "ok", "error", "repr", "exact",
                                "small_long"} (see canon), "none" (it got None); when it
                                loaded, writes the value back through the layer under
                                "wb:<runtime>:<name>" and reports that Redis key as "written_back"
  raw LAYER HOST PORT KEY...    list keys only: {"key", "field", "hex"} per item (the bytes kombu
                                stored, for a cache-compat snapshot)
"error" is what the layer raises, `Type: message` (module-qualified outside builtins). kombu wraps
decode errors in kombu.exceptions.DecodeError(str(original)); "error" is the original (from the
decoder kombu registered for the content type), "layer_error" the wrapped one.
Answers are JSON lines on stdout. Run it as a script: it imports itself as `cache_layers`, so that
Profile pickles as cache_layers.Profile on every side.
"""
import binascii
import collections
import datetime
import decimal
import json
import sys

from oracle_text import error_text

PY2 = sys.version_info[0] == 2
RUNTIME = "%d.%d" % sys.version_info[:2]
if PY2:
    text_type = unicode  # noqa: F821
    integer_types = (int, long)  # noqa: F821
else:
    text_type = str
    integer_types = (int,)


class Profile(object):
    """An application class (pickled by reference to this module, as an app's model would be)."""

    def __init__(self, name, joined, tags):
        self.name = name
        self.joined = joined
        self.tags = tags


def values():
    v = {
        "text_cjk": u"\u6771\u4eac\u306e\u5929\u6c17 \u2600 \U0001f600 caf\xe9",
        "page_text": u"Nothing to see here. " * 30 + u"It\u2019s fixed. \u4e2d\u6587",
        "short": u"hi",
        "native_ascii": "plain ascii str",
        "session": {
            "user": u"bob",
            "name": u"Jos\xe9 \u4e2d\u6587",
            "id": 7,
            "roles": [u"admin", u"\u7ba1\u7406\u8005"],
        },
        "when": datetime.datetime(2020, 1, 2, 3, 4, 5, 600),
        "day": datetime.date(1999, 12, 31),
        "price": decimal.Decimal("19.99"),
        "count": 42,
        "negative": -5,
        "big": 2 ** 70,
        "epoch_ms": 1600000000000,
        "flag": True,
        "nothing": None,
        "ratio": 1.5,
        "mixed": (set([u"b", u"a"]), frozenset([1, 2]), (1, u"\xe9"), [None, False]),
        "ordered": collections.OrderedDict([(u"z", 1), (u"a", 2)]),
        "profile": Profile(u"Zo\xeb \u5f20", datetime.date(2020, 2, 29), [u"x", u"\U0001f600"]),
    }
    if PY2:
        # py2 byte strings: a UTF-8 one (what py2 apps cached all the time) and a binary one.
        v["native_utf8"] = "caf\xc3\xa9 cr\xc3\xa8me"
        v["payload_bytes"] = "\x00\xff\x80 binary"
        v["bytes_keys"] = {"name": u"x", "id": 1}
        v["token_ascii"] = "abc123"
    else:
        v["native_utf8"] = u"caf\xe9 cr\xe8me"
        v["payload_bytes"] = b"\x00\xff\x80 binary"
        v["token_ascii"] = b"abc123"
    return v


SMALL_LONGS = []


def canon(v, exact=False):
    """A rendering that compares across py2 and py3 the way cache-compat compares values: a py2
    str of ASCII is the same text as a unicode/py3 str, a long the same number as an int; dicts
    and sets compare as mappings and sets (any order). With exact=True (for comparing two values
    of the same runtime, as a round trip does) py2 str, unicode, int and long stay apart; the
    longs py2 itself would have as int (py3 wrote them as LONG) are noted in SMALL_LONGS."""
    c = lambda x: canon(x, exact)  # noqa: E731
    if v is None or isinstance(v, bool):
        return repr(v)
    if isinstance(v, integer_types):
        if PY2 and isinstance(v, long) and -sys.maxint - 1 <= v <= sys.maxint:  # noqa: F821
            SMALL_LONGS.append(v)
            if exact:
                return "%dL" % v
        return "%d" % v
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, text_type):
        return ("u" if exact and PY2 else "t") + json.dumps(v)
    if isinstance(v, bytes):
        if PY2:
            try:
                return ("s" if exact else "t") + json.dumps(v.decode("ascii"))
            except UnicodeDecodeError:
                pass
        return "b" + binascii.hexlify(v).decode("ascii")
    if isinstance(v, (set, frozenset)):
        return "%s{%s}" % (type(v).__name__, ", ".join(sorted(c(x) for x in v)))
    if isinstance(v, collections.OrderedDict):
        return "OrderedDict[%s]" % ", ".join("%s: %s" % (c(k), c(x)) for k, x in v.items())
    if isinstance(v, dict):
        return "{%s}" % ", ".join(sorted("%s: %s" % (c(k), c(x)) for k, x in v.items()))
    if isinstance(v, list):
        return "[%s]" % ", ".join(c(x) for x in v)
    if isinstance(v, tuple):
        return "(%s,)" % ", ".join(c(x) for x in v)
    if type(v).__module__ == __name__:
        return "%s(%s)" % (type(v).__name__, c(v.__dict__))
    return repr(v)


MISSING = object()


class Layer(object):
    """get(redis key) -> value or raises; set(name, value) -> the Redis key written."""

    def __init__(self, layer, host, port):
        import redis

        self.layer = layer
        self.url = "redis://%s:%d/0" % (host, port)
        self.redis = redis.StrictRedis(host=host, port=port)
        if layer == "cachelib":
            from cachelib import RedisCache

            self.cache = RedisCache(host=host, port=port, key_prefix="", default_timeout=0)
        elif layer == "flask-caching":
            from flask_caching.backends.rediscache import RedisCache

            self.cache = RedisCache(host=host, port=port, key_prefix="", default_timeout=0)
        elif layer == "dogpile":
            from dogpile.cache import make_region

            self.cache = make_region().configure(
                "dogpile.cache.redis", arguments={"host": host, "port": port, "db": 0}
            )
        elif layer == "beaker":
            from beaker.cache import CacheManager

            self.cache = CacheManager(type="ext:redis", url=self.url).get_cache("ns")
        elif layer in ("celery-result", "celery-broker"):
            from celery import Celery

            app = Celery("cache_layers", broker=self.url, backend=self.url)
            app.conf.update(
                task_serializer="pickle",
                result_serializer="pickle",
                accept_content=["pickle", "json"],
                result_accept_content=["pickle", "json"],
            )
            self.app = app
        else:
            raise SystemExit("unknown layer %r" % layer)

    def set(self, name, value):
        if self.layer in ("cachelib", "flask-caching"):
            self.cache.set(name, value)
            return name
        if self.layer == "dogpile":
            self.cache.set(name, value)
            return name
        if self.layer == "beaker":
            self.cache.put(name, value)
            return "beaker_cache:ns:" + name
        if self.layer == "celery-result":
            self.app.backend.store_result(name, value, "SUCCESS")
            return "celery-task-meta-" + name
        # celery-broker: one message on the queue (a Redis list) named after the value.
        self.app.send_task("tasks.echo", args=(value,), queue=name, serializer="pickle")
        return name

    def get(self, key, item=None):
        if self.layer in ("cachelib", "flask-caching"):
            if not self.redis.exists(key):
                raise SystemExit("%s: no such key" % key)
            return self.cache.get(key)
        if self.layer == "dogpile":
            from dogpile.cache.api import NO_VALUE

            v = self.cache.get(key)
            if v is NO_VALUE:
                raise LookupError("dogpile returned NO_VALUE for a key that exists")
            return v
        if self.layer == "beaker":
            prefix = "beaker_cache:ns:"
            assert key.startswith(prefix), key
            return self.cache.get(key[len(prefix):])
        if self.layer == "celery-result":
            prefix = "celery-task-meta-"
            assert key.startswith(prefix), key
            return self.decode_errors(lambda: self.app.backend.get_task_meta(key[len(prefix):]),
                                      self.raw_result(key))["result"]
        return self.broker_get(item)

    def raw_result(self, key):
        raw = self.redis.get(key)
        return (raw, "application/x-python-serialize", "binary")

    def broker_get(self, item):
        conn = self.app.connection_for_read()
        chan = conn.default_channel
        payload = json.loads(item)
        message = chan.Message(payload, channel=chan)
        from kombu.serialization import loads

        raw = (message.body, message.content_type, message.content_encoding)
        # What a Celery worker's consumer does with accept_content=['pickle', 'json'].
        accept = ["application/x-python-serialize", "application/json"]
        args = self.decode_errors(lambda: loads(*raw, accept=accept), raw)
        return args[0][0]

    @staticmethod
    def decode_errors(call, raw):
        """Run kombu's decode; on a DecodeError, find the original exception by calling the
        decoder kombu registered for the content type (kombu.serialization.registry)."""
        from kombu.exceptions import DecodeError
        from kombu.serialization import registry

        try:
            return call()
        except DecodeError as wrapped:
            data, ctype, _ = raw
            try:
                registry._decoders[ctype](data)
            except Exception as e:
                e.layer_error = error_text(wrapped)
                raise e
            raise


def main():
    mode, layer, host, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    cache = Layer(layer, host, port)
    if mode == "fill":
        prefix = sys.argv[5]
        for name, value in sorted(values().items()):
            cache.set(prefix + name, value)
        return
    for key in sys.argv[5:]:
        if layer == "celery-broker":
            items = [(str(i), x) for i, x in enumerate(cache.redis.lrange(key, 0, -1))]
        else:
            items = [(None, None)]
        for field, item in items:
            out = {"key": key, "field": field}
            if mode == "raw":
                out["hex"] = binascii.hexlify(item).decode("ascii")
                sys.stdout.write(json.dumps(out) + "\n")
                continue
            try:
                value = cache.get(key, item)
                out["ok"] = True
                out["none"] = value is None
                out["repr"] = canon(value)
                del SMALL_LONGS[:]
                out["exact"] = canon(value, exact=True)
                out["small_long"] = bool(SMALL_LONGS)
            except Exception as e:
                out["ok"] = False
                out["error"] = error_text(e)
                if getattr(e, "layer_error", None):
                    out["layer_error"] = e.layer_error
            if out["ok"]:
                for p in ("celery-task-meta-", "beaker_cache:ns:"):
                    if key.startswith(p):
                        key = key[len(p):]
                out["written_back"] = cache.set("wb:%s:%s" % (RUNTIME, key), value)
            sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    import cache_layers

    cache_layers.main()
