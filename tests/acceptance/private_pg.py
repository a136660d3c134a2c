"""A PostgreSQL cluster of a test's own, which it may stop and start: outages are tested on
it, never on the shared server at 127.0.0.1:5432."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import free_port

INITDB_OPTIONS = ("-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


@dataclass
class PrivatePostgres:
    bin: Path
    data: Path
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        cmd = [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", *args]
        subprocess.run(_as_owner(cmd), check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} "
            "-c fsync=off -c synchronous_commit=off -c max_connections=60"
        )
        self._ctl("-o", opts, "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")


def _as_owner(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("no pg_ctl under /usr/lib/postgresql/*/bin")
    root = Path(tempfile.mkdtemp(prefix="hookline-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    pg = PrivatePostgres(bin_dir, root / "data", free_port(), root / "postgres.log")
    subprocess.run(
        _as_owner([str(bin_dir / "initdb"), "-D", str(pg.data), *INITDB_OPTIONS]),
        check=True,
        capture_output=True,
        timeout=120,
    )
    pg.start()
    try:
        yield pg
    finally:
        subprocess.run(
            _as_owner([str(bin_dir / "pg_ctl"), "-D", str(pg.data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)
