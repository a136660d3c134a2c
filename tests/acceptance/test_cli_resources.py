"""The client commands, the real CLI in subprocesses against a real ``hookline serve`` and a
real receiver: subscriptions, trigger, events, the delivery log (replay, tail), recover."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Cli

import hookline_sdk
from conftest import Launcher, Receiver, Server, hookline, running_receiver
from hookline.core.catalog import CATALOG


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-resources")


@pytest.fixture(scope="module")
def server(workdir: Path) -> Iterator[Server]:
    # one server for the module: the CLI's behaviour does not depend on the database
    launch = Launcher(workdir)
    try:
        yield launch.serve(f"sqlite:///{workdir}/hookline.db")
    finally:
        launch.close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as rec:
        yield rec


@pytest.fixture(scope="module")
def cli(server: Server, workdir: Path) -> Cli:
    return Cli.for_server(server.base, workdir)


def _subscribe(server: Server, url: str, event_types: list[str], **extra: Any) -> dict[str, Any]:
    resp = server.api(
        "POST", "/webhooks/subscriptions", json={"url": url, "event_types": event_types, **extra}
    )
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def test_subscription_lifecycle_with_a_real_receiver(
    cli: Cli, server: Server, receiver: Receiver
) -> None:
    created = cli(
        "subscriptions", "create", "--url", receiver.url("/life"),
        "-e", "message.delivered,message.bounced", "--name", "first",
        "-H", "X-Team: ops", "--json",
    ).json()  # fmt: skip
    sid, secret = created["id"], created["secret"]
    assert created["event_types"] == ["message.delivered", "message.bounced"]
    assert created["headers"] == {"X-Team": "••••••••"}  # values are secrets, read back masked

    listed, shown, tested, triggered, read = cli.many(
        [
            ["subscriptions", "list", "--json"],
            ["subscriptions", "get", sid],
            ["subscriptions", "test", sid, "-e", "message.bounced"],
            ["trigger", "message.delivered", "--data", '{"subject": "from the CLI"}'],
            ["subscriptions", "secret", sid],
        ]
    )
    assert sid in [s["id"] for s in listed.json()]
    assert "first" in shown.ok().out and receiver.url("/life") in shown.out
    assert "test message.bounced succeeded: 200" in tested.ok().out
    assert read.ok().out.strip() == secret
    # the trigger published the catalog example with the override, and the server made one
    # delivery, which reached the receiver signed with the subscription's secret
    said = triggered.ok().out.strip()
    assert said.startswith("published evt_") and said.endswith("(message.delivered): 1 delivery")
    event_id = said.split()[1]
    got = receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/life"]) >= 2)
    bodies = {}
    for r in [r for r in got if r.path == "/life"]:
        payload = hookline_sdk.verify("standard", secret, r.body, r.headers)
        assert r.headers["X-Team"] == "ops"
        bodies[payload["type"]] = payload
    assert bodies["message.bounced"]["data"] == dict(CATALOG["message.bounced"].example)
    delivered = bodies["message.delivered"]
    assert delivered["id"] == event_id
    assert delivered["data"] == {
        **CATALOG["message.delivered"].example,
        "subject": "from the CLI",
    }

    updated, rotated, kept = cli.many(
        [
            ["subscriptions", "update", sid, "--name", "second", "-e", "message.opened",
             "--disable", "--json"],
            ["subscriptions", "rotate", sid, "--grace-period", "0", "--json"],
            ["subscriptions", "delete", sid],  # asked, answered no
        ],
        stdin="n\n",
    )  # fmt: skip
    changed = updated.json()
    assert (changed["name"], changed["event_types"], changed["enabled"]) == (
        "second",
        ["message.opened"],
        False,
    )
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != secret
    assert kept.code == 1 and "aborted" in kept.err
    assert server.api("GET", f"/webhooks/subscriptions/{sid}").status_code == 200

    assert cli("subscriptions", "delete", sid, "--yes").ok().out.strip() == (
        f"deleted subscription {sid}"
    )
    gone = cli("subscriptions", "get", sid)
    assert gone.error_line() == f"error: 404 subscription {sid!r} not found"


def test_bulk_publish_from_json_lines_counts_deliveries_and_replays(
    cli: Cli, server: Server, receiver: Receiver, workdir: Path
) -> None:
    sub = _subscribe(server, receiver.url("/bulk"), ["text.received"])
    lines = [
        {"id": f"evt_bulk_{i}", "type": "text.received", "data": {"n": i}} for i in range(3)
    ] + [{"id": "evt_bulk_other", "type": "call.ended", "data": {}}]
    good = workdir / "events.jsonl"
    good.write_text("\n".join(json.dumps(e) for e in lines[:2]) + "\n\n"
                    + "\n".join(json.dumps(e) for e in lines[2:]) + "\n")  # fmt: skip
    bad = workdir / "bad.jsonl"
    bad.write_text('{"id": "evt_never", "type": "text.received"}\n{"type": \n')
    published, refused = cli.many(
        [
            ["events", "publish", "--file", str(good), "--json"],
            ["events", "publish", "-f", str(bad)],
        ]
    )
    summary = published.json()
    assert (summary["events"], summary["deliveries"], summary["duplicates"]) == (4, 3, 0)
    assert summary["ids"] == [e["id"] for e in lines]
    assert "bad.jsonl line 2" in refused.error_line(2)
    assert server.api("GET", "/events/evt_never").status_code == 404, "nothing was published"

    receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/bulk"]) >= 3)
    logged, event, searched, refused = cli.many(
        [
            ["deliveries", "list", "--subscription-id", sub["id"], "--success", "--json"],
            ["events", "get", "evt_bulk_1", "--json"],
            # the log's search filters
            [
                "deliveries",
                "list",
                "--status-code",
                "200",
                "--since",
                "2000-01-01T00:00:00Z",
                "--event-id",
                "evt_bulk_1",
                "--json",
            ],
            ["deliveries", "list", "--since", "yesterday"],
        ]
    )
    assert [a["event_id"] for a in searched.json()] == ["evt_bulk_1"]
    assert refused.code == 1 and "since" in refused.err
    attempts = logged.json()
    assert sorted(a["event_id"] for a in attempts) == ["evt_bulk_0", "evt_bulk_1", "evt_bulk_2"]
    assert all(a["success"] and a["response_status"] == 200 for a in attempts)
    shown = event.json()
    assert shown["event"]["id"] == "evt_bulk_1"
    assert [d["state"] for d in shown["deliveries"]] == ["succeeded"]

    first = next(a for a in attempts if a["event_id"] == "evt_bulk_0")
    replayed, detail, table = cli.many(
        [
            ["deliveries", "replay", first["id"]],
            ["deliveries", "get", first["id"], "--subscription-id", sub["id"]],
            ["deliveries", "list", "--event-type", "text.received"],
        ]
    )
    assert replayed.ok().out.startswith("replayed evt_bulk_0 as attempt ")
    assert replayed.out.strip().endswith("succeeded (200)")
    assert first["event_id"] in detail.ok().out and '"n": 0' in detail.out
    assert all(e in table.ok().out for e in ("evt_bulk_0", "evt_bulk_1", "evt_bulk_2"))
    got = receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/bulk"]) >= 4)
    again = [r for r in got if r.path == "/bulk" and r.headers["webhook-id"] == "evt_bulk_0"]
    assert len(again) == 2, "the replay re-sent the same event"


def test_tail_follows_new_attempts_until_interrupted(
    cli: Cli, server: Server, receiver: Receiver
) -> None:
    sub = _subscribe(server, receiver.url("/tail"), ["message.read"])
    old = server.api("POST", "/events", json={"id": "evt_tail_old", "type": "message.read"})
    assert old.status_code == 202, old.text
    receiver.wait_for(lambda rs: any(r.path == "/tail" for r in rs))
    _wait_logged(server, sub["id"], 1)
    with subprocess.Popen(
        hookline("deliveries", "tail", "--subscription-id", sub["id"], "-n", "1",
                 "--interval", "0.1", "--json"),
        cwd=cli.cwd, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:  # fmt: skip
        try:
            lines = _LineReader(proc)
            # the first line is the past: once it is printed, tail is polling for news
            assert json.loads(lines.next())["event_id"] == "evt_tail_old"
            new = server.api("POST", "/events", json={"id": "evt_tail_new", "type": "message.read"})
            assert new.status_code == 202, new.text
            assert json.loads(lines.next())["event_id"] == "evt_tail_new"
            proc.send_signal(signal.SIGINT)
            assert proc.wait(20) == 0
            assert lines.rest() == [], "nothing was printed twice"
            assert proc.stderr is not None and proc.stderr.read() == ""
        finally:
            if proc.poll() is None:
                proc.kill()


def test_recover_requeues_failed_deliveries(cli: Cli, server: Server, receiver: Receiver) -> None:
    receiver.plan("/recover", [500])
    sub = _subscribe(server, receiver.url("/recover"), ["message.failed"], retry_schedule=[0])
    server.api("POST", "/events", json={"id": "evt_recover", "type": "message.failed"})
    receiver.wait_for(lambda rs: any(r.path == "/recover" for r in rs))
    _wait_state(server, "evt_recover", "failed", sub["id"])
    receiver.plan("/recover", [200])
    recovered = cli("subscriptions", "recover", sub["id"], "--since", "1h", "--json").json()
    assert recovered["requeued"] == 1
    receiver.wait_for(lambda rs: len([r for r in rs if r.path == "/recover"]) >= 2)
    _wait_state(server, "evt_recover", "succeeded", sub["id"])


def test_replay_runs_as_a_task_and_waits_for_it(
    cli: Cli, server: Server, receiver: Receiver
) -> None:
    receiver.plan("/tasked", [500, 500, 500, 200])
    sub = _subscribe(server, receiver.url("/tasked"), ["message.failed"], retry_schedule=[0])
    for n in range(3):
        server.api("POST", "/events", json={"id": f"evt_task_{n}", "type": "message.failed"})
    for n in range(3):
        _wait_state(server, f"evt_task_{n}", "failed", sub["id"])
    done = cli(
        "subscriptions", "replay", sub["id"], "--since", "1h", "--status", "failed",
        "-e", "message.failed", "--wait", "--json",
    ).json()  # fmt: skip
    assert done["state"] == "succeeded" and done["result"] == {"requeued": 3, "skipped": 0}
    assert done["params"]["event_types"] == ["message.failed"]
    for n in range(3):
        _wait_state(server, f"evt_task_{n}", "succeeded", sub["id"])
    shown = cli("subscriptions", "replay", sub["id"], "--since", "1h").ok().out
    assert "task_" in shown and "failed" in shown
    bad = cli("subscriptions", "replay", sub["id"], "--since", "soon")
    assert bad.code == 2 and "'soon'" in bad.err
    taken = cli("subscriptions", "replay", sub["id"], "--since", "1h", "-e", "message.read")
    assert taken.code == 1 and "message.read" in taken.err


def _wait_logged(server: Server, subscription_id: str, n: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        got = server.api("GET", "/webhooks/deliveries", params={"subscription_id": subscription_id})
        if len(got.json()["deliveries"]) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{n} attempts of {subscription_id} were not logged")


def _wait_state(server: Server, event_id: str, state: str, subscription_id: str) -> None:
    # the module's subscriptions share event types: only this test's subscription's delivery
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        got = server.api("GET", f"/events/{event_id}/deliveries").json()["deliveries"]
        if [d["state"] for d in got if d["webhook_subscription_id"] == subscription_id] == [state]:
            return
        time.sleep(0.05)
    raise AssertionError(f"the delivery of {event_id} did not become {state}")


class _LineReader:
    """Lines of a process's stdout, read by a thread so a wait can time out."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.taken = 0
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def next(self, timeout_s: float = 15.0) -> str:
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.lines) > self.taken, timeout_s):
                raise AssertionError(f"no new line in {timeout_s} s; got {self.lines}")
            self.taken += 1
            return self.lines[self.taken - 1]

    def rest(self) -> list[str]:
        self.thread.join(10)
        return self.lines[self.taken :]
