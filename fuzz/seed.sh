#!/bin/sh
# Seed corpus for the `reader` target: every pickle of corpora/pickles.jsonl, one file each.
set -e
cd "$(dirname "$0")"
mkdir -p corpus/reader
python3 - <<'PY'
import json, hashlib
for line in open("../corpora/pickles.jsonl"):
    d = json.loads(line)
    b = bytes.fromhex(d["pickle"])
    open("corpus/reader/" + hashlib.sha1(b).hexdigest(), "wb").write(b)
PY
ls corpus/reader | wc -l
