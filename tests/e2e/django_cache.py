"""Django's cache layers, for real, under the interpreter running this script (tests/django.rs).

LAYER (argv[2]) is one of
  django               Django's built-in RedisCache (django.core.cache.backends.redis, Django >= 4.0,
                       so Python >= 3.8). On 3.6 and 3.7, where no Django with that backend runs,
                       the same RedisSerializer code (copied below from Django 5.1, identical in 4.2)
                       runs over redis-py: `int(data)` else `pickle.loads(data)`; ints written as
                       digits, everything else `pickle.dumps(value, pickle.HIGHEST_PROTOCOL)`.
  django-redis         django-redis's RedisCache with OPTIONS COMPRESSOR ZlibCompressor and the
                       default PICKLE_VERSION (5.1+: pickle.DEFAULT_PROTOCOL; <= 5.0: -1)
  django-redis-highest the same with OPTIONS PICKLE_VERSION = -1 (HIGHEST_PROTOCOL)

Modes (argv[1]):
  fill LAYER HOST PORT PREFIX   cache.set(PREFIX + name, value) for each test value (so the Redis
                                key is ":1:" + PREFIX + name, Django's default KEY_FUNCTION)
  read LAYER HOST PORT KEY...   for each Redis key (":1:..."): cache.get of it through the layer ->
                                {"key", "ok", "error", "repr"} ("repr": canon(value)); when it loaded, writes it back with
                                cache.set under "wb:<runtime>:<name>" and reports that Redis key as
                                "written_back"
Answers are JSON lines on stdout. Run it as a script: it imports itself as the module
`django_cache`, so that the application class below pickles as `django_cache.Profile` on every side.
"""
import datetime
import decimal
import json
import pickle
import sys
import uuid

from oracle_text import error_text, repr_canon

RUNTIME = "%d.%d" % sys.version_info[:2]
MISSING = object()


class Profile(object):
    """An application class (pickled by reference to this module, as an app's model would be)."""

    def __init__(self, name, joined, tags):
        self.name = name
        self.joined = joined
        self.tags = tags

    def __eq__(self, other):
        return type(other) is Profile and self.__dict__ == other.__dict__

    def __repr__(self):
        return "Profile(%r, %r, %r)" % (self.name, self.joined, self.tags)


def values():
    v = {
        "text_cjk": u"\u6771\u4eac\u306e\u5929\u6c17 \u2600 \U0001f600 caf\xe9",
        "page_text": u"Nothing to see here. " * 30 + u"It\u2019s fixed. \u4e2d\u6587 \U0001f680",
        "short": u"hi",
        "payload_bytes": b"\x00\xff\x80 binary \xe2\x80\x99",
        "session": {
            "user": u"bob",
            "name": u"Jos\xe9 \u4e2d\u6587",
            "id": 7,
            "roles": [u"admin", u"\u7ba1\u7406\u8005"],
            "token": b"\x8a\x01\xfe",
        },
        "when": datetime.datetime(2020, 1, 2, 3, 4, 5, 600),
        "when_utc": datetime.datetime(2021, 6, 7, 8, 9, 10, tzinfo=datetime.timezone.utc),
        "day": datetime.date(1999, 12, 31),
        "price": decimal.Decimal("19.99"),
        "ident": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "count": 42,
        "negative": -5,
        "big": 2 ** 70,
        "flag": True,
        "nothing": None,
        "ratio": 1.5,
        "mixed": ({u"b", u"a"}, frozenset([1, 2]), (1, u"\xe9"), [None, False]),
        "profile": Profile(u"Zo\xeb \u5f20", datetime.date(2020, 2, 29), [u"x", u"\U0001f600"]),
    }
    if sys.version_info >= (3, 9):
        # Django >= 4.0 makes timezone-aware datetimes with zoneinfo (a module 3.8 does not have).
        import zoneinfo

        v["when_paris"] = datetime.datetime(
            2022, 3, 4, 5, 6, 7, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")
        )
    return v


def canon(v):
    return repr_canon(v, __name__)


class RedisSerializer(object):
    """django/core/cache/backends/redis.py (Django 5.1; 4.2 is the same), for 3.6 and 3.7."""

    def __init__(self, protocol=None):
        self.protocol = pickle.HIGHEST_PROTOCOL if protocol is None else protocol

    def dumps(self, obj):
        if type(obj) is int:
            return obj
        return pickle.dumps(obj, self.protocol)

    def loads(self, data):
        try:
            return int(data)
        except ValueError:
            return pickle.loads(data)


class CopiedDjangoRedisCache(object):
    """Django's RedisCache get/set where Django >= 4.0 cannot run: redis-py + RedisSerializer."""

    def __init__(self, host, port):
        import redis

        self.client = redis.Redis(host=host, port=port)
        self.serializer = RedisSerializer()

    def get(self, name, default=None):
        value = self.client.get(":1:" + name)
        if value is None:
            return default
        return self.serializer.loads(value)

    def set(self, name, value):
        self.client.set(":1:" + name, self.serializer.dumps(value))


def open_cache(layer, host, port):
    location = "redis://%s:%d/0" % (host, port)
    if layer == "django":
        if sys.version_info < (3, 8):
            return CopiedDjangoRedisCache(host, port)
        conf = {"BACKEND": "django.core.cache.backends.redis.RedisCache"}
    elif layer in ("django-redis", "django-redis-highest"):
        options = {"COMPRESSOR": "django_redis.compressors.zlib.ZlibCompressor"}
        if layer == "django-redis-highest":
            options["PICKLE_VERSION"] = -1
        conf = {"BACKEND": "django_redis.cache.RedisCache", "OPTIONS": options}
    else:
        raise SystemExit("unknown layer %r" % layer)
    conf["LOCATION"] = location
    conf["TIMEOUT"] = None
    from django.conf import settings

    settings.configure(CACHES={"default": conf}, USE_TZ=True)
    from django.core.cache import caches

    return caches["default"]


def main():
    mode, layer, host, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    cache = open_cache(layer, host, port)
    if mode == "fill":
        prefix = sys.argv[5]
        for name, value in sorted(values().items()):
            cache.set(prefix + name, value)
        return
    for key in sys.argv[5:]:
        assert key.startswith(":1:"), key
        name = key[3:]
        out = {"key": key}
        try:
            value = cache.get(name, MISSING)
            if value is MISSING:
                raise SystemExit("%s: no such key" % key)
            out["ok"] = True
            out["repr"] = canon(value)
        except Exception as e:
            out["ok"] = False
            out["error"] = error_text(e)
        if out["ok"]:
            wb = "wb:%s:%s" % (RUNTIME, name)
            cache.set(wb, value)
            out["written_back"] = ":1:" + wb
        sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    # Import this file as the module `django_cache` (its directory is sys.path[0]) so that Profile
    # pickles as django_cache.Profile, importable by every reader.
    import django_cache

    django_cache.main()
