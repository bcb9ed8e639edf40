"""The oracle harness (see ../README.md): JSON lines in, JSON lines out, one answer per request.

Runs unchanged under Python 2.7 and 3.6+. Requests:
  {"op": "load", "id", "pickle": HEX, "opts": {...}, "impl": "c"|"py", "dump": [P, ...]}
  {"op": "build", "id", "spec": SPEC, "impl": "c"|"py", "protocol": P}
Answers are written with ASCII-only JSON, one line each, flushed.
"""
import binascii
import collections
import datetime
import decimal
import json
import os
import re
import signal
import struct
import sys
import types

try:
    import resource
except ImportError:  # Pyodide (3.14 under WebAssembly) has no resource module
    resource = None

sys.dont_write_bytecode = True
GEN_DIR = os.path.dirname(os.path.abspath(__file__))
if GEN_DIR not in sys.path:
    sys.path.insert(0, GEN_DIR)

PY2 = sys.version_info[0] == 2

if PY2:
    import cPickle  # noqa: F401
    import pickle
    TEXT = unicode  # noqa: F821
    BYTES = str
    LONG = long  # noqa: F821
    UNICHR = unichr  # noqa: F821
    CLASS_TYPES = (type, types.ClassType)
    INSTANCE_TYPE = types.InstanceType
    C_LOADS, C_DUMPS = cPickle.loads, cPickle.dumps
    PY_LOADS, PY_DUMPS = pickle.loads, pickle.dumps
else:
    import pickle
    TEXT = str
    BYTES = bytes
    LONG = None
    UNICHR = chr
    CLASS_TYPES = (type,)
    INSTANCE_TYPE = None
    C_LOADS, C_DUMPS = pickle.loads, pickle.dumps
    PY_LOADS, PY_DUMPS = pickle._loads, pickle._dumps

import appmod  # noqa: E402

TIMEOUT = 10                # seconds per phase (load, render, dumps; build)
RENDER_RECURSION = 20000    # recursion limit while rendering (loads/dumps keep the interpreter default)
RENDER_BUDGET = 20000000    # steps (objects visited) per rendering
DEFAULT_RECURSION = sys.getrecursionlimit()
FUNC_TYPES = (types.FunctionType, types.BuiltinFunctionType)
_UNQUALIFIED = ("builtins", "exceptions", "__builtin__")
_REPLACEMENTS = []  # (absolute path, placeholder) scrubbed from error texts


class OracleTimeout(BaseException):
    pass


class RenderError(Exception):
    pass


def _on_alarm(signum, frame):
    raise OracleTimeout()


# ---------------------------------------------------------------------------------------------
# exceptions -> E


def _to_text(s):
    if isinstance(s, TEXT):
        return s
    return s.decode("latin-1")  # py2 str: byte b -> code point b


def _exc_str(e):
    try:
        return _to_text(str(e))
    except Exception:
        pass
    if PY2:
        try:
            return unicode(e).encode("ascii", "backslashreplace").decode("ascii")  # noqa: F821
        except Exception:
            return u"<unprintable %s object>" % type(e).__name__
    return u"<exception str() failed>"


def _sanitize(s):
    """Scrub machine paths, and lone surrogates (not valid in strict JSON) as \\udXXX text."""
    for path, placeholder in _REPLACEMENTS:
        if path and path in s:
            s = s.replace(path, placeholder)
    if not PY2:
        s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    return s


def exc_type_name(cls):
    mod = getattr(cls, "__module__", None)
    name = _to_text(cls.__name__)
    if mod is None or mod in _UNQUALIFIED:
        return name
    return u"%s.%s" % (_to_text(mod), name)


def format_exc(e):
    msg = _exc_str(e)
    name = exc_type_name(type(e))
    return _sanitize(u"%s: %s" % (name, msg) if msg else name)


# ---------------------------------------------------------------------------------------------
# the canonical rendering R

_TEXT_ESC = re.compile(u"[^\\x20-\\x26\\x28-\\x5b\\x5d-\\x7e]")
_BYTES_ESC_TEXT = re.compile(u"[^\\x20-\\x26\\x28-\\x5b\\x5d-\\x7e]")
_ADDR = re.compile(u" at 0x[0-9a-fA-F]+")


def _esc_text(m):
    return u"\\u{%x}" % ord(m.group(0))


