"""The SDK's clients share one TLS context a process (``hookline_sdk._base.tls_context``), and
it still verifies: a server whose certificate no authority signed is refused, by every
client made, blocking and asynchronous."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from certificates import self_signed

from hookline_sdk import APIConnectionError, AsyncClient, Client
from hookline_sdk._base import tls_context


def _server_context(folder: Path) -> ssl.SSLContext:
    paths = self_signed(folder)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(paths.cert, paths.key)
    return context


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"subscriptions": [], "has_more": false, "next_cursor": null}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the refused handshakes


@pytest.fixture
def untrusted_https(tmp_path: Path) -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Answer)
    server.socket = _server_context(tmp_path).wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_the_shared_context_verifies_certificates() -> None:
    context = tls_context()
    assert context is tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_every_client_refuses_a_certificate_no_authority_signed(untrusted_https: str) -> None:
    for _ in range(2):  # the second client takes the context the first made
        with (
            Client(untrusted_https, api_key="k", max_retries=0) as client,
            pytest.raises(APIConnectionError, match="CERTIFICATE_VERIFY_FAILED"),
        ):
            client.list_subscriptions()


async def test_the_async_client_refuses_it_too(untrusted_https: str) -> None:
    async with AsyncClient(untrusted_https, api_key="k", max_retries=0) as client:
        with pytest.raises(APIConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.list_subscriptions()
