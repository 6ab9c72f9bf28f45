"""The Python environment EMR Serverless runs mergekit in: a relocatable venv packed as a ``.tar.gz``.

EMR Serverless has no bootstrap actions; a job brings its Python packages as an archive that Spark unpacks
beside the driver and every executor (``spark.archives=URI#environment``), and ``PYSPARK_PYTHON`` names
``./environment/bin/python`` in it. The archive holds a venv whose ``bin/python`` is a symlink to the image's
own interpreter (``/usr/bin/python3.11`` on emr-spark-8.0.0), so the packages must be built for that Python
version and the image's CPU architecture, not for this machine's.

Why not venv-pack: it packs a venv made by a local interpreter of the target version, and its
``--python-prefix`` rewrites ``bin/python3.11`` of a Python 3.11 venv to ``python3.113.11`` (venv-pack 0.2.0,
the current release, tried here). Writing the few files of a venv ourselves needs no local interpreter of
the target version at all: pip installs the wheels for the target with ``--platform``/``--python-version``
(``--only-binary=:all:``, so nothing is compiled or executed for the target), and this module adds
``pyvenv.cfg`` and the interpreter symlinks.

The archive is reproducible for the same inputs (sorted members, fixed times and owners, no ``.pyc``), so
``mergekit emr upload``'s SHA-256 check skips re-uploading an unchanged one.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from mergekit.emr._aws import EmrError

# EMR Serverless' `architecture` values and the names pip and wheel tags use for them.
ARCHITECTURES = {"X86_64": "x86_64", "ARM64": "aarch64"}


@dataclass(frozen=True)
class EnvSpec:
    wheel: str  # the mergekit wheel for the target architecture
    python_version: str = "3.11"  # the image's interpreter version
    architecture: str = "X86_64"
    interpreter: Optional[str] = None  # the absolute path of that interpreter in the image
    wheelhouse: Optional[str] = None  # a directory of dependency wheels: install offline from it
    requirements: tuple[str, ...] = ()  # more packages for analysis.py

    def target_interpreter(self) -> str:
        return self.interpreter or f"/usr/bin/python{self.python_version}"

    def machine(self) -> str:
        if self.architecture not in ARCHITECTURES:
            raise EmrError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got {self.architecture}")
        return ARCHITECTURES[self.architecture]

    def key(self) -> str:
        """A name that changes whenever the archive's content would: it names the cached and uploaded file."""
        h = hashlib.sha256()
        with open(self.wheel, "rb") as f:
            h.update(f.read())
        h.update(repr((self.python_version, self.architecture, self.target_interpreter())).encode())
        h.update(repr(sorted(self.requirements)).encode())
        if self.wheelhouse:
            for name in sorted(os.listdir(self.wheelhouse)):
                h.update(name.encode())
        return f"mergekit-env-py{self.python_version}-{self.machine()}-{h.hexdigest()[:16]}.tar.gz"


def pip_install_args(spec: EnvSpec, site: str) -> list[str]:
    """pip's arguments that install the wheel and its dependencies for the target into ``site``."""
    machine = spec.machine()
    args = [
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",  # .pyc files would hold install times: the archive would differ on every build
        "--target",
        site,
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        spec.python_version,
        # numpy, pandas and pyarrow publish their current Linux wheels as manylinux_2_28; the mergekit
        # wheel is manylinux2014. Amazon Linux 2023 (glibc 2.34) runs both.
        "--platform",
        f"manylinux2014_{machine}",
        "--platform",
        f"manylinux_2_28_{machine}",
    ]
    if spec.wheelhouse:
        args += ["--no-index", "--find-links", spec.wheelhouse]
    return [*args, spec.wheel, *spec.requirements]


def _pyvenv_cfg(spec: EnvSpec) -> str:
    home = os.path.dirname(spec.target_interpreter())
    return f"home = {home}\ninclude-system-site-packages = false\nversion = {spec.python_version}\n"


def _add(tar: tarfile.TarFile, info: tarfile.TarInfo, data: Optional[bytes] = None) -> None:
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data) if data is not None else None)


def _write_tar_gz(root: Path, spec: EnvSpec, out: Path) -> None:
    with contextlib.ExitStack() as stack:  # (parenthesised `with` needs Python 3.10; this runs on 3.9)
        raw = stack.enter_context(open(out, "wb"))
        gz = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="wb", mtime=0))
        tar = stack.enter_context(tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT))
        cfg = _pyvenv_cfg(spec).encode()
        info = tarfile.TarInfo("pyvenv.cfg")
        info.size = len(cfg)
        _add(tar, info, cfg)
        d = tarfile.TarInfo("bin")
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        _add(tar, d)
        version = f"python{spec.python_version}"
        for name, target in (
            (version, spec.target_interpreter()),
            ("python3", version),
            ("python", version),
        ):
            link = tarfile.TarInfo(f"bin/{name}")
            link.type, link.linkname, link.mode = tarfile.SYMTYPE, target, 0o777
            _add(tar, link)
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root).as_posix()
            if "__pycache__" in path.parts:
                continue
            info = tar.gettarinfo(str(path), arcname=rel)
            if info.isreg():
                with open(path, "rb") as f:
                    _add(tar, info, f.read())
            else:
                _add(tar, info)


def build(spec: EnvSpec, out_dir: str, pip: Optional[list[str]] = None) -> str:
    """Build the archive into ``out_dir`` (reused when it is already there) and return its path.

    ``pip`` is the command that runs pip (default: this interpreter's). The archive appears under its final
    name only when complete (written to a temporary name in the same directory, then renamed).
    """
    if not os.path.isfile(spec.wheel):
        raise EmrError(f"no such wheel: {spec.wheel}")
    wheel_arch = spec.machine()
    if not os.path.basename(spec.wheel).endswith(f"_{wheel_arch}.whl"):
        raise EmrError(f"{os.path.basename(spec.wheel)} is not a {wheel_arch} wheel ({spec.architecture})")
    os.makedirs(out_dir, exist_ok=True)
    out = Path(out_dir) / spec.key()
    if out.is_file():
        return str(out)
    with tempfile.TemporaryDirectory(prefix="mergekit-env-") as tmp:
        root = Path(tmp) / "env"
        site = root / "lib" / f"python{spec.python_version}" / "site-packages"
        site.mkdir(parents=True)
        cmd = [*(pip or [sys.executable, "-m", "pip"]), *pip_install_args(spec, str(site))]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
            raise EmrError(
                f"pip could not install {os.path.basename(spec.wheel)} for CPython {spec.python_version} "
                f"{wheel_arch}: " + " | ".join(last)
            )
        # console scripts pip wrote point at this machine's interpreter: useless in the image
        shutil.rmtree(site / "bin", ignore_errors=True)
        partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
        try:
            _write_tar_gz(root, spec, partial)
            os.replace(partial, out)
        finally:
            if partial.exists():
                partial.unlink()
    return str(out)
