"""``hookline listen --forward-to``: the real CLI in a subprocess, against a real ``hookline
serve`` and a real local receiver."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import ADMIN_KEY, Launcher, Proc, Receiver, Server, free_port, hookline
from hookline_sdk import verify


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module: each test uses its own subscription name."""
    tmp = tmp_path_factory.mktemp("listen")
    launcher = Launcher(tmp)
    try:
        # a failure is retried a second later, many times: a listener stopped and started
        # again soon finds it due
        schedule = ",".join(str(s) for s in range(15))
        yield launcher.serve(f"sqlite:///{tmp}/hookline.db", HOOKLINE_RETRY_SCHEDULE=schedule)
    finally:
        launcher.close()


def listen(launcher: Launcher, server: Server, *args: str) -> Proc:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env.update(HOOKLINE_SERVER=server.base, HOOKLINE_API_KEY=ADMIN_KEY, COLUMNS="200")
    return launcher.spawn(hookline("listen", *args), env, "listen")


def wait_output(proc: Proc, ready: Callable[[str], bool], timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = proc.output()
        if ready(text):
            return text
        if proc.popen.poll() is not None:
            raise AssertionError(f"listen exited {proc.popen.returncode}:\n{text}")
        time.sleep(0.05)
    raise AssertionError(f"listen output condition not met:\n{proc.output()}")


def secret_of(text: str) -> str:
    found = re.search(r"^Secret: (\S+)$", text, re.MULTILINE)
    assert found, text
    return found.group(1)


def publish(server: Server, event_id: str) -> None:
    body = {"id": event_id, "type": "message.received", "data": {"message_id": event_id}}
    resp = server.api("POST", "/events", json=body)
    assert resp.status_code == 202, resp.text


def interrupt(proc: Proc) -> int:
    """SIGINT, as Ctrl-C sends; the exit status (-9 if it had to be killed: still running
    10 s on)."""
    return proc.stop(signal.SIGINT, timeout_s=10)


def test_forwards_signed_and_retries_a_local_failure(
    launcher: Launcher, server: Server, receiver: Receiver
) -> None:
    receiver.plan("/hooks", [500, 200])
    proc = listen(
        launcher,
        server,
        "--forward-to",
        receiver.url("/hooks"),
        "--name",
        "laptop-1",
        "--events",
        "message.received,message.sent",
        "-H",
        "X-Local: yes",
    )
    secret = secret_of(wait_output(proc, lambda t: "Ready." in t))

    publish(server, "evt_listen_1")

    first, second = receiver.wait_for(lambda rs: len(rs) >= 2)
    assert first.body == second.body
    assert verify("standard", secret, second.body, second.headers)["id"] == "evt_listen_1"
    assert second.headers["X-Local"] == "yes"
    # one line per delivery: the local 500, then the retry's 200
    text = wait_output(proc, lambda t: re.search(r"evt_listen_1\s+200\s+\d+ ms", t) is not None)
    assert re.search(r"\d\d:\d\d:\d\d\s+message\.received\s+evt_listen_1\s+500\s+\d+ ms", text)

    assert interrupt(proc) == 0, proc.output()
    assert "Traceback" not in proc.output()


def test_restart_keeps_the_secret_and_forwards_what_was_published_meanwhile(
    launcher: Launcher, server: Server, receiver: Receiver, tmp_path: Path
) -> None:
    # first run: nothing listens locally, so the delivery is acknowledged as a failure
    dead = f"http://127.0.0.1:{free_port()}/hooks"
    args = ("--name", "laptop-2", "--events", "message.received")
    proc = listen(launcher, server, "--forward-to", dead, *args)
    secret = secret_of(wait_output(proc, lambda t: "Ready." in t))
    publish(server, "evt_listen_refused")
    wait_output(proc, lambda t: re.search(r"evt_listen_refused\s+no answer", t) is not None)
    assert interrupt(proc) == 0, proc.output()

    publish(server, "evt_listen_meanwhile")

    again = listen(launcher, server, "--forward-to", receiver.url("/back"), *args)
    assert secret_of(wait_output(again, lambda t: "Ready." in t)) == secret
    got = receiver.wait_for(lambda rs: len(rs) >= 2)
    ids = sorted(verify("standard", secret, r.body, r.headers)["id"] for r in got)
    assert ids == ["evt_listen_meanwhile", "evt_listen_refused"]
    # both answers read (a line each): a Ctrl-C while a request is under way hands its
    # delivery back unlogged, as the worker does with an attempt it stops waiting for
    wait_output(
        again,
        lambda t: all(re.search(rf"{e}\s+200\s+\d+ ms", t) for e in ids),
    )
    assert interrupt(again) == 0, again.output()

    # the refused attempts are in the log as failures, the last one as a success
    log = server.api("GET", "/webhooks/deliveries", params={"event_id": "evt_listen_refused"})
    statuses = [a["response_status"] for a in log.json()["deliveries"]]  # newest first
    assert statuses[0] == 200 and set(statuses[1:]) == {None}, log.text
