"""End-to-end fixtures: the real server in a subprocess, a real HTTP receiver on loopback."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import forkserver
import httpx
import pytest
from aiohttp import web
from forkserver import Process

ADMIN_KEY = "hl_test_admin_key_0123456789abcdef"
#: the TLS context of the tests' HTTP clients: one, as each new one loads the certificate
#: authorities, which cost more CPU than most tests' requests; the servers are plain HTTP
#: anyway (docs/perf/2026-12-08-test-tls-contexts.md)
TLS = httpx.create_ssl_context()
READY_TIMEOUT_S = 30.0


# The ports free_port() hands out: below the kernel's ephemeral range, so that no outgoing
# connection nor any bind to port 0 takes one between free_port() and the server's own bind;
# and a block of them per pytest-xdist worker, so that two workers running at once never hand
# out the same port; a run without workers (scripts/test's serial pass) takes the last block,
# so that it may run beside workers too. A process goes round its block from a random start
# (another test run on the machine starts elsewhere), skipping the ports something listens on.
PORT_BLOCK = 1_000
PORTS_FROM = 10_000


def _port_block() -> range | None:
    """This process's block of ports, or None where the ephemeral range leaves no room."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        ephemeral_from = int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return None
    blocks = (ephemeral_from - PORTS_FROM) // PORT_BLOCK
    if blocks < 1:
        return None
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    index = int(worker.removeprefix("gw")) % blocks if worker else blocks - 1
    first = PORTS_FROM + index * PORT_BLOCK
    return range(first, first + PORT_BLOCK)


_PORTS = _port_block()
_next_port = random.randrange(PORT_BLOCK)
_ports_lock = threading.Lock()


def free_port() -> int:
    """A loopback port nothing listens on, for a server about to start."""
    global _next_port
    with _ports_lock:
        for _ in range(PORT_BLOCK if _PORTS else 1):
            port = _PORTS[_next_port % PORT_BLOCK] if _PORTS else 0
            _next_port += 1
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return int(s.getsockname()[1])
    raise AssertionError("no free port in this worker's block")