def _esc_byte(m):
    return u"\\x%02x" % ord(m.group(0))


def render_text(s):
    return u"u'" + _TEXT_ESC.sub(_esc_text, s) + u"'"


def render_bytes(b):
    return u"b'" + _BYTES_ESC_TEXT.sub(_esc_byte, bytes(b).decode("latin-1")) + u"'"


def render_float(f):
    return u"float(0x%s)" % binascii.hexlify(struct.pack(">d", f)).decode("ascii")


def render_int(i):
    if hasattr(sys, "set_int_max_str_digits"):
        old = sys.get_int_max_str_digits()
        sys.set_int_max_str_digits(0)
        try:
            return _to_text(str(i))
        finally:
            sys.set_int_max_str_digits(old)
    return _to_text(str(i))


_LABELLED = frozenset(["list", "dict", "set", "bytearray", "odict", "ddict", "deque", "exc", "inst"])

_EXACT = {
    type(None): "none", bool: "bool", int: "int", float: "float", complex: "complex",
    TEXT: "text", BYTES: "bytes", bytearray: "bytearray", list: "list", tuple: "tuple",
    dict: "dict", set: "set", frozenset: "frozenset",
    collections.OrderedDict: "odict", collections.defaultdict: "ddict", collections.deque: "deque",
    datetime.datetime: "datetime", datetime.date: "date", datetime.time: "time",
    datetime.timedelta: "timedelta", decimal.Decimal: "decimal",
}
if PY2:
    _EXACT[LONG] = "long"


def classify(o):
    t = type(o)
    k = _EXACT.get(t)
    if k is not None:
        return k
    if isinstance(o, BaseException):
        return "exc"
    if isinstance(o, CLASS_TYPES) or isinstance(o, FUNC_TYPES):
        return "global"
    return "inst"


def _inst_dict(o):
    try:
        d = o.__dict__
    except Exception:
        return None
    return d if isinstance(d, dict) else None


def children(o, k):
    if k in ("list", "tuple", "set", "frozenset", "deque"):
        return list(o)
    if k in ("dict", "odict"):
        out = []
        for key, val in o.items():
            out.append(key)
            out.append(val)
        return out
    if k == "ddict":
        out = [o.default_factory]
        for key, val in o.items():
            out.append(key)
            out.append(val)
        return out
    if k in ("datetime", "time"):
        return [o.tzinfo]
    if k == "exc":
        return [o.args]
    if k == "inst":
        d = _inst_dict(o)
        if d:
            out = []
            for key, val in d.items():
                out.append(key)
                out.append(val)
            return out
    return []


