"""The corpus values, for Python 2.7 and 3.6+ (one source file, ASCII only).

values() returns a list of (name, value). A name means "the same value" on every interpreter where it
exists: text_* is `unicode` on 2.7 and `str` on 3.x; pystr_* (py2 `str`) exists only on 2.7, bytes_*
(py3 `bytes`) only on 3.x. The large values (text_long, pystr_long_utf8, int_digits_*, *_1001) are
written by regen.py only at a few (writer, protocol) pairs (regen.HEAVY) to keep the corpus small.

Writer mode:  python values.py write c|py
  prints one JSON line per (value, protocol 0..HIGHEST_PROTOCOL):
  {"name", "protocol", "pickle": HEX} or {"name", "protocol", "error": E}
  ("c": cPickle on 2.7, the C _pickle on 3.x; "py": pickle on 2.7, pickle._dumps on 3.x).
"""
import collections
import datetime
import decimal
import os
import sys

sys.dont_write_bytecode = True
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import appmod  # noqa: E402

PY2 = sys.version_info[0] == 2

if PY2:
    _range = xrange  # noqa: F821
    _long = long  # noqa: F821
else:
    _range = range
    _long = int

def _text_long():
    # about 120 KB of UTF-8: mostly ASCII, a few non-ASCII code points spread through it
    chunk = u"lorem ipsum dolor sit amet, " * 40
    parts = []
    for i in range(100):
        parts.append(chunk)
        if i % 25 == 24:
            parts.append(u"caf\xe9 \u4e2d \U0001f600 ")
    return u"".join(parts)


def _pystr_long():
    # a 120 KB py2 str of ASCII with one UTF-8 sequence late in it (position 120000)
    return b"x" * 120000 + b"caf\xc3\xa9" + b"y" * 100


