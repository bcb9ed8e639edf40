#!/usr/bin/env bash
# Installs a real CPython from Debian packages without touching the machine: VERSION (e.g. 3.15)
# from the pinned list tools/debian-py/VERSION.lock (PACKAGE=VERSION SHA256 a line), downloaded
# with apt-get under a private apt config in target/debian-py/apt (its own sources.list: Debian
# unstable, signed by the Debian archive keyring; never the machine's sources), checked against
# the pinned SHA-256, unpacked with `dpkg-deb -x` into target/debian-py/VERSION, and run by the
# wrapper target/debian-py/bin/pythonVERSION (its own dynamic loader and libraries).
# A stamp (the lock's hash) makes a rerun skip all of it.
set -euo pipefail
cd "$(dirname "$0")/../.."
v=${1:?usage: tools/debian-py/install.sh VERSION}
lock="tools/debian-py/$v.lock"
base="$PWD/target/debian-py"
root="$base/$v"
stamp="$root/.installed-$(sha256sum "$lock" | cut -c1-16)"
[ -f "$stamp" ] && exit 0

apt="$base/apt"
mkdir -p "$apt/etc" "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs-$v"
echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian unstable main' \
  >"$apt/etc/sources.list"
aptopts=(
  -o Dir::Etc::sourcelist="$apt/etc/sources.list"
  -o Dir::Etc::sourceparts="$apt/etc/sources.list.d"
  -o Dir::State::Lists="$apt/lists"
  -o Dir::Cache="$apt/cache"
  -o Dir::State::status=/dev/null
  -o APT::Architecture=amd64
  -o Debug::NoLocking=1
)
pins=() sums=()
while read -r pin sum; do
  case "$pin" in '' | '#'*) continue ;; esac
  pins+=("$pin") sums+=("$sum")
done <"$lock"

need=0
for i in "${!pins[@]}"; do
  pkg=${pins[$i]%%=*}
  ls "$apt/debs-$v/${pkg}_"*.deb >/dev/null 2>&1 || need=1
done
if [ $need = 1 ]; then
  echo "test-all: downloading CPython $v (Debian packages ${pins[*]})" >&2
  apt-get "${aptopts[@]}" update -qq
  (cd "$apt/debs-$v" && apt-get "${aptopts[@]}" download -qq "${pins[@]}")
fi

rm -rf "$root" && mkdir -p "$root"
for i in "${!pins[@]}"; do
  pkg=${pins[$i]%%=*} ver=${pins[$i]#*=}
  deb=$(ls "$apt/debs-$v/${pkg}_"*.deb)
  got=$(dpkg-deb -f "$deb" Version)
  [ "$got" = "$ver" ] || { echo "install.sh: $deb is $pkg $got, pinned $ver" >&2; exit 1; }
  echo "${sums[$i]}  $deb" | sha256sum -c --quiet - || { echo "install.sh: $deb: SHA-256 differs from $lock" >&2; exit 1; }
  dpkg-deb -x "$deb" "$root"
done

# The wrapper runs the interpreter with its own dynamic loader and libraries. It lives in the
# interpreter's own usr/bin and names itself as argv[0], so that sys.executable is the wrapper
# (a re-exec of sys.executable works: corpora/gen/oracle.py does one) and the prefix is found
# next to it as for a normal install (no PYTHONHOME, so -E works too);
# target/debian-py/bin/pythonVERSION calls it.
inner="$root/usr/bin/python$v-ld"
cat >"$inner" <<EOF
#!/bin/sh
# CPython $v from Debian packages (tools/debian-py/install.sh, pinned in tools/debian-py/$v.lock).
r="$root"
exec "\$r/usr/lib64/ld-linux-x86-64.so.2" --argv0 "\$r/usr/bin/python$v-ld" \\
  --library-path "\$r/usr/lib/x86_64-linux-gnu:\$r/lib/x86_64-linux-gnu" "\$r/usr/bin/python$v" "\$@"
EOF
chmod +x "$inner"
mkdir -p "$base/bin"
wrapper="$base/bin/python$v"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$inner" >"$wrapper"
chmod +x "$wrapper"
"$wrapper" -E -c 'import sys, _pickle, pickle; print("test-all: installed", sys.version.split()[0], file=sys.stderr)'
touch "$stamp"