class Renderer(object):
    def __init__(self):
        self.counts = {}
        self.keep = []
        self.labels = {}
        self.next_label = 1
        self.steps = 0

    def _step(self):
        self.steps += 1
        if self.steps > RENDER_BUDGET:
            raise RenderError("rendering budget exceeded")

    def count(self, root):
        stack = [root]
        counts = self.counts
        while stack:
            o = stack.pop()
            self._step()
            k = classify(o)
            if k in _LABELLED:
                i = id(o)
                c = counts.get(i, 0)
                counts[i] = c + 1
                if c:
                    continue
                self.keep.append(o)
            stack.extend(children(o, k))

    def render(self, root):
        self.count(root)
        return self.r(root, False)

    def _sorted(self, items, keyfunc):
        keyed = [(self.r(keyfunc(it), True), n, it) for n, it in enumerate(items)]
        keyed.sort(key=lambda x: (x[0], x[1]))
        return [it for _, _, it in keyed]

    def r(self, o, plain):
        self._step()
        k = classify(o)
        prefix = u""
        if k in _LABELLED:
            i = id(o)
            if plain:
                if self.counts.get(i, 0) > 1 and k in ("inst", "exc"):
                    return self._class_tag(o, k)
            else:
                if i in self.labels:
                    return u"#%d#" % self.labels[i]
                if self.counts.get(i, 0) > 1:
                    n = self.next_label
                    self.next_label += 1
                    self.labels[i] = n
                    prefix = u"#%d=" % n
        return prefix + self._body(o, k, plain)

    def _class_tag(self, o, k):
        cls = getattr(o, "__class__", type(o))
        if k == "exc":
            return u"<%s>" % exc_type_name(cls)
        return u"<%s.%s>" % (_to_text(str(getattr(cls, "__module__", None))), _to_text(cls.__name__))

    def _items(self, items, plain):
        return u", ".join(self.r(x, plain) for x in items)

    def _dict_items(self, pairs, plain, sort=True):
        if sort:
            pairs = self._sorted(pairs, lambda p: p[0])
        return u", ".join(u"%s: %s" % (self.r(key, plain), self.r(val, plain)) for key, val in pairs)

    def _body(self, o, k, plain):
        r = self.r
        if k == "none":
            return u"None"
        if k == "bool":
            return u"True" if o else u"False"
        if k == "int":
            return render_int(o)
        if k == "long":
            return render_int(o) + u"L"
        if k == "float":
            return render_float(o)
        if k == "complex":
            return u"complex(%s, %s)" % (render_float(o.real), render_float(o.imag))
        if k == "text":
            return render_text(o)
        if k == "bytes":
            return render_bytes(o)
        if k == "bytearray":
            return u"bytearray(%s)" % render_bytes(o)
        if k == "list":
            return u"[" + self._items(list(o), plain) + u"]"
        if k == "tuple":
            if len(o) == 1:
                return u"(" + r(o[0], plain) + u",)"
            return u"(" + self._items(o, plain) + u")"
        if k == "dict":
            return u"{" + self._dict_items(list(o.items()), plain) + u"}"
        if k == "set":
            return u"set([" + self._items(self._sorted(list(o), lambda x: x), plain) + u"])"
        if k == "frozenset":
            return u"frozenset([" + self._items(self._sorted(list(o), lambda x: x), plain) + u"])"
        if k == "odict":
            return u"collections.OrderedDict([" + u", ".join(
                u"(%s, %s)" % (r(key, plain), r(val, plain)) for key, val in list(o.items())) + u"])"
        if k == "ddict":
            fac = r(o.default_factory, plain)
            return u"collections.defaultdict(%s, {%s})" % (fac, self._dict_items(list(o.items()), plain))
        if k == "deque":
            ml = u"None" if o.maxlen is None else render_int(o.maxlen)
            return u"collections.deque([%s], maxlen=%s)" % (self._items(list(o), plain), ml)
        if k == "datetime":
            return u"datetime.datetime(%d, %d, %d, %d, %d, %d, %d, tz=%s, fold=%d)" % (
                o.year, o.month, o.day, o.hour, o.minute, o.second, o.microsecond,
                r(o.tzinfo, plain), getattr(o, "fold", 0))
        if k == "date":
            return u"datetime.date(%d, %d, %d)" % (o.year, o.month, o.day)
        if k == "time":
            return u"datetime.time(%d, %d, %d, %d, tz=%s, fold=%d)" % (
                o.hour, o.minute, o.second, o.microsecond, r(o.tzinfo, plain), getattr(o, "fold", 0))
        if k == "timedelta":
            return u"datetime.timedelta(%d, %d, %d)" % (o.days, o.seconds, o.microseconds)
        if k == "decimal":
            return u"decimal.Decimal('%s')" % _to_text(str(o))
        if k == "global":
            return u"global(%s.%s)" % (_to_text(str(getattr(o, "__module__", None))),
                                       _to_text(str(getattr(o, "__name__", None))))
        if k == "exc":
            return self._class_tag(o, k) + r(o.args, plain)
        # any other instance
        tag = self._class_tag(o, k)
        d = _inst_dict(o)
        if d:
            return tag + u"{" + self._dict_items(list(d.items()), plain) + u"}"
        if d is not None:
            return tag
        rep = repr(o)
        return tag + u"repr=" + render_text(_ADDR.sub(u" at 0x?", _to_text(rep)))


def render(value):
    """R(value) as an ASCII native str; '!render-error: E' when it cannot be rendered."""
    sys.setrecursionlimit(RENDER_RECURSION)
    try:
        out = Renderer().render(value)
    except OracleTimeout:
        out = u"!render-error: timeout"
    except Exception as e:  # RecursionError (py2: RuntimeError), MemoryError, RenderError, ...
        out = u"!render-error: " + format_exc(e)
    finally:
        sys.setrecursionlimit(DEFAULT_RECURSION)
    return str(out) if PY2 else out


# ---------------------------------------------------------------------------------------------
# build: SPEC -> value


