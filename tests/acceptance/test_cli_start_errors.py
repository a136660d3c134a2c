"""The real CLI in a subprocess: what keeps it from starting is one line on stderr."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Launcher, base_env, free_port, hookline, run_hookline
from hookline import __version__

PG = "postgresql://postgres@127.0.0.1:5432"


def assert_one_line(done: subprocess.CompletedProcess[str], *expected: str, code: int = 1) -> None:
    """Exit status ``code``, and stderr one line naming the problem, with no traceback."""
    report = f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    assert done.returncode == code, report
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, report
    for part in expected:
        assert part in lines[0], report
    assert "Traceback" not in done.stderr + done.stdout, report


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_postgresql_down(launcher: Launcher) -> None:
    closed = free_port()  # nothing listens there
    done = launcher.run(hookline("api"), base_env(f"postgresql://postgres@127.0.0.1:{closed}/x"))
    assert_one_line(done, "PostgreSQL", f"127.0.0.1:{closed}", "connection refused")


def test_wrong_database_name(launcher: Launcher) -> None:
    done = launcher.run(hookline("worker"), base_env(f"{PG}/hookline_no_such_database"))
    assert_one_line(done, '"hookline_no_such_database" does not exist')


def test_sqlite_in_a_missing_folder(launcher: Launcher, tmp_path: Path) -> None:
    env = base_env(f"sqlite:///{tmp_path}/missing/h.db")
    del env["HOOKLINE_SECRET_KEY"]  # the key file beside the database is not written either
    assert_one_line(launcher.run(hookline("serve"), env), f"{tmp_path}/missing does not exist")
    assert not (tmp_path / "missing").exists()


def test_sqlite_in_an_unwritable_folder(launcher: Launcher) -> None:
    # /proc takes no new files, even from root (who writes to any folder a chmod protects)
    done = launcher.run(hookline("migrate"), base_env("sqlite:////proc/hookline-test.db"))
    assert_one_line(done, "/proc/hookline-test.db", "/proc be written")


def test_unusable_key_file(launcher: Launcher, tmp_path: Path) -> None:
    # the master key beside an embedded database: here a folder stands where the file should be
    (tmp_path / "h.db.key").mkdir()
    env = base_env(f"sqlite:///{tmp_path}/h.db")
    del env["HOOKLINE_SECRET_KEY"]
    done = launcher.run(hookline("migrate"), env)
    assert_one_line(done, f"cannot use {tmp_path}/h.db.key: Is a directory")


def test_port_in_use(launcher: Launcher, tmp_path: Path, busy_port: int) -> None:
    env = base_env(f"sqlite:///{tmp_path}/h.db", HOOKLINE_PORT=str(busy_port))
    done = launcher.run(hookline("serve"), env)
    assert_one_line(done, f"127.0.0.1:{busy_port}", "already in use")


def test_address_not_on_this_machine(launcher: Launcher, tmp_path: Path) -> None:
    # a documentation address (TEST-NET-1): only bound to, never sent to
    env = base_env(f"sqlite:///{tmp_path}/h.db", HOOKLINE_HOST="192.0.2.1")
    assert_one_line(launcher.run(hookline("serve"), env), "192.0.2.1:", "no such address")


def test_debug_shows_the_traceback(launcher: Launcher, tmp_path: Path) -> None:
    done = launcher.run(hookline("migrate", "--debug"), base_env(f"sqlite:///{tmp_path}/no/h.db"))
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "StartupError: cannot open the SQLite database" in done.stderr


@pytest.mark.parametrize("variable", ["HOOKLINE_SECRET_KEY", "HOOKLINE_ADMIN_KEY"])
def test_a_refused_key_names_its_variable(
    launcher: Launcher, tmp_path: Path, variable: str
) -> None:
    env = base_env(f"sqlite:///{tmp_path}/h.db", **{variable: "short"})
    done = launcher.run(hookline("migrate"), env)
    assert_one_line(done, f"invalid setting {variable}: must be at least 16 characters", code=2)


def test_postgresql_without_a_secret_key_names_it(launcher: Launcher) -> None:
    env = base_env(f"{PG}/test")
    del env["HOOKLINE_SECRET_KEY"]
    done = launcher.run(hookline("migrate"), env)
    assert_one_line(
        done, "invalid setting HOOKLINE_SECRET_KEY: is required with PostgreSQL", code=2
    )


def test_version_flag() -> None:
    done = subprocess.run(hookline("--version"), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == __version__


def test_help_shows_the_default_of_every_option(tmp_path: Path) -> None:
    commands = ("serve", "api", "worker", "migrate")
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    helps = run_hookline([[command, "--help"] for command in commands], env, tmp_path)
    for command, done in zip(commands, helps, strict=True):
        assert done.returncode == 0, done.stderr
        out = done.stdout
        options = [line for line in out.splitlines() if re.search(r"--[a-z]", line)]
        assert len(options) >= 3, out
        for line in options:
            if "--help" not in line:
                assert "[default: " in line, (command, line)
        assert "sqlite:///./hookline.db" in out
        if command in ("serve", "api"):
            assert "[default: (8000)]" in out and "[default: (127.0.0.1)]" in out, out
