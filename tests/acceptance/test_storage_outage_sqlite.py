"""SQLite full or read-only: 503 with Retry-After (never 500), /readyz 503, nothing
acknowledged lost, and publishing works again once there is room, without a restart.

The disk is made full for real: the database lives on a small tmpfs, grown afterwards
(``mount -o remount,size=…``); the read-only file is made so with the immutable flag. Both
need root, and are skipped without it."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import Launcher, Receiver, Server

PAD = "x" * 2000  # fills the disk in a few hundred events


def _root_tool(cmd: list[str]) -> bool:
    if os.geteuid() != 0:
        return False
    return subprocess.run(cmd, capture_output=True, check=False).returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "disk"
    where.mkdir()
    if not _root_tool(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)]):
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def _publish(server: Server, ids: list[str]) -> httpx.Response:
    events = [{"id": i, "type": "message.delivered", "data": {"pad": PAD}} for i in ids]
    return server.api("POST", "/events/batch", json={"events": events})


def _subscribe(server: Server, receiver: Receiver) -> None:
    sub = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": receiver.url("/full"), "event_types": ["message.delivered"]},
    )
    assert sub.status_code == 201, sub.text


def _delivered(receiver: Receiver, acked: set[str]) -> None:
    receiver.wait_for(lambda rs: acked <= {json.loads(r.body)["id"] for r in rs}, timeout_s=60)


def test_a_full_disk_answers_503_and_recovers(
    launcher: Launcher, small_disk: Path, receiver: Receiver
) -> None:
    server = launcher.serve(f"sqlite:///{small_disk}/hookline.db", HOOKLINE_LOG_LEVEL="info")
    _subscribe(server, receiver)
    acked: set[str] = set()
    answer = None
    for n in range(2000):
        ids = [f"evt_full_{n:04d}_{i:02d}" for i in range(20)]
        answer = _publish(server, ids)
        if answer.status_code != 202:
            break
        acked.update(ids)
    assert answer is not None and answer.status_code == 503, answer and answer.text
    # then single events, till none fits either: the disk is as full as it gets
    for n in range(200):
        answer = _publish(server, [f"evt_full_one_{n:03d}"])
        if answer.status_code != 202:
            break
        acked.add(f"evt_full_one_{n:03d}")
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "5"
    body = answer.json()
    assert body["errors"] == [] and "\n" not in body["detail"], body
    assert acked, "some publishes went through before the disk filled"
    ready = server.client.get("/readyz")
    assert ready.status_code == 503, ready.text
    assert ready.headers["retry-after"] == "5"

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    deadline = time.monotonic() + 30
    while server.client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "never ready again"
        time.sleep(0.05)
    again = _publish(server, ["evt_full_after"])
    assert again.status_code == 202, again.text
    _delivered(receiver, acked | {"evt_full_after"})

    log = _wait_log(server, "storage available again")
    assert log.count("storage unavailable:") == 1, log[-4000:]
    assert log.count("storage available again") == 1, log[-4000:]
    assert "Traceback" not in log, log[-4000:]


def _wait_log(server: Server, text: str) -> str:
    """The server's log once ``text`` is in it (an outage's end is said once it settled)."""
    deadline = time.monotonic() + 15
    while text not in (log := server.procs[0].output()):
        assert time.monotonic() < deadline, log[-4000:]
        time.sleep(0.05)
    return log


def test_a_read_only_database_file_answers_503_and_recovers(
    launcher: Launcher, tmp_path: Path, receiver: Receiver
) -> None:
    db = tmp_path / "hookline.db"
    server = launcher.serve(f"sqlite:///{db}", HOOKLINE_LOG_LEVEL="info")
    _subscribe(server, receiver)
    first = _publish(server, ["evt_ro_before"])
    assert first.status_code == 202, first.text
    files = [str(db), f"{db}-wal"]  # not -shm: it is mapped in memory
    if not _root_tool(["chattr", "+i", *files]):
        pytest.skip("the immutable flag needs root and a file system that has it")
    try:
        refused = _publish(server, ["evt_ro_during"])
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "5"
        assert server.client.get("/readyz").status_code == 503
    finally:
        subprocess.run(["chattr", "-i", *files], check=True)
    deadline = time.monotonic() + 30
    while server.client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "never ready again"
        time.sleep(0.05)
    again = _publish(server, ["evt_ro_after"])
    assert again.status_code == 202, again.text
    _delivered(receiver, {"evt_ro_before", "evt_ro_after"})
    log = _wait_log(server, "storage available again")
    assert log.count("storage unavailable:") == 1, log[-4000:]
    assert "Traceback" not in log, log[-4000:]
