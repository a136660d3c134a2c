"""A request's line and headers are bounded in size and in time (``api/request_head.py``).

Against the real ``hookline serve``, with raw sockets where a client library would refuse to
send what an attacker sends.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time

import httpx
import pytest

from conftest import ADMIN_KEY, Launcher, Server

MIB = 1024 * 1024
CLOSE_WAIT_S = 15.0


@pytest.fixture(scope="module")
def sqlite_server(module_launcher: Launcher) -> Server:
    # one server for the module: each test opens connections of its own and checks only
    # what comes back on them (and that /healthz still answers)
    return module_launcher.serve(
        f"sqlite:///{module_launcher.tmp}/hookline.db", HOOKLINE_HEADER_TIMEOUT_S="1"
    )


def _connect(server: Server) -> socket.socket:
    host, port = server.base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=CLOSE_WAIT_S)


def _send_head(server: Server, head_size: int, piece: int = 65_536) -> tuple[int, bytes]:
    """Sends a GET whose one header is ``head_size`` bytes long, piece by piece, until the
    server stops taking it; returns how much was sent, and what came back."""
    sock = _connect(server)
    sent = 0
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        filler = b"a" * piece
        while sent < head_size:
            try:
                sock.sendall(filler)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += piece
        else:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(b"\r\n\r\n")
        return sent, _read_all(sock)
    finally:
        sock.close()


def _read_all(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    try:
        while chunk := sock.recv(65_536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def _raw_get(server: Server, headers: list[tuple[str, str]]) -> bytes:
    sock = _connect(server)
    try:
        lines = ["GET /healthz HTTP/1.1", "Host: x", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return _read_all(sock)
    finally:
        sock.close()


def test_a_1_mib_header_is_answered_431(sqlite_server: Server) -> None:
    _, answer = _send_head(sqlite_server, MIB)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b'"field": "headers"' in answer


def test_a_64_mib_header_is_cut_off_early(sqlite_server: Server) -> None:
    sent, answer = _send_head(sqlite_server, 64 * MIB)
    # the server stopped reading once past its limit: what was sent on top of that is what the
    # sockets' buffers took before the connection was closed
    assert sent < 16 * MIB
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 ")
    assert sqlite_server.client.get("/healthz").status_code == 200


def test_too_many_headers_are_answered_431(sqlite_server: Server) -> None:
    many = [(f"X-H{i}", "v") for i in range(101)]
    assert _raw_get(sqlite_server, many).startswith(b"HTTP/1.1 431 ")
    # Host and Connection make 100 with 98 more
    assert _raw_get(sqlite_server, many[:98]).startswith(b"HTTP/1.1 200 ")


def test_large_but_ordinary_headers_still_work(sqlite_server: Server) -> None:
    big = {"X-Trace": "t" * 8192, "Cookie": "c=" + "k" * 16_000}
    resp = httpx.get(f"{sqlite_server.base}/healthz", headers=big, timeout=30)
    assert resp.status_code == 200
    # and on the publish road, with a body that follows the head in the same write: what is
    # read past the limit is the body, not more head
    body = b'{"type": "message.received", "data": {"pad": "' + b"p" * 200_000 + b'"}}'
    head = (
        "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nX-API-Key: {ADMIN_KEY}\r\n"
        f"Content-Length: {len(body)}\r\nX-Trace: {'t' * 40_000}\r\n\r\n"
    ).encode()
    sock = _connect(sqlite_server)
    try:
        sock.sendall(head + body)
        answer = _read_all(sock)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 202 "), answer[:300]


def test_keep_alive_requests_each_get_their_own_head_budget(sqlite_server: Server) -> None:
    """Heads of 40 KiB, one after the other on one connection: each is under the limit."""
    with httpx.Client(base_url=sqlite_server.base, timeout=30) as client:
        for _ in range(4):
            assert client.get("/healthz", headers={"X-Pad": "p" * 40_000}).status_code == 200


def test_slow_clients_are_closed_after_the_header_timeout(sqlite_server: Server) -> None:
    """Slow-loris: connections that send a header byte now and then, and one that sends
    nothing, are closed once the timeout (1 s here) is past, while /healthz keeps answering."""
    trickling = [_connect(sqlite_server) for _ in range(50)]
    silent = _connect(sqlite_server)
    for sock in trickling:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        sock.setblocking(False)
    silent.setblocking(False)
    open_socks = {*trickling, silent}
    deadline = time.monotonic() + CLOSE_WAIT_S
    try:
        while open_socks and time.monotonic() < deadline:
            for sock in list(open_socks):
                if sock is not silent:
                    try:
                        sock.send(b"X")
                    except (BrokenPipeError, ConnectionResetError):
                        open_socks.discard(sock)
            readable, _, _ = select.select(list(open_socks), [], [], 0.2)
            for sock in readable:
                try:
                    closed = sock.recv(1024) == b""
                except ConnectionResetError:
                    closed = True
                if closed:
                    open_socks.discard(sock)
            assert sqlite_server.client.get("/healthz", timeout=5).status_code == 200
        assert not open_socks, f"{len(open_socks)} slow connections still open"
    finally:
        for sock in (*trickling, silent):
            sock.close()
