#!/usr/bin/env bash
# Build the portable wheels that the EMR bootstrap action installs, into dist/:
#   mergekit-<v>-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl   (unless --no-x86_64)
#   mergekit-<v>-cp39-abi3-manylinux2014_aarch64.manylinux_2_17_aarch64.whl (only with --aarch64, see below)
#   mergekit-<v>.tar.gz                                                     (sdist fallback, with --sdist)
#
# Why zig: the wheel must load on EMR 6 (Amazon Linux 2, glibc 2.26), so it has to be linked against an old
# glibc. This machine has glibc 2.36; zig's bundled glibc stubs let us link against 2.17 (manylinux2014)
# without a manylinux container. abi3-py39 (set in Cargo.toml) makes one wheel serve EMR 7's Python 3.9 and
# Spark 4's Python 3.11+.
#
# Usage: scripts/build_wheels.sh [--aarch64] [--no-x86_64] [--sdist] [--out DIR] [--from-git REV]
#   --from-git REV  build a clean `git archive` of REV instead of the working tree (which may hold someone's
#                   unfinished edits); what CI and releases should ship is a commit, not a working tree.
# Env:   WHEEL_TOOLS_VENV  venv holding maturin, ziglang and auditwheel (default .venv-wheel, created on demand)
#        WHEEL_PROFILE     cargo profile (default release). CI's aarch64 smoke test uses `smoke` (Cargo.toml): the
#                          same code at opt-level 1 without LTO, which builds in a fraction of the time; releases
#                          use the default.
#        CARGO_TARGET_DIR  default target/wheels: a separate dir so the zig-linked build neither invalidates nor
#                          holds the lock on the shared dev build in target/ for minutes.
#        AARCH64_RUSTC     a rustc whose sysroot holds the aarch64-unknown-linux-gnu std (see docs/emr.md).
#                          Without it, --aarch64 unpacks Debian's rustc-web and its arm64 std into
#                          AARCH64_TOOLCHAIN_DIR (default target/rust-web-cross): rustup's own aarch64 std needs
#                          a download host this build machine may not reach, Debian's package mirror it does.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

out=dist
from_git=""
aarch64=0
x86_64=1
sdist=0
while [ $# -gt 0 ]; do
  case "$1" in
    --aarch64) aarch64=1 ;;
    --no-x86_64) x86_64=0 ;;
    --sdist) sdist=1 ;;
    --out) out="$2"; shift ;;
    --from-git) from_git="$2"; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "build_wheels.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

tools="${WHEEL_TOOLS_VENV:-$PWD/.venv-wheel}"
if [ ! -x "$tools/bin/maturin" ] || ! "$tools/bin/python" -c 'import ziglang, auditwheel' 2>/dev/null; then
  echo "== setting up wheel tools in $tools"
  python3 -m venv "$tools"
  # maturin's --zig support is tested against specific zig releases; pin the pair that built the release.
  "$tools/bin/pip" install --quiet 'maturin>=1.7,<2' 'ziglang>=0.13,<0.18' 'auditwheel>=6'
fi
export PATH="$tools/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/wheels}"
mkdir -p "$out"
out=$(cd "$out" && pwd)

if [ -n "$from_git" ]; then
  src=$(mktemp -d "${TMPDIR:-/tmp}/mergekit-src.XXXXXX")
  trap 'rm -rf "$src"' EXIT
  echo "== building $(git rev-parse --short "$from_git") from a clean export in $src"
  git archive "$from_git" | tar -x -C "$src"
  cd "$src"
fi

build() { # $1 = rust target triple
  local profile=${WHEEL_PROFILE:-release}
  echo "== maturin build --profile $profile --zig --compatibility manylinux2014 --target $1"
  maturin build --profile "$profile" --zig --compatibility manylinux2014 --target "$1" --out "$out" \
    --interpreter python3
}

check() { # $1 = architecture; auditwheel must find the wheel consistent with manylinux_2_17 (manylinux2014)
  local wheel report
  wheel=$(ls "$out"/mergekit-"$version"-cp39-abi3-*manylinux_2_17_"$1"*.whl)
  echo "== auditwheel show $wheel"
  report=$(auditwheel show "$wheel")
  echo "$report"
  if ! grep -q "manylinux_2_17_$1" <<<"$report"; then
    echo "build_wheels.sh: $wheel is not manylinux_2_17_$1 (manylinux2014)" >&2
    exit 1
  fi
}