def _unhex(h):
    return binascii.unhexlify(h.encode("ascii") if isinstance(h, TEXT) else h)


def _int_from(s, as_long=False):
    s = str(s)
    if hasattr(sys, "set_int_max_str_digits"):
        old = sys.get_int_max_str_digits()
        sys.set_int_max_str_digits(0)
        try:
            return int(s)
        finally:
            sys.set_int_max_str_digits(old)
    if as_long and PY2:
        return LONG(s)
    return int(s)


def _native_attr(name):
    if PY2 and isinstance(name, TEXT):
        return name.encode("utf-8")
    return name


class Builder(object):
    def __init__(self):
        self.defs = {}

    def b(self, spec):
        tag = spec[0]
        if tag == "none":
            return None
        if tag == "bool":
            return bool(spec[1])
        if tag == "int":
            return _int_from(spec[1])
        if tag == "long":
            return _int_from(spec[1], as_long=True)
        if tag == "float":
            return struct.unpack(">d", _unhex(spec[1]))[0]
        if tag == "bytes":
            return _unhex(spec[1])
        if tag == "text":
            return u"".join(UNICHR(c) for c in spec[1])
        if tag == "bytearray":
            return bytearray(_unhex(spec[1]))
        if tag == "list":
            return [self.b(x) for x in spec[1]]
        if tag == "tuple":
            return tuple(self.b(x) for x in spec[1])
        if tag == "dict":
            return dict((self.b(k), self.b(v)) for k, v in spec[1])
        if tag == "set":
            return set(self.b(x) for x in spec[1])
        if tag == "frozenset":
            return frozenset(self.b(x) for x in spec[1])
        if tag == "datetime":
            return datetime.datetime(*spec[1])
        if tag == "date":
            return datetime.date(*spec[1])
        if tag == "time":
            return datetime.time(*spec[1])
        if tag == "timedelta":
            return datetime.timedelta(*spec[1])
        if tag == "decimal":
            return decimal.Decimal(spec[1])
        if tag == "ordereddict":
            return collections.OrderedDict([(self.b(k), self.b(v)) for k, v in spec[1]])
        if tag == "complex":
            re_, im = spec[1]
            return complex(struct.unpack(">d", _unhex(re_))[0], struct.unpack(">d", _unhex(im))[0])
        if tag == "new":
            obj = appmod.New.__new__(appmod.New)
            for name in sorted(spec[1]):
                obj.__dict__[_native_attr(name)] = self.b(spec[1][name])
            return obj
        if tag == "def":
            name, inner = spec[1], spec[2]
            if inner[0] == "list":
                obj = []
                self.defs[name] = obj
                obj.extend(self.b(x) for x in inner[1])
                return obj
            if inner[0] == "dict":
                obj = {}
                self.defs[name] = obj
                for k, v in inner[1]:
                    key = self.b(k)
                    obj[key] = self.b(v)
                return obj
            obj = self.b(inner)
            self.defs[name] = obj
            return obj
        if tag == "ref":
            if spec[1] not in self.defs:
                raise ValueError("spec: ref to undefined or unfinished def %s" % json.dumps(spec[1]))
            return self.defs[spec[1]]
        raise ValueError("spec: unknown tag %s" % json.dumps(tag))


# ---------------------------------------------------------------------------------------------
# requests


def _hex(b):
    return binascii.hexlify(b).decode("ascii")


def _alarm(seconds):
    if hasattr(signal, "alarm"):
        signal.alarm(seconds)


