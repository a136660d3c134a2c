"""A warm parent for the tests' Hookline processes.

Most of what starting ``python -m hookline`` costs is importing the server's stack (FastAPI,
Pydantic, SQLAlchemy and Hookline's own modules), and the tests start hundreds of servers and
CLI commands (docs/perf/2026-12-07-test-suite-cpu.md). A fork server imports that stack once
per test process; each ``hookline`` process a test starts is then forked from it and runs the
real command line with its own arguments, environment, directory, standard input and output,
as a process of its own: its own pid, signals and exit status, its own connections, threads
and event loop. What it shares with its siblings is the modules already imported (and their
import-time state) and the hash seed.

``python forkserver.py SOCKET`` is the parent; ``ForkServer.start`` (in the test process)
asks it for a process and returns a handle shaped like ``subprocess.Popen``. The parent stays
single-threaded, so forking it is safe, and it exits when the test process closes its stdin.
A test that must see a fresh interpreter (what the CLI imports, say) uses subprocess itself.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import locale
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

_MESSAGE_MAX = 1 << 20

#: What the parent imports: what a server and the CLI import by the time they serve or call,
#: found by listing a forked child's ``sys.modules`` as it exited. Only modules whose import
#: reads nothing of the environment (opentelemetry.propagate's OTEL_PROPAGATORS aside, which
#: no test sets). Not the CLI's own modules, nor Typer and Rich: the CLI's consoles take
#: COLUMNS and the terminal when imported, and Typer reads TYPER_USE_RICH and TERMINAL_WIDTH.
_WARM = (
    "hookline.server",
    "hookline.logs",
    "hookline.storage.sqlite",
    "hookline.storage.postgres",
    "hookline.storage.migrations",
    "alembic.autogenerate",
    "alembic.ddl.postgresql",
    "alembic.ddl.sqlite",
    "alembic.runtime.environment",
    "aiosqlite",
    "asyncpg",
    "sqlalchemy.ext.compiler",
    "uvloop",
    "uvicorn.lifespan.on",
    "uvicorn.protocols.websockets.auto",
    "hookline_sdk",
    "httpx",
    "httpcore",
    "h11",
    "certifi",
    "encodings.idna",
    "tomllib",
)


@dataclass(frozen=True)
class Request:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    #: the child's standard input, output and error
    fds: list[int]


def _serve(path: str) -> Request:
    """The parent's loop. Returns only in a forked child, with what that child is to run."""
    for module in _WARM:
        importlib.import_module(module)
    # the SDK's one TLS context of a process, which a CLI command's client takes: made here
    # once, each child finds it made (it reads SSL_CERT_FILE and SSL_CERT_DIR, which no test
    # sets), as a second client in one process would
    from hookline_sdk._base import tls_context

    tls_context()
    # What is alive now (the imported modules, their classes and functions) is left out of
    # the children's garbage collections: a full one walked all of it, and writing to each
    # object's collector header copied the memory page it sits on into the child, which cost
    # most of a forked command's CPU (docs/perf/2026-12-07-test-forks-frozen.md). Hookline
    # itself never does this (issue 21: no collector tuning in src/); what a child makes is
    # collected as in production.
    gc.freeze()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(0, selectors.EVENT_READ, "stdin")
    children: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> pid, the test's socket
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            if key.data == "stdin":
                if not os.read(0, 1):
                    # the test process is gone: so are the processes it left
                    for pid, _asker in children.values():
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    raise SystemExit(0)
            elif key.data == "accept":
                asker, _ = listener.accept()
                message, fds, _flags, _addr = socket.recv_fds(asker, _MESSAGE_MAX, 3)
                fields = json.loads(message)
                request = Request(fields["argv"], fields["env"], fields["cwd"], fds)
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    listener.close()
                    asker.close()
                    for pidfd, (_pid, other) in children.items():
                        os.close(pidfd)
                        other.close()
                    return request
                for fd in fds:
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                children[pidfd] = (pid, asker)
                selector.register(pidfd, selectors.EVENT_READ, "child")
                asker.send(json.dumps({"pid": pid}).encode())
            else:
                pidfd = key.fd
                selector.unregister(pidfd)
                pid, asker = children.pop(pidfd)
                os.close(pidfd)
                _, status = os.waitpid(pid, 0)
                with contextlib.suppress(OSError):
                    asker.send(json.dumps({"code": os.waitstatus_to_exitcode(status)}).encode())
                asker.close()


def _become(request: Request) -> None:
    """In the forked child: take the request's files, directory, environment and arguments."""
    for target, fd in enumerate(request.fds):
        os.dup2(fd, target)
    for fd in set(request.fds):
        if fd > 2:
            os.close(fd)
    os.chdir(request.cwd)
    os.environ.clear()
    os.environ.update(request.env)
    sys.argv = ["hookline", *request.argv]


