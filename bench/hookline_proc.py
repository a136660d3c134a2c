"""Hookline under test: a fresh database per scenario, and its processes started and stopped.

SQLite runs the embedded process (``hookline serve``: API and worker in one). PostgreSQL runs
``hookline migrate`` once, then ``hookline api`` and ``hookline worker`` as separate processes.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import asyncpg

from bench.system import cpu_seconds, free_port, memory_kib

DbKind = Literal["sqlite", "postgresql"]
ADMIN_KEY = "hl_bench_admin_key_0123456789abcdef"
SECRET_KEY = "bench-master-key-0123456789abcdef"  # noqa: S105 - a throwaway bench key
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


@dataclass
class Database:
    kind: DbKind
    url: str
    name: str

    def drop(self) -> None:
        if self.kind == "postgresql":
            _pg_execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def _pg_execute(sql: str) -> None:
    """One admin statement, on a thread of its own (the harness's event loop may be running)."""

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


def fresh_database(kind: DbKind, work: Path, label: str) -> Database:
    """An empty database for one scenario: a new SQLite file, or a new PostgreSQL database."""
    name = f"hookline_bench_{label.replace('-', '_')}_{secrets.token_hex(4)}"
    if kind == "sqlite":
        return Database(kind=kind, url=f"sqlite:///{work / name}.db", name=name)
    _pg_execute(f'CREATE DATABASE "{name}"')
    host_part = PG_ADMIN_URL.rsplit("/", 1)[0]
    return Database(kind=kind, url=f"{host_part}/{name}", name=name)


@dataclass
class Proc:
    role: str
    popen: subprocess.Popen[bytes]
    log: Path
    started_s: float

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def memory_kib(self) -> dict[str, int]:
        return memory_kib(self.pid)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)

    def output_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Hookline:
    """The processes of one Hookline deployment on one database."""

    def __init__(self, db: Database, work: Path, **settings: str) -> None:
        self.db = db
        self.work = work
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.settings = settings
        self.procs: list[Proc] = []
        self.api_proc: Proc | None = None
        self.worker_proc: Proc | None = None
        self._migrated = False

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
        env.update(
            HOOKLINE_DATABASE_URL=self.db.url,
            HOOKLINE_PORT=str(self.port),
            HOOKLINE_ADMIN_KEY=ADMIN_KEY,
            HOOKLINE_SECRET_KEY=SECRET_KEY,
            HOOKLINE_ALLOW_HTTP="true",
            HOOKLINE_ALLOWED_NETWORKS="127.0.0.0/8",
            HOOKLINE_LOG_LEVEL="warning",
        )
        env.update({f"HOOKLINE_{k.upper()}": v for k, v in self.settings.items()})
        return env

    def start(self) -> None:
        """The whole service: ``serve`` on SQLite; ``api`` + ``worker`` on PostgreSQL."""
        if self.db.kind == "sqlite":
            self.api_proc = self.worker_proc = self._spawn("serve")
            self.wait_ready()
        else:
            self.start_api()
            self.start_worker()

    def migrate(self) -> None:
        if self._migrated:
            return
        done = subprocess.run(
            [sys.executable, "-m", "hookline", "migrate"],
            env=self.env(),
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"hookline migrate failed:\n{done.stdout}\n{done.stderr}")
        self._migrated = True

    def start_api(self) -> None:
        """``hookline api`` alone (a backlog builds up while no worker runs)."""
        self.migrate()
        self.api_proc = self._spawn("api")
        self.wait_ready()

    def start_worker(self) -> Proc:
        self.migrate()
        self.worker_proc = self._spawn("worker")
        return self.worker_proc

    def _spawn(self, role: str) -> Proc:
        log = self.work / f"{self.db.name}-{role}-{len(self.procs)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "hookline", role],
                env=self.env(),
                cwd=self.work,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        proc = Proc(role=role, popen=popen, log=log, started_s=time.time())
        self.procs.append(proc)
        return proc

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            for p in self.procs:
                if not p.alive():
                    raise RuntimeError(f"hookline {p.role} exited:\n{p.output_tail()}")
            try:
                with urllib.request.urlopen(self.base + "/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError("hookline did not become ready")

    def cpu_s(self) -> float:
        """CPU time Hookline's processes have used so far (those still running)."""
        return sum(cpu_seconds(p.pid) or 0.0 for p in self.procs)

    def check_alive(self) -> list[str]:
        """Processes that died on their own, with the end of their output."""
        return [
            f"{p.role} exited {p.popen.returncode}: {p.output_tail(10)}"
            for p in self.procs
            if p.popen.returncode not in (None, 0, -signal.SIGTERM, -signal.SIGKILL)
        ]

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        for p in reversed(self.procs):
            p.stop(timeout_s)
