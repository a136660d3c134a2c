"""Console fixtures: the acceptance suite's real server and receiver, console users made with
the real CLI, an HTTP client that signs in through the forms, and Debian's Chromium."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser as PlaywrightBrowser
from playwright.sync_api import sync_playwright

from hookline.services.clock import SystemClock
from hookline.services.users import UserService
from hookline.storage.factory import open_storage

_ACCEPTANCE = Path(__file__).parent.parent / "acceptance"
# its own imports (the fork server) are its folder's modules
if str(_ACCEPTANCE) not in sys.path:
    sys.path.append(str(_ACCEPTANCE))
_spec = importlib.util.spec_from_file_location(
    "hookline_acceptance_fixtures", _ACCEPTANCE / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
acceptance = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = acceptance  # dataclasses look their module up there
_spec.loader.exec_module(acceptance)

# the acceptance suite's fixtures, offered to these tests too
launcher = acceptance.launcher
receiver = acceptance.receiver
database_url = acceptance.database_url
Launcher = acceptance.Launcher
Server = acceptance.Server
Receiver = acceptance.Receiver

PASSWORD = "correct horse battery staple"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: a Chromium test on SQLite alone: what it shows is the console's HTML and scripts, the same
#: on both databases. The console's routes on PostgreSQL are rendered over HTTP for every role
#: (test_console_roles_http), its forms behind them are the API's, tested on both, and one
#: Chromium test (adding a webhook and verifying its delivery) runs on both. Each run costs a
#: server and a browser context (docs/perf/2026-12-08-test-runs-trimmed.md)
ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def cli(
    launch: Any, database_url: str, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """``hookline ARGS`` against the database, with ``stdin`` piped in."""
    done: subprocess.CompletedProcess[str] = acceptance.run_hookline(
        [list(args)], acceptance.base_env(database_url, **env), launch.tmp, stdin
    )[0]
    return done


def make_user(
    launch: Any,
    database_url: str,
    email: str,
    role: str = "admin",
    *,
    agent_handle: str | None = None,
) -> None:
    """A console user, made by the users service on the test's database (the CLI takes
    seconds a call; ``test_the_users_command`` and others drive the CLI itself)."""
    del launch

    async def create() -> None:
        storage = open_storage(database_url)
        try:
            await storage.migrate()  # as `hookline users` does on SQLite; a no-op once current
            users = UserService(storage, SystemClock(), idle_s=60, max_age_s=60)
            await users.create(email, PASSWORD, role, agent_handle)
        finally:
            await storage.close()

    # on a thread of its own: Playwright keeps an event loop running on this one
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, create()).result(timeout=60)


@dataclass
class Browser:
    """A person at the console over plain HTTP: cookies kept, forms' CSRF tokens read."""

    client: httpx.Client

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get("/console" + path, **kw)

    def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
        return self.client.post("/console" + path, data=data, **kw)

    def token(self, path: str = "/webhooks") -> str:
        page = self.get(path)
        assert page.status_code == 200, page.text
        return csrf_of(page.text)

    def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        token = csrf_of(self.get("/sign-in").text)
        return self.post("/sign-in", {"csrf_token": token, "email": email, "password": password})


class People:
    """Opens console clients for a test and closes them all at its end."""

    def __init__(self) -> None:
        self._clients: list[httpx.Client] = []

    def new(self, server: Any, **kw: Any) -> Browser:
        client = httpx.Client(base_url=server.base, timeout=30, verify=acceptance.TLS, **kw)
        self._clients.append(client)
        return Browser(client)

    def signed_in(self, server: Any, email: str, password: str = PASSWORD) -> Browser:
        browser = self.new(server)
        resp = browser.sign_in(email, password)
        assert resp.status_code == 303, resp.text
        return browser

    def close(self) -> None:
        for client in self._clients:
            client.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[PlaywrightBrowser]:
    """One Chromium per test module (each test opens contexts of its own in it). Playwright's
    synchronous API keeps an event loop running on this thread while it is open: the
    fixtures' own coroutines run on threads of their own (``run_async``)."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def people() -> Iterator[People]:
    crowd = People()
    yield crowd
    crowd.close()


@pytest.fixture
def server(launcher: Any, database_url: str) -> Any:
    return launcher.serve(database_url)
