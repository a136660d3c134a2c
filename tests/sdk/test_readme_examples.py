"""The README's two receivers are the files under sdk/examples, verbatim, and each one, run as
its own server, accepts a real delivery from a running Hookline and refuses forged requests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hookline_sdk import Client

from .conftest import Server, free_port

SDK = Path(__file__).resolve().parents[2] / "sdk"
EXAMPLES = SDK / "examples"
READY_TIMEOUT_S = 30.0


@pytest.mark.parametrize("name", ["fastapi_receiver.py", "flask_receiver.py"])
def test_the_readme_shows_each_example_verbatim(name: str) -> None:
    source = (EXAMPLES / name).read_text()
    readme = (SDK / "README.md").read_text()
    assert f"```python\n{source}```" in readme, f"README.md does not show {name} as it is"


def _start(kind: str, port: int, secret: str, profile: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HOOKLINE_WEBHOOK_SECRET": secret, "HOOKLINE_WEBHOOK_PROFILE": profile}
    if kind == "fastapi":
        args = [
            "-m",
            "uvicorn",
            "fastapi_receiver:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
    else:
        args = ["-m", "flask", "--app", "flask_receiver", "run", "--port", str(port)]
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=EXAMPLES,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_up(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "exited")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"the example did not start at {url}")


@pytest.mark.parametrize(("kind", "profile"), [("fastapi", "standard"), ("flask", "inbox")])
def test_the_example_receiver_accepts_a_real_delivery_and_refuses_forgeries(
    client: Client, live: Server, kind: str, profile: str
) -> None:
    example_port = free_port()
    url = f"http://127.0.0.1:{example_port}/webhooks/hookline"
    sub = client.create_subscription(url, ["message.delivered"], profile=profile)
    assert sub.secret
    proc = _start(kind, example_port, sub.secret, profile)
    try:
        _wait_up(proc, url)
        tested = client.test_subscription(sub.id, "message.delivered")
        assert tested.success and tested.response_status == 200, tested
        assert tested.event_id in (tested.response_body or "")

        forged = httpx.post(
            url,
            content=b'{"id":"evt_forged","type":"message.delivered","data":{}}',
            headers={
                "webhook-id": "evt_forged",
                "webhook-timestamp": str(int(time.time())),
                "webhook-signature": "v1,AAAA",
                "X-Inbox-Signature": "sha256=00",
            },
        )
        assert forged.status_code == 400 and "signature" in forged.text
        unsigned = httpx.post(url, content=b"{}")
        assert unsigned.status_code == 400 and "missing header" in unsigned.text
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # waits, and closes its pipe
        client.delete_subscription(sub.id)
