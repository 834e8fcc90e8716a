"""Compiling the benchmarks' one-file C programs (the load generator, the calibration
server) with the system's C compiler, into ``benchmarks/build/``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

BUILD_DIR = Path(__file__).resolve().parent / "build"


def compile_c(source: Path, binary: Path) -> Path:
    """``source`` compiled to ``binary``, unless ``binary`` is already newer."""
    if binary.exists() and binary.stat().st_mtime >= source.stat().st_mtime:
        return binary
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise RuntimeError("no C compiler: apt-get install gcc")
    binary.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [compiler, "-O2", "-Wall", "-Wextra", "-o", str(binary), str(source)],
        check=True,
    )
    return binary