def values():
    v = []
    add = lambda name, value: v.append((name, value))

    # ---- None, bools
    add("none", None)
    add("bool_true", True)
    add("bool_false", False)

    # ---- text (py2 unicode, py3 str)
    add("text_empty", u"")
    add("text_latin1", u"caf\xe9 \xfc\xf1\xee\xff")
    add("text_utf8_cjk", u"\u4e2d\u6587 \u65e5\u672c\u8a9e \ud55c\uad6d\uc5b4")
    add("text_emoji", u"\U0001f600 \U0001f680 ok")
    add("text_rtl", u"\u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd")
    add("text_combining", u"e\u0301 a\u0308 n\u0303")
    add("text_c1_controls", u"\x01\x7f\x80\x9f\xa0")
    add("text_surrogate_lone_high", u"\ud800")
    add("text_surrogate_lone_low", u"\udcff")
    add("text_surrogate_pair", u"\ud83d\ude00")
    add("text_special_p0", u"a\nb\\c\rd\x00e\x1af")
    add("text_quotes_mixed", u"it's \"quoted\"")
    add("text_backslash_u", u"\\u0041 \\x41")
    add("text_long", _text_long())

    # ---- py2 str / py3 bytes
    if PY2:
        add("pystr_empty", b"")
        add("pystr_ascii", b"hello world")
        add("pystr_utf8", b"caf\xc3\xa9")
        add("pystr_latin1", b"\xe9t\xe9")
        add("pystr_binary", b"\x00\xff\xfe\x80")
        add("pystr_special_p0", b"a\nb\\c\rd\x00e")
        add("pystr_quote_single", b"it's")
        add("pystr_quotes_mixed", b"a'b\"c")
        add("pystr_len_255", b"s" * 255)
        add("pystr_len_256", b"s" * 256)
        add("pystr_long_utf8", _pystr_long())
        add("list_pystr_utf8_late", [b"x" * 50, b"ab\xe2cd"])
    else:
        add("bytes_empty", b"")
        add("bytes_ascii", b"hello world")
        add("bytes_utf8", u"caf\xe9".encode("utf-8"))
        add("bytes_binary", b"\x00\xff\xfe\x80")
        add("bytes_special_p0", b"a\nb\\c\rd\x00e'f\"g")
        add("bytes_len_255", b"s" * 255)
        add("bytes_len_256", b"s" * 256)

    # ---- ints at opcode boundaries
    add("int_0", 0)
    add("int_5", 5)
    add("int_m1", -1)
    add("int_255", 255)
    add("int_256", 256)
    add("int_65535", 65535)
    add("int_65536", 65536)
    add("int_2p31m1", 2 ** 31 - 1)
    add("int_2p31", 2 ** 31)
    add("int_m2p31", -2 ** 31)
    add("int_m2p31m1", -2 ** 31 - 1)
    add("int_2p40", 2 ** 40)
    add("int_2p63m1", 2 ** 63 - 1)
    add("int_2p63", 2 ** 63)
    add("int_2p64", 2 ** 64)
    add("int_2p1000", 2 ** 1000)
    add("int_digits_4300", 10 ** 4299 + 7)
    add("int_digits_4301", 10 ** 4300 + 7)
    if PY2:
        add("long_5", _long(5))

    # ---- floats, complex
    add("float_0", 0.0)
    add("float_m0", -0.0)
    add("float_1_5", 1.5)
    add("float_0_1", 0.1)
    add("float_1e300", 1e300)
    add("float_nan", float("nan"))
    add("float_inf", float("inf"))
    add("float_minf", float("-inf"))
    add("complex_1_2", complex(1.0, -2.5))

    # ---- containers
    add("list_empty", [])
    add("list_ints", [1, 2, 3])
    add("list_mixed", [1, u"a", None, 2.5, True, (1, 2)])
    add("list_1001", [0] * 1001)  # APPENDS batches of 1000
    add("tuple_empty", ())
    add("tuple_1", (1,))
    add("tuple_2", (1, u"b"))
    add("tuple_3", (1, 2, 3))
    add("tuple_4", (1, 2, 3, 4))
    add("dict_empty", {})
    add("dict_int_keys", {1: u"one", 2: u"two", -3: None})
    add("dict_text_keys", {u"name": u"caf\xe9", u"id": 1})
    # H3: native str keys; on 2.7 the value is a UTF-8 py2 str
    if PY2:
        add("dict_nativestr_keys", {b"name": b"caf\xc3\xa9", b"id": 1})
    else:
        add("dict_nativestr_keys", {"name": u"caf\xe9", "id": 1})
    add("dict_tuple_keys", {(1, 2): u"a", (): u"b"})
    add("dict_1001", dict((i, 0) for i in range(1001)))  # SETITEMS batches
    add("set_empty", set())
    add("set_ints", set([3, 1, 2]))
    add("set_text", set([u"b", u"a", u"c\xe9"]))
    add("frozenset_empty", frozenset())
    add("frozenset_ints", frozenset([1, 2, 3]))

    # ---- shared references and cycles
    x = [1]
    add("shared_list", [x, x])
    d = {u"k": 1}
    add("shared_dict_in_tuple", (d, d))
    t = (1, 2)
    add("shared_tuple", [t, t])
    o = appmod.New(1, u"x")
    add("shared_instance", [o, o])
    rl = []
    rl.append(rl)
    add("recursive_list", rl)
    rd = {}
    rd[u"self"] = rd
    add("recursive_dict", rd)
    inner = []
    rt = (inner,)
    inner.append(rt)
    add("recursive_tuple", rt)
    deep = []
    cur = deep
    for _ in range(20):
        nxt = []
        cur.append(nxt)
        cur = nxt
    add("list_deep_20", deep)

    # ---- datetime
    add("datetime_2020", datetime.datetime(2020, 1, 2, 3, 4, 5))
    add("datetime_2020_us", datetime.datetime(2020, 1, 2, 3, 4, 5, 6))
    add("date_2020", datetime.date(2020, 1, 2))
    add("time_345", datetime.time(3, 4, 5))
    add("time_345_200", datetime.time(3, 4, 5, 200))
    add("timedelta", datetime.timedelta(1, 2, 3))
    if hasattr(datetime, "timezone"):
        add("datetime_utc", datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc))
    if sys.version_info >= (3, 6):
        add("datetime_fold1", datetime.datetime(2020, 1, 2, 3, 4, 5, fold=1))

    # ---- other stdlib types
    add("decimal_1_10", decimal.Decimal("1.10"))
    add("ordereddict", collections.OrderedDict([(u"b", 1), (u"a", 2)]))
    dd = collections.defaultdict(list)
    dd[u"a"].append(1)
    add("defaultdict_list", dd)
    add("deque_maxlen", collections.deque([1, 2], maxlen=5))
    add("bytearray_ab", bytearray(b"ab\xff"))
    add("range_3", _range(3))
    add("global_len", len)
    add("global_class_new", appmod.New)

    # ---- exceptions
    add("exc_valueerror", ValueError("boom"))

    # ---- application instances
    add("app_new", appmod.New(1, "x"))
    add("app_old", appmod.Old(1, "x"))
    add("app_new_nested", appmod.New([1, 2], {u"k": appmod.Old(None, 2.5)}))

    # ---- coverage: the values real apps cache (see _app_values)
    v.extend(_app_values())

    # ---- a web session: a dict of mixed values under native str keys
    add("session_mixed", {
        "user_id": 42,
        "name": u"Jos\xe9 \u4e2d",
        "roles": ["admin", "user"],
        "last_login": datetime.datetime(2020, 1, 2, 3, 4, 5, 6),
        "expires": datetime.date(2020, 2, 1),
        "prefs": collections.OrderedDict([("lang", "en"), ("tz", "UTC")]),
        "cart": [appmod.New(1, "x")],
        "balance": decimal.Decimal("10.50"),
        "tags": set(["a", "b"]),
        "csrf": b"\x00\x9f\xc3(",
        "flash": (),
        "ratio": 0.1,
    })
    return v


