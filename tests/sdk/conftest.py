"""Fixtures of the SDK's tests: one real ``hookline serve`` shared by them (SQLite), the
acceptance suite's real receiver, the signature vectors, and a scripted HTTP server for the
answers a healthy Hookline does not give (429, 5xx, dropped connections, cursor pages)."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

import hookline_sdk

TESTS = Path(__file__).resolve().parent.parent
VECTORS_FILE = TESTS / "vectors" / "signatures.json"


def _acceptance_fixtures() -> ModuleType:
    """The acceptance suite's conftest, loaded under its own name: its ``Launcher`` and
    ``receiver`` are what start the real server and the real receiver."""
    name = "hookline_acceptance_fixtures"
    if name in sys.modules:
        return sys.modules[name]
    # its own imports (the fork server) are its folder's modules
    if str(TESTS / "acceptance") not in sys.path:
        sys.path.append(str(TESTS / "acceptance"))
    spec = importlib.util.spec_from_file_location(name, TESTS / "acceptance" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


acceptance = _acceptance_fixtures()
receiver = acceptance.receiver
if TYPE_CHECKING:
    # the same classes, as mypy knows them (tests/acceptance is on its path: pyproject.toml)
    from conftest import Receiver as Receiver
    from conftest import Server as Server
else:
    Receiver = acceptance.Receiver
    Server = acceptance.Server
ADMIN_KEY: str = acceptance.ADMIN_KEY
free_port = acceptance.free_port


def load_vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_bytes())["vectors"]
    return vectors


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``hookline serve`` on SQLite for every SDK test; tests keep apart by using their
    own identities, receivers (each on its own port) and subscriptions."""
    tmp = tmp_path_factory.mktemp("sdk-server")
    launch = acceptance.Launcher(tmp)
    try:
        yield launch.serve(f"sqlite:///{tmp}/hookline.db")
    finally:
        launch.close()


@pytest.fixture
def client(live: Server) -> Iterator[hookline_sdk.Client]:
    with hookline_sdk.Client(live.base, api_key=ADMIN_KEY, backoff_s=0.01) as c:
        yield c


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: close the connection without answering
    drop: bool = False


@dataclass
class Scripted:
    """A real HTTP server on loopback answering from a script: per ``METHOD /path``, a list of
    answers taken in turn (the last repeats). Records every request's path and query."""

    port: int
    script: dict[str, list[Answer]] = field(default_factory=dict)
    seen: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def on(self, method: str, path: str, *answers: Answer) -> None:
        with self.lock:
            self.script[f"{method} {path}"] = list(answers)

    def next_answer(self, method: str, target: str) -> Answer:
        path = target.split("?", 1)[0]
        with self.lock:
            self.seen.append((method, target))
            answers = self.script.get(f"{method} {path}")
            if not answers:
                return Answer(status=404, body={"detail": "not scripted"})
            return answers.pop(0) if len(answers) > 1 else answers[0]


def _handler(scripted: Scripted) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            answer = scripted.next_answer(self.command, self.path)
            if answer.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            payload = b"" if answer.body is None else json.dumps(answer.body).encode()
            self.send_response(answer.status)
            for k, v in answer.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    box = Scripted(port=0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(box))
    httpd.daemon_threads = True
    box.port = httpd.server_address[1]
    # a short poll interval: shutdown waits for the loop to look up
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield box
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)
