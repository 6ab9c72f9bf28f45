#!/usr/bin/env bash
# Run the aarch64 (Graviton) wheel for real: import mergekit and check joins against pandas.merge, on an arm64
# CPython under qemu-user, with pip's own aarch64 wheels of numpy, pandas and pyarrow.
#
#   scripts/test_aarch64.sh [--wheel PATH]
#
# --wheel   the mergekit-*-manylinux*_aarch64.whl to test (default: $MERGEKIT_AARCH64_WHEEL, else the newest
#           in dist/, else one built with scripts/build_wheels.sh --aarch64 --no-x86_64 --out dist).
#
# How, and why this way:
# - The arm64 root is Debian bookworm's python3 (3.11, the newest Python emr-spark-8.0.0 shares with it),
#   unpacked by `mmdebstrap --variant=extract`: nothing in it has to run during the bootstrap, so no binfmt_misc
#   registration is needed (containers, like this CI machine, usually cannot mount binfmt_misc).
# - The interpreter runs as `qemu-aarch64-static -L ROOT ROOT/usr/bin/python3.11`: -L makes qemu look up the
#   ELF loader, the shared libraries and the standard library inside ROOT.
# - The packages are installed by the host's pip into a plain directory (`--target` with `--platform` and
#   `--only-binary=:all:`): installing wheels is unpacking, so nothing aarch64 runs before the test itself.
#   Current numpy, pandas and pyarrow publish aarch64 wheels tagged manylinux_2_28 only, so manylinux_2_28 is
#   accepted besides manylinux2014 (EMR 7's glibc 2.34 satisfies both).
# - Both the root and the installed packages are cached under target/aarch64/ (keyed by the package list and
#   the wheel's SHA-256), so a second run only starts the interpreter.
# Env: AARCH64_CACHE (default target/aarch64), DEBIAN_MIRROR (default http://deb.debian.org/debian),
#      PIP (default: python3 -m pip).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
step() { printf '== %s  [%ds]\n' "$*" "$SECONDS"; }

wheel="${MERGEKIT_AARCH64_WHEEL:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --wheel) wheel="$2"; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "test_aarch64.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

cache="${AARCH64_CACHE:-$repo/target/aarch64}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm
packages=python3,libstdc++6  # libstdc++ for the numpy, pandas and pyarrow extensions
read -r -a pip <<<"${PIP:-python3 -m pip}"
mkdir -p "$cache"

need=()
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
if [ ${#need[@]} -gt 0 ]; then
  step "installing ${need[*]}"
  if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

root="$cache/root-$suite-${packages//[,+]/-}"
if [ ! -x "$root/usr/bin/python3" ]; then
  step "arm64 Debian $suite root with $packages (mmdebstrap --variant=extract)"
  rm -rf "$root.tmp"
  mmdebstrap --quiet --variant=extract --architectures=arm64 --include="$packages" "$suite" "$root.tmp.tar" "$mirror"
  mkdir -p "$root.tmp"
  tar -xf "$root.tmp.tar" -C "$root.tmp"
  rm -f "$root.tmp.tar"
  mv "$root.tmp" "$root"
fi
newest() { printf '%s\n' "$@" | sort -V | tail -n 1; }
pybin=""
for f in "$root"/usr/bin/python3.[0-9] "$root"/usr/bin/python3.[0-9][0-9]; do
  [ -e "$f" ] && pybin=$(newest "$pybin" "$(basename "$f")")
done
[ -n "$pybin" ] || { echo "test_aarch64.sh: no python3.N in $root/usr/bin" >&2; exit 1; }
pyver=${pybin#python}
run_arm64() { qemu-aarch64-static -L "$root" "$root/usr/bin/$pybin" "$@"; }

dist_wheel() {
  local found=""
  for f in dist/mergekit-*-cp39-abi3-*manylinux_2_17_aarch64*.whl; do
    [ -e "$f" ] && found=$(newest "$found" "$f")
  done
  echo "$found"
}
[ -n "$wheel" ] || wheel=$(dist_wheel)
if [ -z "$wheel" ]; then
  step "no aarch64 wheel in dist/: building one"
  scripts/build_wheels.sh --aarch64 --no-x86_64 --out dist
  wheel=$(dist_wheel)
fi
[ -f "$wheel" ] || { echo "test_aarch64.sh: no such wheel: $wheel" >&2; exit 1; }
sha=$(sha256sum "$wheel" | awk '{print $1}')

site="$cache/site-py$pyver-${sha:0:16}"
if [ ! -f "$site/.complete" ]; then
  step "pip: $(basename "$wheel") and its aarch64 dependencies for CPython $pyver into $site"
  rm -rf "$site"
  "${pip[@]}" install --quiet --disable-pip-version-check --target "$site" --only-binary=:all: \
    --implementation cp --python-version "$pyver" \
    --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 "$wheel"
  touch "$site/.complete"
fi

step "joins under qemu-aarch64 ($pybin from Debian $suite arm64)"
PYTHONPATH="$site" PYTHONDONTWRITEBYTECODE=1 run_arm64 - <<'EOF'
import platform

import numpy as np
import pandas as pd
import pyarrow as pa

import mergekit
import mergekit._native  # the package imports it lazily

assert platform.machine() == "aarch64", platform.machine()
with open(mergekit._native.__file__, "rb") as f:
    elf = f.read(20)
assert elf[:4] == b"\x7fELF" and int.from_bytes(elf[18:20], "little") == 183, "not an aarch64 ELF (EM_AARCH64)"

rng = np.random.default_rng(7)
checked = 0
for n_left, n_right, key_range in [(0, 5, 3), (1_000, 800, 50), (20_000, 15_000, 5_000)]:
    left = pd.DataFrame({
        "k": rng.integers(0, key_range, n_left),
        "s": rng.integers(0, 4, n_left).astype(str),
        "x": rng.random(n_left),
    })
    right = pd.DataFrame({
        "k": rng.integers(0, key_range, n_right),
        "s": rng.integers(0, 4, n_right).astype(str),
        "y": rng.integers(-9, 9, n_right),
    })
    for how in ("inner", "left", "right", "outer"):
        for on in (["k"], ["k", "s"]):
            got = mergekit.merge(left, right, on=on, how=how)
            want = pd.merge(left, right, on=on, how=how)
            if how == "outer":  # the row order of an outer join is pandas' sorted-key order
                got = got.sort_values(on, kind="stable").reset_index(drop=True)
                want = want.sort_values(on, kind="stable").reset_index(drop=True)
            pd.testing.assert_frame_equal(got, want)
            checked += 1
# an Arrow input comes back as Arrow, with the same rows as pandas'
t = mergekit.merge(pa.table({"k": [1, 2, 2, 3]}), pa.table({"k": [2, 3, 4], "v": ["a", "b", "c"]}), on="k")
assert t.to_pydict() == {"k": [2, 2, 3], "v": ["a", "a", "b"]}, t
print(
    f"OK: {checked + 1} joins equal to pandas on {platform.machine()}, Python {platform.python_version()}, "
    f"mergekit {mergekit.__version__}, pandas {pd.__version__}, pyarrow {pa.__version__}, numpy {np.__version__}"
)
EOF
step "done"