class Process(Protocol):
    """What the tests use of a process they started: ``subprocess.Popen`` or a forked one."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, sig: int) -> None: ...

    def kill(self) -> None: ...


class ForkedProcess:
    """A process the fork server started, with the parts of ``subprocess.Popen`` tests use.
    Its exit status comes from the fork server, which is its parent."""

    def __init__(self, asker: socket.socket, pid: int, args: list[str]) -> None:
        self.args = args
        self.pid = pid
        self.returncode: int | None = None
        self._asker = asker
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        return self._wait(0.0)

    def wait(self, timeout: float | None = None) -> int:
        code = self._wait(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        return code

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _wait(self, timeout: float | None) -> int | None:
        with self._lock:
            if self.returncode is not None:
                return self.returncode
            self._asker.settimeout(timeout)
            try:
                message = self._asker.recv(_MESSAGE_MAX)
            except (TimeoutError, BlockingIOError):
                return None
            if not message:
                raise RuntimeError(f"the fork server went away before process {self.pid} ended")
            code: int = json.loads(message)["code"]
            self.returncode = code
            self._asker.close()
            return code


def _read_text(path: Path) -> str:
    """A file read as ``subprocess.run(text=True)`` reads a pipe: universal newlines."""
    with path.open(encoding=locale.getpreferredencoding(False), newline=None) as f:
        return f.read()


class ForkServer:
    """The test process's fork server, started on first use."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.mkdtemp(prefix="hookline-forks-")
        self._path = os.path.join(self._dir, "socket")
        self._lock = threading.Lock()

    def start(
        self, argv: list[str], env: dict[str, str], cwd: Path, fds: list[int]
    ) -> ForkedProcess:
        """``hookline ARGV`` with ``env`` in ``cwd``; ``fds`` are its stdin, stdout, stderr."""
        self._start_parent()
        asker = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        asker.connect(self._path)
        message = json.dumps({"argv": argv, "env": env, "cwd": str(cwd)}).encode()
        socket.send_fds(asker, [message], fds)
        answer = asker.recv(_MESSAGE_MAX)
        if not answer:
            raise RuntimeError("the fork server did not start the process")
        return ForkedProcess(asker, int(json.loads(answer)["pid"]), argv)

    def run_many(
        self, commands: list[list[str]], env: dict[str, str], cwd: Path, stdin: str, timeout: float
    ) -> list[subprocess.CompletedProcess[str]]:
        """Runs every ``hookline`` command at once, each given ``stdin``; their outcomes in
        order, their output decoded as ``subprocess.run(text=True)`` does."""
        with tempfile.TemporaryDirectory() as scratch:
            started = []
            for i, argv in enumerate(commands):
                files = [Path(scratch, f"{i}.{name}") for name in ("in", "out", "err")]
                files[0].write_text(stdin)
                opened = [os.open(files[0], os.O_RDONLY)] + [
                    os.open(f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) for f in files[1:]
                ]
                try:
                    started.append((argv, files, self.start(argv, env, cwd, opened)))
                finally:
                    for fd in opened:
                        os.close(fd)
            done = []
            for argv, files, proc in started:
                try:
                    code = proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    raise
                out, err = (_read_text(f) for f in files[1:])
                done.append(subprocess.CompletedProcess(argv, code, out, err))
            return done

    def _start_parent(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
            env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
            self._proc = subprocess.Popen(
                [sys.executable, __file__, self._path],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                cwd=self._dir,
            )
            assert self._proc.stdout is not None
            ready = self._proc.stdout.readline()
            if ready != b"ready\n":
                raise RuntimeError(f"the fork server did not start: {ready!r}")

    def close(self) -> None:
        with self._lock:
            if self._proc is not None:
                assert self._proc.stdin is not None and self._proc.stdout is not None
                self._proc.stdin.close()
                self._proc.wait(10)
                self._proc.stdout.close()
                self._proc = None


_shared: list[ForkServer] = []


def shared() -> ForkServer | None:
    """This test process's fork server; None where HOOKLINE_TEST_FORKS=0 asks for each
    process to start a fresh interpreter instead."""
    if os.environ.get("HOOKLINE_TEST_FORKS", "1") == "0":
        return None
    if not _shared:
        _shared.append(ForkServer())
        atexit.register(close_shared)
    return _shared[0]


def close_shared() -> None:
    """Stops this test process's fork server, if it started one."""
    while _shared:
        _shared.pop().close()


def _exit_status(code: object) -> int:
    """The status the interpreter exits with for ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _main() -> None:
    request = _serve(sys.argv[1])
    _become(request)
    from hookline.cli import main

    try:
        main()
        status = 0
    except SystemExit as exc:
        status = _exit_status(exc.code)
    # the interpreter's exit, less its finalization: that frees every object, the parent's
    # too, and so copies their pages into the child (docs/perf/2026-12-07-test-forks-frozen.md).
    # Other exceptions take the interpreter's own road (a traceback, SIGINT's status).
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # coverage writes what it measured here
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    _main()
