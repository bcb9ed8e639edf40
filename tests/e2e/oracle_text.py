"""What every e2e oracle script prints of a real reader's answer, in one place: an exception as
the last line of its traceback says it (`module.Type: message`, builtins unqualified, on 2.7 and
3.x alike), and the repr that compares one runtime's value with another's (sets sorted, the
script's own classes by their attributes). Imported by the scripts beside it (tests/e2e/)."""


def error_text(e):
    name = type(e).__name__
    mod = type(e).__module__
    if mod not in ("builtins", "exceptions", "__builtin__"):
        name = mod + "." + name
    msg = str(e)
    return name + (": " + msg if msg else "")


def repr_canon(v, own_module):
    """repr, with sets in a fixed order, so that two runtimes' renderings of a value compare;
    instances of classes defined in `own_module` (the calling script) show their __dict__."""
    c = lambda x: repr_canon(x, own_module)  # noqa: E731
    if isinstance(v, (set, frozenset)):
        return "%s({%s})" % (type(v).__name__, ", ".join(sorted(c(x) for x in v)))
    if isinstance(v, dict):
        return "{%s}" % ", ".join("%s: %s" % (c(k), c(x)) for k, x in v.items())
    if isinstance(v, list):
        return "[%s]" % ", ".join(c(x) for x in v)
    if isinstance(v, tuple):
        return "(%s%s)" % (", ".join(c(x) for x in v), "," if len(v) == 1 else "")
    if type(v).__module__ == own_module:
        return "%s(%s)" % (type(v).__name__, c(v.__dict__))
    return repr(v)