def do_load(req):
    impl = req.get("impl", "c")
    loads = C_LOADS if impl == "c" else PY_LOADS
    dumps = C_DUMPS if impl == "c" else PY_DUMPS
    opts = dict((str(k), v) for k, v in (req.get("opts") or {}).items())
    data = _unhex(req["pickle"])
    ans = collections.OrderedDict([("id", req.get("id"))])
    value = None
    try:
        _alarm(TIMEOUT)
        try:
            value = loads(data, **opts)
        finally:
            _alarm(0)
    except OracleTimeout:
        ans["ok"] = False
        ans["error"] = u"!timeout: load took more than %d s" % TIMEOUT
        return ans
    except BaseException as e:  # SystemExit, KeyboardInterrupt from a REDUCE are answers too
        ans["ok"] = False
        ans["error"] = format_exc(e)
        return ans
    ans["ok"] = True
    try:
        _alarm(TIMEOUT)
        try:
            ans["render"] = render(value)
        finally:
            _alarm(0)
    except OracleTimeout:
        ans["render"] = u"!render-error: timeout"
    dump = req.get("dump") or []
    if dump:
        out = collections.OrderedDict()
        try:
            _alarm(TIMEOUT)
            try:
                for p in dump:
                    try:
                        out[str(p)] = _hex(dumps(value, p))
                    except OracleTimeout:
                        raise
                    except BaseException as e:
                        out[str(p)] = {"error": format_exc(e)}
            finally:
                _alarm(0)
        except OracleTimeout:
            for p in dump:
                out.setdefault(str(p), {"error": u"!timeout: dumps took more than %d s" % TIMEOUT})
        ans["dumps"] = out
    return ans


def do_build(req):
    impl = req.get("impl", "c")
    dumps = C_DUMPS if impl == "c" else PY_DUMPS
    ans = collections.OrderedDict([("id", req.get("id"))])
    try:
        _alarm(TIMEOUT)
        try:
            value = Builder().b(req["spec"])
            data = _hex(dumps(value, req.get("protocol", 0)))
            ans["ok"] = True
            ans["pickle"] = data
        finally:
            _alarm(0)
    except OracleTimeout:
        ans["ok"] = False
        ans["error"] = u"!timeout: build took more than %d s" % TIMEOUT
    except Exception as e:
        ans["ok"] = False
        ans["error"] = format_exc(e)
    return ans


def handle(line):
    try:
        req = json.loads(line)
    except Exception as e:
        return {"id": None, "ok": False, "error": u"!bad-request: " + format_exc(e)}
    op = req.get("op") if isinstance(req, dict) else None
    try:
        if op == "load":
            return do_load(req)
        if op == "build":
            return do_build(req)
        return {"id": req.get("id") if isinstance(req, dict) else None, "ok": False,
                "error": u"!bad-request: unknown op %r" % (op,)}
    except Exception as e:  # a bug in the harness, or a malformed request
        return {"id": req.get("id"), "ok": False, "error": u"!harness-error: " + format_exc(e)}


def _raise_stack_limit():
    """Re-exec once with a large stack, so deep renderings end in RecursionError, not a crash."""
    if os.environ.get("ORACLE_STACK_SET") == "1" or resource is None:
        return
    want = 1 << 30
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
        if soft != resource.RLIM_INFINITY and soft < want:
            new = want if hard == resource.RLIM_INFINITY else min(want, hard)
            resource.setrlimit(resource.RLIMIT_STACK, (new, hard))
            os.environ["ORACLE_STACK_SET"] = "1"
            sys.stdout.flush()
            os.execv(sys.executable, [sys.executable] + sys.argv)
    except (ValueError, OSError, resource.error if hasattr(resource, "error") else OSError):
        pass


def _setup_replacements():
    paths = [(GEN_DIR, u"<gen>")]
    if sys.platform == "emscripten":
        # Pyodide (3.14): sys.prefix is "/", the stdlib is the zip /lib/python3XY.zip; it stands
        # for the native <prefix>/lib/python3.X directory.
        zipped = u"/lib/python%d%d.zip" % sys.version_info[:2]
        paths.append((zipped, u"<prefix>/lib/python%d.%d" % sys.version_info[:2]))
    for attr in ("prefix", "exec_prefix", "base_prefix"):
        p = getattr(sys, attr, None)
        if p and p != "/":
            paths.append((_to_text(p), u"<prefix>"))
    seen = set()
    for p, ph in sorted(paths, key=lambda x: -len(x[0])):
        if p not in seen:
            seen.add(p)
            _REPLACEMENTS.append((_to_text(p), ph))


def main():
    _raise_stack_limit()
    _setup_replacements()
    if hasattr(signal, "SIGALRM"):
        signal.signal(signal.SIGALRM, _on_alarm)
    stdin = sys.stdin
    stdout = sys.stdout
    while True:
        line = stdin.readline()
        if not line:
            break
        if not line.strip():
            continue
        ans = handle(line)
        stdout.write(json.dumps(ans, ensure_ascii=True, separators=(",", ":")) + "\n")
        stdout.flush()


if __name__ == "__main__":
    main()
