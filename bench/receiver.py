"""The receivers: nginx answering 200 to every POST and logging what came, and a black hole.

nginx logs ``$msec $request_uri $http_webhook_id $status`` for every request, so the harness
can count each (path, event id) received, spot any lost or duplicated, and take the receipt
time of each delivery from nginx's own clock (``$msec``: the moment the request was logged,
right after it was read).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench.system import ensure_tool, free_port

LOG_FORMAT = "$msec $request_uri $http_webhook_id $status"
READY_TIMEOUT_S = 10.0
POLL_S = 0.1

_CONFIG = """
worker_processes {workers};
daemon off;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 16384; multi_accept on; }}
http {{
    client_body_temp_path {run}/tmp/body;
    proxy_temp_path {run}/tmp/proxy;
    fastcgi_temp_path {run}/tmp/fastcgi;
    uwsgi_temp_path {run}/tmp/uwsgi;
    scgi_temp_path {run}/tmp/scgi;
    log_format hook '{log_format}';
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 75s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /wrk {{ return 200 "ok\\n"; }}
        location / {{
            access_log {run}/access.log hook buffer=256k flush=100ms;
            return 200 "ok\\n";
        }}
    }}
}}
"""


class Nginx:
    """nginx on a loopback port, run in the foreground as a child of the harness."""

    def __init__(self, run_dir: Path, workers: int = 1) -> None:
        self.run_dir = run_dir
        self.workers = workers
        self.port = free_port()
        self.access_log = run_dir / "access.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        binary = ensure_tool("nginx", "nginx")
        (self.run_dir / "tmp").mkdir(parents=True, exist_ok=True)
        # nginx's workers drop to an unprivileged user: let them reach their temp folders
        os.chmod(self.run_dir, 0o755)  # noqa: S103 - a scratch folder of the benchmark
        os.chmod(self.run_dir / "tmp", 0o777)  # noqa: S103 - nginx's own temp files only
        conf = self.run_dir / "nginx.conf"
        conf.write_text(
            _CONFIG.format(
                workers=self.workers, run=self.run_dir, port=self.port, log_format=LOG_FORMAT
            )
        )
        self.access_log.touch()
        self._proc = subprocess.Popen(
            [
                binary,
                "-p",
                str(self.run_dir),
                "-c",
                str(conf),
                "-e",
                str(self.run_dir / "error.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        _wait_for_port(self.port, self._proc)

    def version(self) -> str:
        done = subprocess.run(
            [ensure_tool("nginx", "nginx"), "-v"], capture_output=True, text=True, check=False
        )
        return done.stderr.strip()

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGQUIT)  # graceful: flushes the buffered log
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._proc = None

    def receipts(self, prefix: str) -> Receipts:
        """A reader of what arrives from now on under paths starting with ``prefix``."""
        return Receipts(self.access_log, prefix, self.access_log.stat().st_size)


def _wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on {port} in {READY_TIMEOUT_S} s")


@dataclass
class Receipts:
    """Tails nginx's access log: the first receipt time of each (path, event id), and repeats."""

    log: Path
    prefix: str
    offset: int
    first_s: dict[tuple[str, str], float] = field(default_factory=dict)
    repeats: dict[tuple[str, str], int] = field(default_factory=dict)
    non_2xx: int = 0
    _partial: bytes = b""

    def poll(self) -> list[tuple[str, str]]:
        """Read what nginx has written since the last call; the keys received the first time."""
        with self.log.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        self.offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        prefix = self.prefix.encode()
        new: list[tuple[str, str]] = []
        for line in lines:
            parts = line.split(b" ")
            if len(parts) != 4 or not parts[1].startswith(prefix):
                continue
            key = (parts[1].decode(), parts[2].decode())
            if not parts[3].startswith(b"2"):
                self.non_2xx += 1
            if key in self.first_s:
                self.repeats[key] = self.repeats.get(key, 0) + 1
            else:
                self.first_s[key] = float(parts[0])
                new.append(key)
        return new

    async def wait_for(
        self, expected: Iterable[tuple[str, str]], *, timeout_s: float, stall_s: float = 30.0
    ) -> Tally:
        """Until every expected receipt is in, nothing new came for ``stall_s``, or timeout."""
        want = set(expected)
        deadline = time.monotonic() + timeout_s
        last_new = time.monotonic()
        got = sum(1 for k in want if k in self.first_s)
        while True:
            new = self.poll()
            if new:
                last_new = time.monotonic()
                got += sum(1 for k in new if k in want)
            now = time.monotonic()
            if got == len(want) or now > deadline or now - last_new > stall_s:
                break
            await asyncio.sleep(POLL_S)
        await asyncio.sleep(0.3)  # nginx flushes its log buffer every 100 ms: take the stragglers
        self.poll()
        return self.tally(want)

    def tally(self, want: set[tuple[str, str]]) -> Tally:
        received = [self.first_s[k] for k in want if k in self.first_s]
        return Tally(
            expected=len(want),
            received=len(received),
            lost=len(want) - len(received),
            duplicated=sum(n for k, n in self.repeats.items() if k in want),
            unexpected=sum(1 for k in self.first_s if k not in want),
            non_2xx=self.non_2xx,
            first_s=min(received) if received else None,
            last_s=max(received) if received else None,
        )


@dataclass(frozen=True, kw_only=True)
class Tally:
    """What arrived against what was published."""

    expected: int
    received: int
    lost: int
    duplicated: int
    unexpected: int
    non_2xx: int
    first_s: float | None
    last_s: float | None

    @property
    def clean(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.unexpected == 0


class BlackHole:
    """Accepts connections, reads whatever comes, and never answers (scenario c)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="bench-blackhole", daemon=True)
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self._held: list[asyncio.StreamWriter] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the black hole did not start")

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._listen())
        self._ready.set()
        self._loop.run_forever()
        for w in self._held:
            w.close()
        if self._server is not None:
            self._server.close()
        self._loop.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._swallow, "127.0.0.1", self.port, backlog=4096
        )

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._held.append(writer)
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass
