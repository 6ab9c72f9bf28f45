#!/usr/bin/env bash
# EMR bootstrap action: install mergekit on this node for the interpreter PySpark uses.
#
#   install_mergekit.sh --wheels s3://BUCKET/PREFIX/wheels/ [--wheelhouse s3://BUCKET/PREFIX/wheelhouse/]
#                       [--python python3] [--allow-sdist] [--workdir DIR]
#
# --wheels      S3 folder holding mergekit-*.whl (one per architecture); the wheel matching `uname -m` is used.
# --wheelhouse  S3 folder of dependency wheels (pyarrow, pandas, numpy, ...): pip then installs offline
#               (--no-index), for clusters in private subnets without a route to a package index.
# --python      the interpreter Spark's Python workers run (PYSPARK_PYTHON); default python3.
# --allow-sdist with no wheel for this architecture, build mergekit-*.tar.gz from the same folder (needs cargo).
#
# Runs on every node. Any failure exits non-zero, which makes EMR fail the cluster instead of leaving a node
# without mergekit. Running it again with the same wheel changes nothing.
set -euo pipefail

log() { printf '[install_mergekit %s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
# Anything that fails without its own message (set -e) still says where.
trap 'log "FAILED at line $LINENO: $BASH_COMMAND"' ERR

wheels=""
wheelhouse=""
python="python3"
allow_sdist=0
workdir="${TMPDIR:-/tmp}/mergekit-bootstrap"

while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) wheels="${2:-}"; shift ;;
    --wheelhouse) wheelhouse="${2:-}"; shift ;;
    --python) python="${2:-}"; shift ;;
    --allow-sdist) allow_sdist=1 ;;
    --workdir) workdir="${2:-}"; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

[ -n "$wheels" ] || die "--wheels s3://BUCKET/PREFIX/wheels/ is required"
case "$wheels" in s3://*) ;; *) die "--wheels must be an s3:// folder, got: $wheels" ;; esac
wheels="${wheels%/}/"
if [ -n "$wheelhouse" ]; then
  case "$wheelhouse" in s3://*) ;; *) die "--wheelhouse must be an s3:// folder, got: $wheelhouse" ;; esac
  wheelhouse="${wheelhouse%/}/"
fi

command -v aws >/dev/null 2>&1 || die "the AWS CLI (aws) is not on PATH; it is needed to fetch from S3"
py=$(command -v "$python" 2>/dev/null) || die "interpreter not found: $python"
arch=$(uname -m)
log "node $(hostname) arch $arch, interpreter $py ($("$py" -c 'import sys; print(sys.version.split()[0])'))"

"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' \
  || die "$py is older than Python 3.9; mergekit's wheel is abi3 for 3.9+ (pick another --python)"
"$py" -m pip --version >/dev/null 2>&1 \
  || die "pip is not available for $py (on Amazon Linux: sudo dnf install -y python3-pip)"

# On EMR the bootstrap runs as the hadoop user while python3's site-packages belong to root: install through
# passwordless sudo then. A venv interpreter (as in the tests) is writable and needs none.
site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
# (Expanded as ${as_root[@]+${as_root[@]+"${as_root[@]}"}}: Amazon Linux 2 has bash 4.2, where an empty array is "unbound"
# under set -u.)
as_root=()
if [ "$(id -u)" != 0 ] && [ ! -w "$site" ]; then
  command -v sudo >/dev/null 2>&1 || die "$site is not writable and sudo is missing"
  as_root=(sudo -n)
fi

mkdir -p "$workdir"