@dataclass
class Received:
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """Records every POST. ``plan(path, [status, ...])`` scripts answers; the last repeats."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    plans: dict[str, list[int]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    #: per path: a fixed response body, and extra response headers
    bodies: dict[str, str] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    #: per path: requests being answered now, and the most there ever were at once
    busy: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)
    #: per path: requests whose client went away before they were answered
    cut_off: dict[str, int] = field(default_factory=dict)
    #: the same over every path
    all_busy: int = 0
    all_peak: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def plan(self, path: str, statuses: list[int]) -> None:
        with self.lock:
            self.plans[path] = list(statuses)

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout_s: float = 15.0
    ) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                snapshot = list(self.requests)
            if predicate(snapshot):
                return snapshot
            time.sleep(0.02)
        with self.lock:
            raise AssertionError(
                f"receiver condition not met in {timeout_s} s; got {len(self.requests)} requests"
            )

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self.lock:
            self.requests.append(
                Received(
                    path=request.path,
                    query=request.query_string,
                    headers=dict(request.headers),
                    body=body,
                    at=time.time(),
                )
            )
            plan = self.plans.get(request.path)
            status = 200
            if plan:
                status = plan.pop(0) if len(plan) > 1 else plan[0]
            delay = self.delays.get(request.path, 0.0)
            answer = self.bodies.get(request.path, f"answer {status} " + "x" * 10_000)
            headers = dict(self.headers.get(request.path, {}))
            busy = self.busy[request.path] = self.busy.get(request.path, 0) + 1
            self.peak[request.path] = max(self.peak.get(request.path, 0), busy)
            self.all_busy += 1
            self.all_peak = max(self.all_peak, self.all_busy)
        try:
            if delay:
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            with self.lock:
                self.cut_off[request.path] = self.cut_off.get(request.path, 0) + 1
            raise
        finally:
            with self.lock:
                self.busy[request.path] -= 1
                self.all_busy -= 1
        if 300 <= status < 400:
            headers["Location"] = "http://127.0.0.1:1/elsewhere"
        return web.Response(status=status, text=answer, headers=headers)


async def _stop_receiver(runner: web.AppRunner) -> None:
    """Stop listening and end every connection. One whose answer is still unsent (its client
    not reading) would wait to flush before it closed, and its socket outlive the loop: it is
    aborted instead."""
    handlers = runner.server.connections if runner.server is not None else []
    await runner.cleanup()
    left = [h for h in handlers if h.transport is not None]
    for handler in left:
        if handler.transport is not None:
            handler.transport.abort()
    # an aborted transport closes its socket in a callback it has queued on the loop: one
    # queued after them runs once they all have
    loop = asyncio.get_running_loop()
    after = loop.create_future()
    loop.call_soon(after.set_result, None)
    await after
    assert all(h.transport is None for h in left), "a receiver connection outlived its abort"


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """A receiver on a free loopback port, for as long as the block runs."""
    rec = Receiver(port=free_port())
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner_box: dict[str, web.AppRunner] = {}

    async def start() -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", rec._handle)
        # at the end, requests still being answered (a test's slow or hanging path) are
        # cut off at once: nobody waits for their answers any more. A request whose client
        # has gone (an attempt that timed out) ends then too, so that ``busy`` and ``peak``
        # count the requests Hookline has open, not answers still being slept on
        runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=0.1, handler_cancellation=True
        )
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", rec.port).start()
        runner_box["r"] = runner
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    yield rec
    asyncio.run_coroutine_threadsafe(_stop_receiver(runner_box["r"]), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as rec:
        yield rec


def base_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env.update(
        HOOKLINE_DATABASE_URL=database_url,
        HOOKLINE_ADMIN_KEY=ADMIN_KEY,
        HOOKLINE_SECRET_KEY="test-master-key-0123456789",
        HOOKLINE_ALLOW_HTTP="true",
        HOOKLINE_ALLOWED_NETWORKS="127.0.0.0/8",
        HOOKLINE_RETRY_SCHEDULE="0,1,2",
        # the default: a worker is woken by what its own process publishes, replays or
        # recovers, and by the due time of its next retry; polling finds only what other
        # processes did, and each poll is a claim (0.2 s took most of an idle server's CPU)
        HOOKLINE_POLL_INTERVAL_S="1",
        HOOKLINE_DELIVERY_TIMEOUT_S="3",
        HOOKLINE_LOG_LEVEL="warning",
    )
    env.update(extra)
    return env


def hookline(*args: str) -> list[str]:
    return [sys.executable, "-m", "hookline", *args]


def run_hookline(
    commands: list[list[str]],
    env: dict[str, str],
    cwd: Path,
    stdin: str = "",
    timeout_s: float = 60,
) -> list[subprocess.CompletedProcess[str]]:
    """``hookline`` with each of ``commands``' arguments, all at once, each to its end: forked
    from the warm parent (forkserver.py), or with HOOKLINE_TEST_FORKS=0 each in a fresh
    interpreter."""
    forks = forkserver.shared()
    if forks is not None:
        return forks.run_many(commands, env, cwd, stdin, timeout_s)
    procs = [
        subprocess.Popen(
            hookline(*args),
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    done = []
    for args, proc in zip(commands, procs, strict=True):
        out, err = proc.communicate(stdin, timeout=timeout_s)
        done.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
    return done


@dataclass
class Proc:
    popen: Process
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> int:
        code = self.popen.poll()
        if code is None:
            self.popen.send_signal(sig)
            try:
                code = self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                code = self.popen.wait(5)
        return code

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Server:
    """A running Hookline: its API base URL and a client holding the admin key."""

    base: str
    client: httpx.Client
    procs: list[Proc]

    def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.client.request(method, "/api/v1" + path, **kw)

    def wait_states(
        self, event_id: str, states: set[str], timeout_s: float = 15.0
    ) -> list[dict[str, Any]]:
        """The event's deliveries, once each is in one of ``states``. Waiting for a state the
        worker never claims (failed, succeeded, cancelled, held) is the positive signal after
        which "no further attempt came" can be asserted without a pause."""
        deadline = time.monotonic() + timeout_s
        while True:
            resp = self.api("GET", f"/events/{event_id}/deliveries")
            assert resp.status_code == 200, resp.text
            found: list[dict[str, Any]] = resp.json()["deliveries"]
            if found and all(d["state"] in states for d in found):
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(f"{event_id}: deliveries not in {states}: {found}")
            time.sleep(0.05)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.popen.poll() is not None:
                    raise AssertionError(f"process exited {p.popen.returncode}:\n{p.output()}")
            try:
                if self.client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(
            "server did not become ready:\n" + "\n".join(p.output() for p in self.procs)
        )


class Launcher:
    """Starts Hookline processes and stops them all at teardown."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[Proc] = []
        self.clients: list[httpx.Client] = []

    def spawn(self, args: list[str], env: dict[str, str], name: str) -> Proc:
        log = self.tmp / f"{name}-{len(self.procs)}.log"
        popen: Process
        with log.open("wb") as out, open(os.devnull, "rb") as nothing:
            # Hookline's own processes are forked from a warm parent that has imported the
            # server's stack (forkserver.py)
            command, forks = hookline(), forkserver.shared()
            if forks is not None and args[: len(command)] == command:
                fds = [nothing.fileno(), out.fileno(), out.fileno()]
                popen = forks.start(args[len(command) :], env, self.tmp, fds)
            else:
                popen = subprocess.Popen(
                    args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=self.tmp
                )
        proc = Proc(popen=popen, log=log)
        self.procs.append(proc)
        return proc

    def run(self, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """``hookline ARGS`` (``args`` as ``hookline()`` makes them) to its end."""
        command = hookline()
        assert args[: len(command)] == command, args
        return run_hookline([args[len(command) :]], env, self.tmp)[0]

    def serve(self, database_url: str, **extra: str) -> Server:
        """``hookline serve``: API and worker in one process."""
        port = free_port()
        env = base_env(database_url, HOOKLINE_PORT=str(port), **extra)
        proc = self.spawn(hookline("serve"), env, "serve")
        return self._server(port, [proc])

    def api_only(self, database_url: str, **extra: str) -> Server:
        port = free_port()
        env = base_env(database_url, HOOKLINE_PORT=str(port), **extra)
        proc = self.spawn(hookline("api"), env, "api")
        return self._server(port, [proc])

    def worker(self, database_url: str, **extra: str) -> Proc:
        return self.spawn(hookline("worker"), base_env(database_url, **extra), "worker")

    def _server(self, port: int, procs: list[Proc]) -> Server:
        base = f"http://127.0.0.1:{port}"
        client = httpx.Client(
            base_url=base, headers={"X-API-Key": ADMIN_KEY}, timeout=30, verify=TLS
        )
        self.clients.append(client)
        server = Server(base=base, client=client, procs=procs)
        server.wait_ready()
        return server

    def close(self) -> None:
        for c in self.clients:
            c.close()
        # SIGTERM, as an operator stops Hookline: the process exits through its own shutdown,
        # and, when the suite runs under coverage, writes what it measured
        for p in self.procs:
            if p.popen.poll() is None:
                p.popen.send_signal(signal.SIGTERM)
        for p in self.procs:
            p.stop(timeout_s=10)


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    launch = Launcher(tmp_path)
    yield launch
    launch.close()


@pytest.fixture(scope="module")
def module_launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    """A launcher whose processes live as long as the test module: for a module whose tests
    share one server started with settings of its own."""
    launch = Launcher(tmp_path_factory.mktemp("module"))
    yield launch
    launch.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each end-to-end test that takes this runs on both databases: a new one, migrated
    (a copy of a template; the tests of starting on an empty database make their own)."""
    url: str = request.getfixturevalue(
        "migrated_sqlite_url" if request.param == "sqlite" else "migrated_pg_url"
    )
    return url


@pytest.fixture
def server(launcher: Launcher, database_url: str) -> Server:
    return launcher.serve(database_url)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server per test module and database, for tests that each make nothing another
    test of the module could see or count (a request refused, a read). Starting a server
    costs about 2 s of CPU; a module's parametrized checks of refusals share one."""
    tmp = tmp_path_factory.mktemp("shared")
    launch = Launcher(tmp)
    try:
        if request.param == "sqlite":
            shutil.copy(request.getfixturevalue("migrated_sqlite_file"), tmp / "hookline.db")
            url = f"sqlite:///{tmp}/hookline.db"
        else:
            url = request.getfixturevalue("module_pg_url")
        yield launch.serve(url)
    finally:
        launch.close()


@pytest.fixture
def tidy_shared_server(shared_server: Server) -> Iterator[Server]:
    """The module's shared server, with every subscription deleted when the test ends: a
    test's subscriptions to its own receiver must not take the events later tests publish
    (nor reach a later receiver that happens to get the same port)."""
    yield shared_server
    while True:
        listed = shared_server.api("GET", "/webhooks/subscriptions", params={"limit": 200})
        assert listed.status_code == 200, listed.text
        subs = listed.json()["subscriptions"]
        if not subs:
            return
        for sub in subs:
            gone = shared_server.api("DELETE", f"/webhooks/subscriptions/{sub['id']}")
            assert gone.status_code in (204, 404), gone.text
