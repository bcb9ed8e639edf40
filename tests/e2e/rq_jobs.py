"""RQ's job hashes, for real, under the interpreter running this script (tests/django.rs):
RQ 2.x on 3.13, RQ 1.16 on 3.7. Job `data` is zlib(pickle((func_name, instance, args, kwargs),
HIGHEST_PROTOCOL)); `meta` is a bare pickle(meta, HIGHEST_PROTOCOL); both live in the hash
`rq:job:<id>`. Modes (argv[1]):

  fill HOST PORT PREFIX   Queue("default").enqueue("app.tasks.process", value, label=name,
                          job_id=PREFIX + name, meta={"source": runtime, "value": value}) for each
                          test value
  read HOST PORT KEY...   for each job hash ("rq:job:<id>"), what this runtime's RQ does with each
                          pickled field -> {"key", "field", "ok", "error", "repr" (canon),
                          "rq_error"}:
                          `data`: Job.fetch, then job.args (RQ's _deserialize_data: serializer.loads
                          of the decompressed data, any exception re-raised as DeserializationError
                          from it; "error" is the serializer's exception, "rq_error" RQ's);
                          `meta`: serializer.loads of the field, the call Job.restore makes (RQ
                          swallows that error and sets meta to {"unserialized": raw}; "rq_error"
                          says so). When `data` loaded, the job is written back through RQ:
                          Job.create(func_name, args, kwargs, id="wb-<runtime>-<id>", meta=meta if
                          it loaded).save(); "written_back" names the new hash for each field
                          written.
Answers are JSON lines on stdout. Run it as a script: it imports itself as the module `rq_jobs`, so
that the application class below pickles as `rq_jobs.Report` on every side.
"""
import datetime
import decimal
import json
import sys
import uuid

from oracle_text import error_text, repr_canon

RUNTIME = "%d.%d" % sys.version_info[:2]


class Report(object):
    """An application class passed as a job argument."""

    def __init__(self, title, rows):
        self.title = title
        self.rows = rows

    def __eq__(self, other):
        return type(other) is Report and self.__dict__ == other.__dict__

    def __repr__(self):
        return "Report(%r, %r)" % (self.title, self.rows)


def values():
    v = {
        "text_cjk": u"\u6771\u4eac\u306e\u5929\u6c17 \u2600 \U0001f600 caf\xe9",
        "short": u"hi",
        "payload_bytes": b"\x00\xff\x80 binary \xe2\x80\x99",
        "session": {
            "user": u"bob",
            "name": u"Jos\xe9 \u4e2d\u6587",
            "id": 7,
            "token": b"\x8a\x01\xfe",
        },
        "when": datetime.datetime(2020, 1, 2, 3, 4, 5, 600),
        "when_utc": datetime.datetime(2021, 6, 7, 8, 9, 10, tzinfo=datetime.timezone.utc),
        "price": decimal.Decimal("-0.10"),
        "ident": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "count": 42,
        "big": 2 ** 70,
        "mixed": ({u"b", u"a"}, (1, u"\xe9"), [None, False, 1.5]),
        "report": Report(u"Q1 \u62a5\u544a", [(u"\xe9", decimal.Decimal("1.5"))]),
    }
    return v


def canon(v):
    return repr_canon(v, __name__)


def main():
    from redis import Redis
    from rq import Queue
    from rq.job import Job

    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    conn = Redis(host=host, port=port)
    if mode == "fill":
        prefix = sys.argv[4]
        q = Queue("default", connection=conn)
        for name, value in sorted(values().items()):
            q.enqueue(
                "app.tasks.process",
                value,
                label=name,
                job_id=prefix + name,
                meta={"source": RUNTIME, "value": value},
            )
        return
    for key in sys.argv[4:]:
        assert key.startswith("rq:job:"), key
        job_id = key[len("rq:job:"):]
        raw = conn.hgetall(key)
        job = Job.fetch(job_id, connection=conn)
        data = {"key": key, "field": "data"}
        try:
            job.args
            loaded = (job.func_name, job.instance, job.args, job.kwargs)
            data["ok"] = True
            data["repr"] = canon(loaded)
        except Exception as e:
            data["ok"] = False
            cause = e.__cause__ if e.__cause__ is not None else e
            data["error"] = error_text(cause)
            data["rq_error"] = error_text(e)
        out = [data]
        meta_ok = False
        if b"meta" in raw:
            meta = {"key": key, "field": "meta"}
            try:
                meta_value = job.serializer.loads(raw[b"meta"])
                meta["ok"] = meta_ok = True
                meta["repr"] = canon(meta_value)
            except Exception as e:
                meta["ok"] = False
                meta["error"] = error_text(e)
                meta["rq_error"] = "none raised: Job.fetch set meta to %r" % (
                    sorted(job.meta),
                )
            out.append(meta)
        if data["ok"]:
            wb_id = "wb-%s-%s" % (RUNTIME, job_id)
            wb = Job.create(
                loaded[0],
                args=loaded[2],
                kwargs=loaded[3],
                connection=conn,
                id=wb_id,
                meta=meta_value if meta_ok else None,
            )
            wb.save()
            data["written_back"] = "rq:job:" + wb_id
            if meta_ok:
                meta["written_back"] = "rq:job:" + wb_id
        for o in out:
            sys.stdout.write(json.dumps(o) + "\n")


if __name__ == "__main__":
    import rq_jobs

    rq_jobs.main()