log "listing $wheels"
# s3api rather than `aws s3 ls`, which exits 1 for an empty folder as it does for a missing bucket.
bucket_and_key=${wheels#s3://}
listing=$(aws s3api list-objects-v2 --bucket "${bucket_and_key%%/*}" --prefix "${bucket_and_key#*/}" \
  --query 'Contents[].Key' --output text) \
  || die "cannot list $wheels (does the bucket exist? does the instance role allow s3:ListBucket?)"
names=$(tr '\t' '\n' <<<"$listing" | sed 's|.*/||' | grep -E '^mergekit-.*\.(whl|tar\.gz)$' || true)
wheel_name=$(grep -E "_${arch}\.whl$" <<<"$names" | sort -V | tail -n 1 || true)

if [ -z "$wheel_name" ]; then
  sdist_name=$(grep -E '\.tar\.gz$' <<<"$names" | sort -V | tail -n 1 || true)
  if [ "$allow_sdist" = 1 ] && [ -n "$sdist_name" ]; then
    command -v cargo >/dev/null 2>&1 \
      || die "no $arch wheel in $wheels and building $sdist_name needs a Rust toolchain (cargo) on the node"
    wheel_name="$sdist_name"
    log "no $arch wheel; building from source $sdist_name"
  else
    die "no mergekit wheel for architecture $arch in $wheels (found: $(tr '\n' ' ' <<<"${names:-nothing}"))." \
      "Build one with scripts/build_wheels.sh, or use instance types of an architecture you have a wheel for."
  fi
fi

local_wheel="$workdir/$wheel_name"
log "fetching ${wheels}${wheel_name}"
aws s3 cp --only-show-errors "${wheels}${wheel_name}" "$local_wheel" || die "cannot download ${wheels}${wheel_name}"
sha=$(sha256sum "$local_wheel" | awk '{print $1}')
version=$(sed -E 's/^mergekit-([^-]+)(-.*\.whl|\.tar\.gz)$/\1/' <<<"$wheel_name")
log "wheel $wheel_name version $version sha256 $sha"

pip_args=(--disable-pip-version-check --no-input)
if [ -n "$wheelhouse" ]; then
  log "syncing wheelhouse $wheelhouse"
  aws s3 sync --only-show-errors "$wheelhouse" "$workdir/wheelhouse" || die "cannot download $wheelhouse"
  pip_args+=(--no-index --find-links "$workdir/wheelhouse")
fi
if [[ "$wheel_name" == *.whl ]]; then
  # Binary dependencies only: the newest pyarrow may have no wheel for an old glibc (EMR 6), and pip must
  # then fall back to an older release with one rather than try to compile pyarrow on the node.
  pip_args+=(--only-binary=:all:)
fi

installed_version() {
  "$py" -c 'import importlib.metadata as m; print(m.version("mergekit"))' 2>/dev/null || true
}
marker="$site/mergekit-bootstrap.sha256"
current=$(installed_version)

if [ "$current" = "$version" ] && [ -f "$marker" ] && [ "$(cat "$marker")" = "$sha" ] \
  && "$py" -c 'import mergekit' 2>/dev/null; then
  log "mergekit $version (sha256 $sha) is already installed for $py: nothing to do"
else
  if [ "$current" = "$version" ]; then
    # Same version string, different build: replace the package, leave the dependencies as they are.
    log "replacing mergekit $current (a different build) for $py"
    ${as_root[@]+"${as_root[@]}"} "$py" -m pip install "${pip_args[@]}" --force-reinstall --no-deps "$local_wheel" \
      || die "pip could not install $wheel_name for $py"
  else
    log "installing $wheel_name with its dependencies (pyarrow, pandas, numpy) for $py${current:+ (was $current)}"
    ${as_root[@]+"${as_root[@]}"} "$py" -m pip install "${pip_args[@]}" "$local_wheel" \
      || die "pip could not install $wheel_name for $py (see pip's message above)"
  fi
  printf '%s\n' "$sha" | ${as_root[@]+"${as_root[@]}"} tee "$marker" >/dev/null
fi

log "verifying: import mergekit and a two-row merge with $py"
report=$("$py" - <<'PY'
import mergekit
import pandas as pd
import pyarrow as pa

left = pd.DataFrame({"ID": ["A", "B"], "Word": ["Hello", "World"]})
right = pd.DataFrame({"ID": ["B", "A"], "droW": ["dlroW", "olleH"]})
out = mergekit.merge(left, right, on="ID")
assert out["droW"].tolist() == ["olleH", "dlroW"], out
print(f"mergekit {mergekit.__version__}, pyarrow {pa.__version__}, pandas {pd.__version__}")
PY
) || die "mergekit is installed but does not work with $py (see the traceback above)"
log "OK: $report"