version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)

if [ "$x86_64" = 1 ]; then
  build x86_64-unknown-linux-gnu
  check x86_64
fi

# Debian (bookworm-security) ships rustc-web with its standard library for every Debian architecture as
# multi-arch packages. Unpacking the amd64 compiler, its amd64 std (for build scripts) and the arm64 std into one
# directory gives a rustc that can target aarch64; nothing is installed system-wide (apt runs with private
# state and cache directories and only downloads).
debian_cross_rustc() { # $1 = directory; prints the path of a rustc wrapper
  local dir=$1 state std llvm
  if [ -x "$dir/rustc" ] && "$dir/rustc" --print target-libdir --target aarch64-unknown-linux-gnu >/dev/null 2>&1
  then
    echo "$dir/rustc"
    return
  fi
  command -v apt-get >/dev/null || { echo "build_wheels.sh: no apt-get to fetch Debian's rustc-web" >&2; exit 1; }
  state=$(mktemp -d "${TMPDIR:-/tmp}/mergekit-apt.XXXXXX")
  mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/debs" "$dir"
  local apt=(-o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache" -o "APT::Sandbox::User=root"
    -o "APT::Architectures::=amd64" -o "APT::Architectures::=arm64")
  apt-get "${apt[@]}" update -qq >&2
  std=$(apt-cache "${apt[@]}" depends libstd-rust-web-dev | awk '/Depends: libstd-rust-web-[0-9]/ {print $2; exit}')
  llvm=$(apt-cache "${apt[@]}" depends "$std" | awk '/Depends: libllvm[0-9]/ {print $2; exit}')
  if [ -z "$std" ] || [ -z "$llvm" ]; then
    echo "build_wheels.sh: cannot resolve rustc-web's packages" >&2
    exit 1
  fi
  (cd "$state/debs" && apt-get "${apt[@]}" download -qq rustc-web libstd-rust-web-dev "$std" "$llvm" \
    libstd-rust-web-dev:arm64 "$std:arm64" >&2)
  for deb in "$state/debs"/*.deb; do dpkg -x "$deb" "$dir"; done
  rm -rf "$state"
  cat >"$dir/rustc" <<EOF
#!/bin/sh
# Debian's rustc-web, unpacked by scripts/build_wheels.sh; its librustc_driver and libLLVM sit beside it.
LD_LIBRARY_PATH="$dir/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$dir/usr/bin/rustc" "\$@"
EOF
  chmod +x "$dir/rustc"
  echo "$dir/rustc"
}

if [ "$aarch64" = 1 ]; then
  # The aarch64 std comes from AARCH64_RUSTC, rustup (if it has the target) or Debian; linking against
  # glibc 2.17 for aarch64 is zig's job as for x86_64.
  if [ -z "${AARCH64_RUSTC:-}" ] && ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu
  then
    echo "== no aarch64 std in rustup: using Debian's rustc-web"
    AARCH64_RUSTC=$(debian_cross_rustc "${AARCH64_TOOLCHAIN_DIR:-$repo/target/rust-web-cross}")
  fi
  if [ -n "${AARCH64_RUSTC:-}" ]; then export RUSTC="$AARCH64_RUSTC"; fi
  if ! "${RUSTC:-rustc}" --print target-libdir --target aarch64-unknown-linux-gnu >/dev/null 2>&1 \
    || [ ! -d "$("${RUSTC:-rustc}" --print target-libdir --target aarch64-unknown-linux-gnu)" ]; then
    echo "build_wheels.sh: no aarch64-unknown-linux-gnu std for ${RUSTC:-rustc}; set AARCH64_RUSTC" >&2
    echo "  (or build the sdist with --sdist: Graviton nodes then compile it at bootstrap, see docs/emr.md)" >&2
    exit 1
  fi
  build aarch64-unknown-linux-gnu
  check aarch64
fi

if [ "$sdist" = 1 ]; then
  echo "== maturin sdist"
  maturin sdist --out "$out"
fi

echo "== wheels in $out:"
ls -l "$out"
