"""The small application module the corpora values use (runs under 2.7 and 3.x).

New is a new-style class, Old a classic class on Python 2 (a plain class on Python 3).
Both keep their state in plain instance attributes. The others are the shapes real apps cache:
a namedtuple, Enum/IntEnum members (plain stand-ins on 2.7, which has no enum module), a class
with __slots__, one with its own __reduce__, one with __getstate__/__setstate__, an exception,
subclasses of dict and list, and (py2) a classic class with __getinitargs__.
"""
import collections

try:
    import enum
except ImportError:  # Python 2.7: no enum module in the standard library
    enum = None


class New(object):
    def __init__(self, a, b):
        self.a = a
        self.b = b


class Old:
    def __init__(self, a, b):
        self.a = a
        self.b = b


class OldInit:
    """Classic on py2, pickled by INST/OBJ with these arguments."""
    def __init__(self, a):
        self.a = a

    def __getinitargs__(self):
        return (self.a,)


Point = collections.namedtuple("Point", "x y")


if enum is not None:
    class Color(enum.Enum):
        RED = 1
        GREEN = u"green"

    class Level(enum.IntEnum):
        LOW = 1
        HIGH = 2
else:
    class Color(object):
        def __init__(self, value):
            self.value = value

    class Level(int):
        pass


class Slotted(object):
    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a = a
        self.b = b


class WithReduce(object):
    def __init__(self, a, b):
        self.a = a
        self.b = b

    def __reduce__(self):
        return (WithReduce, (self.a, self.b))


class WithState(object):
    def __init__(self, a, b):
        self.a = a
        self.b = b

    def __getstate__(self):
        return (self.a, self.b)

    def __setstate__(self, state):
        self.a, self.b = state


class AppError(Exception):
    pass


class AppDict(dict):
    pass


class AppList(list):
    pass
