"""The small application module the corpora values use (runs under 2.7 and 3.x).

New is a new-style class, Old a classic class on Python 2 (a plain class on Python 3).
Both keep their state in plain instance attributes.
"""


class New(object):
    def __init__(self, a, b):
        self.a = a
        self.b = b


class Old:
    def __init__(self, a, b):
        self.a = a
        self.b = b
