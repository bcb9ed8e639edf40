#!/bin/sh
# Seed corpus for the `rdb` target: dumps written by a real redis-server holding every type in its
# small and large encodings (listpack/ziplist/intset and hashtable/quicklist/skiplist), expiries,
# several databases, LZF-compressed strings.
set -e
cd "$(dirname "$0")"
mkdir -p corpus/rdb
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" >/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
sleep 0.5
cli() { redis-cli -p "$port" "$@" >/dev/null; }
snap() { cli SAVE; cp "$dir/dump.rdb" "corpus/rdb/$1.rdb"; }
cli SET s "short"; cli SET n 12345; cli SET neg -70000
cli SET lzf "$(python3 -c 'print("abcabcabc" * 100)')"
cli SET ttl v PX 3600000
cli HSET h a 1 b two; cli RPUSH l a 1 -2 300; cli SADD si 1 2 3; cli SADD ss a b c
cli ZADD z 1 a 2.5 b -3 c
snap small
for i in $(seq 1 300); do echo "HSET hb f$i v$i"; echo "RPUSH lb item$i"; echo "SADD sb m$i";
  echo "ZADD zb $i m$i"; echo "SADD sib $i"; done | redis-cli -p "$port" >/dev/null
cli -n 3 SET other db3
snap large
cli XADD st '*' f v; cli FLUSHDB; cli XADD st '*' f v a b
snap stream
ls corpus/rdb | wc -l
