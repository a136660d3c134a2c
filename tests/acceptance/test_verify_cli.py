"""``hookline verify``, the real CLI in subprocesses: the shared vectors, tampered copies, usage
errors, and a request the running server really delivered."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import Launcher, Receiver, run_hookline

VECTORS_FILE = Path(__file__).resolve().parent.parent / "vectors" / "signatures.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_bytes())["vectors"]


@dataclass
class Case:
    name: str
    args: list[str]
    exit_code: int
    says: str


def _args(v: dict[str, Any], body: Path, **change: Any) -> list[str]:
    headers: dict[str, str] = {**v["headers"], **change.get("headers", {})}
    for gone in change.get("drop", ()):
        headers.pop(gone)
    args = ["verify", "--profile", v["scheme"], "--secret", change.get("secret", v["secret"])]
    args += ["--body", str(body)]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    if v.get("timestamp"):
        args += ["--now", str(int(v["timestamp"]) + change.get("late_s", 0))]
    return args


def _run_all(cases: list[Case], cwd: Path) -> None:
    """Runs every case at once (each is its own process) and checks each one's verdict."""
    done = run_hookline([c.args for c in cases], dict(os.environ), cwd)
    failures = [
        f"{case.name}: exit {proc.returncode}, said {proc.stdout + proc.stderr!r}"
        for case, proc in zip(cases, done, strict=True)
        if proc.returncode != case.exit_code or case.says not in proc.stdout + proc.stderr
    ]
    assert not failures, "\n".join(failures)


def _bodies(tmp_path: Path) -> list[Path]:
    paths = []
    for i, v in enumerate(VECTORS):
        path = tmp_path / f"body-{i}"
        path.write_bytes(base64.b64decode(v["body_base64"]))
        paths.append(path)
    return paths


def test_every_vector_is_authentic(tmp_path: Path) -> None:
    bodies = _bodies(tmp_path)
    cases = [
        Case(f"vector {i} ({v['scheme']})", _args(v, bodies[i]), 0, "authentic")
        for i, v in enumerate(VECTORS)
    ]
    _run_all(cases, tmp_path)


def test_tampered_requests_are_not_authentic_and_say_why(tmp_path: Path) -> None:
    bodies = _bodies(tmp_path)
    cases = []
    for i, v in enumerate(VECTORS[:4]):  # one of each profile
        tampered = tmp_path / f"tampered-{i}"
        tampered.write_bytes(bodies[i].read_bytes() + b"\n")
        cases.append(Case(f"{v['scheme']} body", _args(v, tampered), 1, "bad signature"))
    inkbox, inbox, std = VECTORS[0], VECTORS[1], VECTORS[3]
    assert (inkbox["scheme"], inbox["scheme"], std["scheme"]) == ("inkbox", "inbox", "standard")
    wrong = inkbox["secret"] + "x"
    cases += [
        Case("inkbox secret", _args(inkbox, bodies[0], secret=wrong), 1, "bad signature"),
        Case(
            "inbox missing header",
            _args(inbox, bodies[1], drop=["X-Inbox-Signature"]),
            1,
            "missing header x-inbox-signature",
        ),
        Case(
            "standard missing header",
            _args(std, bodies[3], drop=["webhook-timestamp"]),
            1,
            "missing header webhook-timestamp",
        ),
        Case("inkbox old", _args(inkbox, bodies[0], late_s=301), 1, "timestamp outside tolerance"),
        Case(
            "standard --tolerance",
            [*_args(std, bodies[3], late_s=900), "--tolerance", "900"],
            0,
            "authentic",
        ),
    ]
    good = std["headers"]["webhook-signature"]
    several = {"webhook-signature": f"v1,{base64.b64encode(b'x' * 32).decode()} {good}"}
    cases.append(Case("standard, several", _args(std, bodies[3], headers=several), 0, "authentic"))
    _run_all(cases, tmp_path)


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    body = _bodies(tmp_path)[2]
    v = VECTORS[2]
    cases = [
        Case(
            "unknown profile",
            ["verify", "--profile", "svix", "--secret", "s", "--body", str(body)],
            2,
            "unknown profile",
        ),
        Case(
            "no body file",
            ["verify", "--profile", "inbox", "--secret", "s", "--body", str(tmp_path / "none")],
            2,
            "cannot read",
        ),
        Case("bad -H", [*_args(v, body), "-H", "no colon"], 2, "Name: value"),
        Case("bad standard secret", [*_args(VECTORS[3], body, secret="whsec_abc")], 2, "secret"),
    ]
    _run_all(cases, tmp_path)


def test_a_real_delivery_verifies_and_a_tampered_copy_does_not(
    launcher: Launcher, receiver: Receiver, tmp_path: Path
) -> None:
    server = launcher.serve(f"sqlite:///{tmp_path}/hookline.db")
    ident = server.api("POST", "/identities", json={"agent_handle": "cli-verify"}).json()
    created = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={
            "url": receiver.url("/inkbox"),
            "event_types": ["message.delivered"],
            "profile": "inkbox",
            "agent_identity_id": ident["id"],
        },
    )
    assert created.status_code == 201, created.text
    key = created.json()["signing_key"]
    published = server.api(
        "POST",
        "/events",
        json={"type": "message.delivered", "agent_handle": "cli-verify", "data": {"n": 1}},
    )
    assert published.status_code == 202, published.text
    got = receiver.wait_for(lambda rs: len(rs) >= 1)[0]
    body = tmp_path / "delivered.json"
    body.write_bytes(got.body)
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(got.body.replace(b'"n":1', b'"n":2'))
    assert tampered.read_bytes() != got.body

    def args(path: Path) -> list[str]:
        out = ["verify", "--profile", "inkbox", "--secret", key, "--body", str(path)]
        for name, value in got.headers.items():
            out += ["-H", f"{name}: {value}"]
        return out

    _run_all(
        [
            Case("as delivered", args(body), 0, "authentic"),
            Case("tampered", args(tampered), 1, "bad signature"),
        ],
        tmp_path,
    )
