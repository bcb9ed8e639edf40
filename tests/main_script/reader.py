"""A reading process whose main script is this file: corpora/gen/oracle.py's protocol (JSON lines
in, JSON lines out) with `__main__` as this script. With the argument `with-classes` it defines
C, D and E as CPython's test.pickletester does (the classes its `__main__` pickles name; classic
classes on Python 2); with `bare` it defines none, like a worker or shell reading the cache that a
different script wrote. Error texts name this file as `<path of __main__>` (the reading process's
main script: no pickle says where it is).
"""
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "corpora", "gen"))
import oracle  # noqa: E402

if sys.argv[1:] == ["with-classes"]:

    class C:
        def __eq__(self, other):
            return self.__dict__ == other.__dict__

    class D(C):
        def __init__(self, arg):
            pass

    class E(C):
        def __getinitargs__(self):
            return ()

elif sys.argv[1:] != ["bare"]:
    raise SystemExit("usage: reader.py with-classes|bare")


def main():
    oracle._setup_replacements()
    here = oracle._to_text(os.path.abspath(__file__))
    oracle._REPLACEMENTS.insert(0, (here, u"<path of __main__>"))
    if hasattr(signal, "SIGALRM"):
        signal.signal(signal.SIGALRM, oracle._on_alarm)
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        if line.strip():
            ans = oracle.handle(line)
            sys.stdout.write(oracle.json.dumps(ans, ensure_ascii=True, separators=(",", ":")) + "\n")
            sys.stdout.flush()


main()
