#!/bin/sh
# Seed corpus for the `reader` target: every pickle of corpora/pickles.jsonl, one file each.
set -e
cd "$(dirname "$0")"
mkdir -p corpus/reader corpus/verdict corpus/envelope
python3 - <<'PY'
import json, hashlib, zlib, base64
def put(d, b):
    open("corpus/%s/%s" % (d, hashlib.sha1(b).hexdigest()), "wb").write(b)
for i, line in enumerate(open("../corpora/pickles.jsonl")):
    d = json.loads(line)
    b = bytes.fromhex(d["pickle"])
    put("reader", b)
    if i % 4 == 0:
        # The whole verdict is costlier than a load: a quarter of the corpus seeds it.
        put("verdict", b)
        # The envelopes cache layers put around a pickle.
        for w in (b"!" + b, zlib.compress(b), b'{"ct": 1.0, "v": 2}|' + b, base64.b64encode(b)):
            put("envelope", w)
PY
ls corpus/reader | wc -l
