"""The real CLI in a subprocess: first start, settings by name, refusals."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from conftest import Launcher, base_env, free_port, hookline, run_hookline


def test_first_serve_prints_an_admin_key_that_works(launcher: Launcher, tmp_path: Path) -> None:
    port = free_port()
    env = base_env("unused", HOOKLINE_PORT=str(port))
    # nothing configured: the embedded default, ./hookline.db in the working directory
    del env["HOOKLINE_ADMIN_KEY"], env["HOOKLINE_SECRET_KEY"], env["HOOKLINE_DATABASE_URL"]
    proc = launcher.spawn(hookline("serve"), env, "first")
    deadline = time.monotonic() + 30
    key = None
    while time.monotonic() < deadline and key is None:
        found = re.search(r"HOOKLINE_ADMIN_KEY=(\S+)", proc.output())
        key = found.group(1) if found else None
        time.sleep(0.1)
    assert key, proc.output()
    base = f"http://127.0.0.1:{port}"
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/readyz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    assert (
        httpx.get(base + "/api/v1/webhooks/subscriptions", headers={"X-API-Key": key}).status_code
        == 200
    )
    assert (tmp_path / "hookline.db").exists()
    key_file = tmp_path / "hookline.db.key"
    assert key_file.exists(), "the embedded default keeps its master key beside the database"
    assert key_file.stat().st_mode & 0o077 == 0, "the key file is private to its owner"
    proc.stop()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("hookline.db*"))
    assert key.encode() not in stored, "API keys are stored hashed"
    # a second start keeps the same key and prints no new one; HOOKLINE_HOST moves it
    env["HOOKLINE_HOST"] = "127.0.0.2"
    base = f"http://127.0.0.2:{port}"
    proc2 = launcher.spawn(hookline("serve"), env, "second")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/readyz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    assert "Hookline API and worker" in proc2.output()
    assert "HOOKLINE_ADMIN_KEY=" not in proc2.output()
    assert (
        httpx.get(base + "/api/v1/webhooks/subscriptions", headers={"X-API-Key": key}).status_code
        == 200
    )
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/readyz")


def test_default_profile_setting(launcher: Launcher, tmp_path: Path) -> None:
    server = launcher.serve(f"sqlite:///{tmp_path}/p.db", HOOKLINE_DEFAULT_PROFILE="inboxroad")
    resp = server.api(
        "POST",
        "/webhooks/subscriptions",
        json={"url": "https://h.example.com", "event_types": ["message.sent"]},
    )
    assert resp.json()["profile"] == "inboxroad"


def test_help_shows_every_option_with_its_variable(tmp_path: Path) -> None:
    expected = {
        "serve": ["HOOKLINE_DATABASE_URL", "HOOKLINE_HOST", "HOOKLINE_PORT", "HOOKLINE_LOG_LEVEL"],
        "api": ["HOOKLINE_DATABASE_URL", "HOOKLINE_HOST", "HOOKLINE_PORT"],
        "worker": ["HOOKLINE_DATABASE_URL"],
        "migrate": ["HOOKLINE_DATABASE_URL"],
        "prune": ["HOOKLINE_DATABASE_URL", "HOOKLINE_PRUNE_OLDER_THAN", "HOOKLINE_PRUNE_EXPORT"],
    }
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    helps = run_hookline([[command, "--help"] for command in expected], env, tmp_path)
    for (command, names), out in zip(expected.items(), helps, strict=True):
        assert out.returncode == 0, out.stderr
        for name in names:
            assert name in out.stdout, (command, name, out.stdout)


def test_the_command_starts_without_the_servers_stack() -> None:
    """``hookline subscriptions list`` and the other client commands talk HTTP: starting the
    command loads no database driver, web framework or key-derivation code (a third of the
    modules, and most of the start-up time, of the whole program)."""
    server_only = ["sqlalchemy", "fastapi", "uvicorn", "argon2", "prometheus_client", "jinja2"]
    probe = "import sys, hookline.cli; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [hookline()[0], "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "hookline.cli.subscriptions" in loaded
    assert [name for name in server_only if name in loaded] == []


def test_invalid_settings_are_refused_clearly(tmp_path: Path, launcher: Launcher) -> None:
    cases = {
        "HOOKLINE_RETRY_SCHEDULE": ("30,10", "retry_schedule"),
        "HOOKLINE_DEFAULT_PROFILE": ("soap", "default_profile"),
        "HOOKLINE_DATABASE_URL": ("mysql://x", "database_url"),
        "HOOKLINE_ALLOWED_NETWORKS": ("not-a-cidr", "allowed_networks"),
        "HOOKLINE_PORT": ("99999", "port"),
        "HOOKLINE_DATABASE_POOL_SIZE": ("0", "database_pool_size"),
    }
    for var, (value, name) in cases.items():
        env = base_env(f"sqlite:///{tmp_path}/bad.db", **{var: value})
        done = launcher.run(hookline("migrate"), env)
        assert done.returncode == 2, (var, done.stdout, done.stderr)
        assert name.upper() in done.stderr, (var, done.stderr)
    pg_without_secret = base_env("postgresql://postgres@127.0.0.1:5432/test")
    del pg_without_secret["HOOKLINE_SECRET_KEY"]
    done = launcher.run(hookline("migrate"), pg_without_secret)
    assert done.returncode == 2
    assert "HOOKLINE_SECRET_KEY" in done.stderr


def test_migrate_then_api_on_sqlite(launcher: Launcher, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    done = launcher.run(hookline("migrate"), base_env(url))
    assert done.returncode == 0, done.stderr
    assert "schema is current" in done.stdout
    again = launcher.run(hookline("migrate"), base_env(url))
    assert again.returncode == 0
    server = launcher.api_only(url)
    assert server.api("GET", "/webhooks/catalog").status_code == 200


def test_racing_migrate_commands_on_sqlite(tmp_path: Path) -> None:
    """Processes migrating one SQLite file at once: one migrates, the others wait and find
    nothing to do (each migration is one IMMEDIATE transaction). Forked from the warm parent,
    the four reach the file within moments of each other."""
    env = base_env(f"sqlite:///{tmp_path}/race.db")
    done = run_hookline([["migrate"]] * 4, env, tmp_path)
    assert [d.returncode for d in done] == [0] * 4, [d.stderr for d in done]
    assert all("schema is current" in d.stdout for d in done), [d.stdout for d in done]