def _opt_import(name):
    try:
        return __import__(name)
    except ImportError:
        return None


def _app_values():
    """Values real caches hold beyond the basics: stdlib containers and reconstructors, app classes."""
    import array
    import fractions
    import functools
    import re
    import time
    import uuid
    ipaddress = _opt_import("ipaddress")
    pathlib = _opt_import("pathlib")
    zoneinfo = _opt_import("zoneinfo")
    v = []
    add = lambda name, value: v.append((name, value))

    # collections
    add("odict_empty", collections.OrderedDict())
    add("odict_nested", collections.OrderedDict([(1, collections.OrderedDict([(u"x", [1])])),
                                                 ((1, 2), None)]))
    for fac_name, fac in (("int", int), ("list", list), ("set", set), ("none", None)):
        dd = collections.defaultdict(fac)
        if fac is int:
            dd[u"a"] += 2
        elif fac is list:
            dd[u"a"].append(1)
        elif fac is set:
            dd[u"a"].add(1)
        else:
            dd[u"a"] = 3
        add("ddict_%s" % fac_name, dd)
    add("ddict_int_empty", collections.defaultdict(int))
    add("deque_plain", collections.deque([1, u"a"]))
    add("deque_empty", collections.deque())
    add("deque_maxlen_0", collections.deque([], maxlen=0))
    add("counter", collections.Counter({u"a": 2, u"b": 1}))
    add("namedtuple", appmod.Point(1, u"y"))
    add("list_namedtuples", [appmod.Point(1, 2), appmod.Point(3, 4)])

    # enums (app-defined; 2.7 has plain stand-ins that load py3's pickles, and writes none)
    if not PY2:
        add("enum_member", appmod.Color.RED)
        add("enum_member_str", appmod.Color.GREEN)
        add("intenum_member", appmod.Level.HIGH)
        add("dict_enum_keys", {appmod.Level.LOW: u"low", appmod.Color.RED: 1})

    # numbers
    for dname, ds in (("nan", "NaN"), ("snan", "sNaN"), ("inf", "Infinity"), ("minf", "-Infinity"),
                      ("m0", "-0"), ("exp", "1.23E+30"), ("small", "-1E-30"), ("long", "3.14159265358979323846264338327950288")):
        add("decimal_" + dname, decimal.Decimal(ds))
    add("fraction", fractions.Fraction(1, 3))
    add("complex_nan_inf", complex(float("nan"), float("-inf")))
    add("complex_m0", complex(-0.0, 0.0))
    add("float_tiny", 5e-324)
    add("float_max", 1.7976931348623157e308)
    add("float_1e16", 1e16)
    add("float_1e22", 1e22)
    add("float_1em7", 1e-7)
    add("float_0_3", 0.1 + 0.2)
    add("float_m1_5", -1.5)
    add("int_m2p63", -2 ** 63)
    add("int_2p64m1", 2 ** 64 - 1)
    add("int_m2p64", -2 ** 64)
    add("int_m2p1000", -2 ** 1000)
    add("int_2p31_list", [2 ** 31, -2 ** 31 - 1, 2 ** 32])
    if PY2:
        add("long_0", _long(0))
        add("long_m1", _long(-1))
        add("long_2p64", _long(2) ** 64)

    # datetime with tzinfo
    td = datetime.timedelta
    add("timedelta_neg", td(-1, 5, 7))
    add("timedelta_max", td.max)
    add("timedelta_min", td.min)
    add("date_min", datetime.date.min)
    add("date_max", datetime.date.max)
    add("datetime_min", datetime.datetime.min)
    add("datetime_max", datetime.datetime.max)
    add("time_midnight", datetime.time(0))
    add("list_datetimes_shared", [datetime.datetime(2021, 5, 6), datetime.date(2021, 5, 6)] * 2)
    if hasattr(datetime, "timezone"):
        tz = datetime.timezone
        add("datetime_fixed_offset", datetime.datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=tz(td(hours=5, minutes=30))))
        add("datetime_neg_offset", datetime.datetime(2020, 1, 2, tzinfo=tz(td(hours=-8))))
        add("datetime_named_offset", datetime.datetime(2020, 1, 2, tzinfo=tz(td(hours=1), u"CET")))
        add("time_utc", datetime.time(3, 4, 5, tzinfo=tz.utc))
        add("timezone_utc", tz.utc)
        add("timezone_offset", tz(td(minutes=-90)))
        u = tz.utc
        add("datetimes_shared_utc", [datetime.datetime(2020, 1, 1, tzinfo=u), datetime.datetime(2020, 1, 2, tzinfo=u)])
    if zoneinfo is not None:
        z = zoneinfo.ZoneInfo("Europe/Paris")
        add("datetime_zoneinfo", datetime.datetime(2020, 6, 1, 12, tzinfo=z))
        add("zoneinfo", z)

    # other stdlib types
    add("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678"))
    add("list_uuids", [uuid.UUID(int=0), uuid.UUID(int=2 ** 128 - 1)])
    if ipaddress is not None:
        add("ipv4", ipaddress.IPv4Address(u"192.168.0.1"))
        add("ipv6", ipaddress.IPv6Address(u"::1"))
        add("ipv4_network", ipaddress.IPv4Network(u"10.0.0.0/8"))
        add("ipv4_interface", ipaddress.IPv4Interface(u"10.1.2.3/24"))
    if pathlib is not None:
        add("purepath", pathlib.PurePosixPath("/srv/app/x.txt"))
        add("posixpath", pathlib.PosixPath("/srv/app"))
    add("range_step", _range(1, 10, 3))
    add("range_empty", _range(0))
    add("range_neg", _range(10, -10, -4))
    add("slice", slice(1, 10, 2))
    add("slice_none", slice(None, 5))
    add("bytearray_empty", bytearray())
    add("bytearray_latin1", bytearray(b"\x00\x80\xff caf\xc3\xa9"))
    add("array_i", array.array("i", [1, -2, 3]))
    add("array_d", array.array("d", [1.5]))
    add("array_b", array.array("B", b"ab"))
    add("re_pattern", re.compile(u"a+b", re.I))
    add("re_pattern_bytes", re.compile(b"x*"))
    add("struct_time", time.struct_time((2020, 1, 2, 3, 4, 5, 3, 2, 0)))
    add("partial", functools.partial(int, base=2))
    add("partial_args", functools.partial(max, 1, 2))

    # set/frozenset nesting
    add("frozenset_nested", frozenset([frozenset([1, 2]), frozenset(), (1, u"a")]))
    # (no None inside: its hash is its address before 3.12, so the order would vary per run)
    add("set_of_tuples", set([(1, 2), (u"a", u"b")]))
    add("dict_frozenset_keys", {frozenset([1]): u"one", frozenset(): u"none"})
    add("set_mixed_numbers", set([1, 2.5, -3, True and 7]))

    # app classes
    add("app_slots", appmod.Slotted(1, u"s"))
    add("app_reduce", appmod.WithReduce(1, [2]))
    add("app_state", appmod.WithState(u"a", 2))
    add("app_error", appmod.AppError(u"bad", 3))
    add("app_dict", appmod.AppDict(a=1))
    add("app_list", appmod.AppList([1, 2]))
    o = appmod.New(None, None)
    o.a = o
    add("app_cycle", o)
    add("app_old_init", appmod.OldInit(5))
    n1 = appmod.New(1, 2)
    add("app_shared_in_dict", {u"x": n1, u"y": [n1, (n1,)]})

    # exceptions
    add("exc_keyerror", KeyError(u"k"))
    add("exc_two_args", ValueError(u"x", 2))
    add("exc_no_args", RuntimeError())
    add("exc_oserror", OSError(2, u"No such file"))
    add("exc_ioerror", IOError(u"io"))
    e = ValueError(u"attrs")
    e.code = 7
    add("exc_with_dict", e)
    add("exc_stopiteration", StopIteration(3))
    add("exc_unicode_decode", UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"))

    # shared references (memo)
    s = u"shared text"
    b = (1, 2)
    lst = [s, s, b, b]
    add("shared_mixed", {u"a": lst, u"b": lst, u"c": s})
    d = {}
    d[u"l"] = [d]
    add("recursive_dict_list", d)
    fs = frozenset([1])
    add("shared_frozenset", [fs, fs, {fs: fs}])

    # text and py2 str edge cases
    add("text_astral_mix", u"a\U00010000b\U0010ffff\ud800c")
    add("text_surrogate_pair_and_lone", u"\ud83d\ude00\udc00\ud83d")
    add("text_nul_and_bom", u"\x00\ufeff\uffff")
    add("list_text_shared_keys", [{u"k\xe9": 1}, {u"k\xe9": 2}])
    if PY2:
        add("pystr_all_bytes", b"".join(chr(i) for i in range(256)))
        add("pystr_utf8_cjk", u"\u4e2d\u6587".encode("utf-8"))
        add("pystr_cp1252", b"\x93quoted\x94 \x80")
        add("pystr_backslash_quote", b"\\'\"\n")
        add("dict_mixed_str_unicode_keys", {b"a": 1, u"b": 2, b"caf\xc3\xa9": 3})
        add("tuple_str_unicode", (b"x", u"x", b"\xff", u"\xff"))
    else:
        add("bytes_all", bytes(range(256)))
        add("dict_bytes_keys", {b"a": 1, b"\xff": 2})
    return v


def _hex(b):
    import binascii
    h = binascii.hexlify(b)
    return h.decode("ascii") if not isinstance(h, str) else h


def _write(impl):
    import json
    if PY2:
        if impl == "c":
            import cPickle as mod  # noqa: F401
        else:
            import pickle as mod
        dumps = mod.dumps
        highest = mod.HIGHEST_PROTOCOL
    else:
        import pickle
        dumps = pickle.dumps if impl == "c" else pickle._dumps
        highest = pickle.HIGHEST_PROTOCOL
    sys.path.insert(0, _HERE)
    import oracle
    for name, value in values():
        for proto in range(highest + 1):
            rec = {"name": name, "protocol": proto}
            try:
                rec["pickle"] = _hex(dumps(value, proto))
            except Exception as e:
                rec["error"] = oracle.format_exc(e)
            sys.stdout.write(json.dumps(rec, sort_keys=True) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "write" and sys.argv[2] in ("c", "py"):
        _write(sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] == "names":
        for name, _ in values():
            sys.stdout.write(name + "\n")
    else:
        sys.stderr.write("usage: values.py write c|py | values.py names\n")
        sys.exit(2)
