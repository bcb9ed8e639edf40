"""Prints, one JSON line each, the pickles CPython's own unpickling tests feed that name a class of
`__main__` (`test.pickletester`: DATA0 ... DATA4, whose `C` instances pickletester puts into
`__main__`, and the 2.x classic-instance pickles of `test_load_classic_instance`, for C, D and E).
The test methods themselves are run, with a stand-in `self` that records what they pass to
`self.loads`, so the inputs are exactly what the interpreter's own test suite loads.

    python3.13 record_inputs.py    ->  {"id": "pickletester/<test>/<n>", "pickle": HEX}
"""
import binascii
import json

from test import pickletester

TESTS = ["test_load_from_data%d" % i for i in range(5)] + ["test_load_classic_instance"]


class Recorder(object):
    _testdata = None

    def __init__(self):
        self.inputs = []

    def loads(self, data, **kwargs):
        self.inputs.append(data)

    def assert_is_copy(self, obj, objcopy, msg=None):
        pass


for test in TESTS:
    rec = Recorder()
    getattr(pickletester.AbstractUnpickleTests, test)(rec)
    for n, data in enumerate(rec.inputs, 1):
        assert b"__main__" in data, (test, data)
        hexed = binascii.hexlify(data).decode("ascii")
        print(json.dumps({"id": "pickletester/%s/%d" % (test, n), "pickle": hexed}))
