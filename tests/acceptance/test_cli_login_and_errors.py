"""The real CLI in subprocesses: ``hookline login`` (a private file, and which server and key
win), one-line errors with their exit statuses, and the keys and owners commands."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import Cli

from conftest import ADMIN_KEY, Launcher, Server, free_port


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-login")


@pytest.fixture(scope="module")
def server(workdir: Path) -> Iterator[Server]:
    launch = Launcher(workdir)
    try:
        yield launch.serve(f"sqlite:///{workdir}/hookline.db")
    finally:
        launch.close()


@pytest.fixture(scope="module")
def cli(server: Server, workdir: Path) -> Cli:
    return Cli.for_server(server.base, workdir)


def test_login_saves_a_private_file_and_flags_beat_env_beat_the_file(
    server: Server, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    bare = Cli.for_server(server.base, tmp_path).with_env(
        HOOKLINE_SERVER=None, HOOKLINE_API_KEY=None, XDG_CONFIG_HOME=str(tmp_path / "xdg")
    )
    config = tmp_path / "xdg" / "hookline" / "config.toml"
    refused, saved = bare.many(
        [
            ["login", "--server", server.base, "--api-key", "hl_wrong_key"],
            ["login", "--server", server.base, "--api-key", ADMIN_KEY],
        ]
    )
    assert refused.error_line() == "error: 401 the API key is unknown or revoked"
    assert saved.ok().out.strip() == f"logged in to {server.base}; saved in {config}"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    assert server.base in config.read_text() and ADMIN_KEY in config.read_text()

    from_file, env_server, flag_server, env_key, flag_key = (
        bare.many([["keys", "list", "--json"]])
        + bare.with_env(HOOKLINE_SERVER=dead).many(
            [["keys", "list", "--json"], ["keys", "list", "--json", "--server", server.base]]
        )
        + bare.with_env(HOOKLINE_API_KEY="hl_wrong_key").many(
            [["keys", "list", "--json"], ["keys", "list", "--json", "--api-key", ADMIN_KEY]]
        )
    )
    assert any(k["name"] == "HOOKLINE_ADMIN_KEY" for k in from_file.json())
    assert env_server.error_line() == (
        f"error: cannot reach the Hookline server at {dead}: [Errno 111] Connection refused"
    )
    assert flag_server.json() == from_file.json()
    assert env_key.error_line() == "error: 401 the API key is unknown or revoked"
    assert flag_key.json() == from_file.json()

    assert bare("logout").ok().out.strip() == f"removed {config}"
    assert not config.exists()


def test_errors_are_one_line_with_the_right_exit_status(cli: Cli, workdir: Path) -> None:
    missing, invalid, unknown_type, bad_data, no_url, no_change, helped = cli.many(
        [
            ["subscriptions", "get", "no-such-id"],
            ["subscriptions", "create", "--url", "ftp://example.com/x", "-e", "message.sent"],
            ["trigger", "no.such_type"],
            ["events", "publish", "message.sent", "--data", "[1, 2]"],
            ["subscriptions", "create", "-e", "message.sent"],
            ["subscriptions", "update", "some-id"],
            ["subscriptions", "list", "--help"],
        ]
    )
    assert missing.error_line() == "error: 404 subscription 'no-such-id' not found"
    line = invalid.error_line()
    assert line.startswith("error: 422 ") and "url" in line
    assert "'no.such_type' is not in the event catalog" in unknown_type.error_line(2)
    assert bad_data.error_line(2) == "error: --data must be a JSON object, not list"
    assert no_url.code == 2 and "--url" in no_url.err, "Typer's own usage error"
    assert no_change.error_line(2) == "error: nothing to change: give at least one option"
    for envvar in ("HOOKLINE_SERVER", "HOOKLINE_API_KEY"):
        assert envvar in helped.ok().out


def test_keys_and_owners(cli: Cli, server: Server) -> None:
    key, identity, number = cli.many(
        [
            ["keys", "create", "--name", "ci", "--json"],
            ["owners", "identities", "create", "cli-bot", "--json"],
            ["owners", "phone-numbers", "create", "+14155550123", "--json"],
        ]
    )
    created_key = key.json()
    assert created_key["key"] and created_key["scope"] == "admin"
    assert identity.json()["agent_handle"] == "cli-bot"
    number_id = number.json()["id"]

    mailbox, listed, configured, revoked, table = cli.many(
        [
            ["owners", "mailboxes", "create", "ops@example.com", "--agent-handle", "cli-bot",
             "--json"],
            ["keys", "list", "--json"],
            ["owners", "phone-numbers", "update", number_id, "--incoming-call-action",
             "auto_accept", "--json"],
            ["keys", "revoke", created_key["id"], "--yes"],
            ["owners", "identities", "list"],
        ]
    )  # fmt: skip
    assert mailbox.json()["agent_identity_id"] == identity.json()["id"]
    assert created_key["id"] in [k["id"] for k in listed.json()]
    assert configured.json()["incoming_call_action"] == "auto_accept"
    assert revoked.ok().out.strip() == f"revoked API key {created_key['id']}"
    assert "cli-bot" in table.ok().out

    hooked, shown, owned, with_revoked = cli.many(
        [
            ["owners", "mailboxes", "update", "ops@example.com", "--webhook-url",
             "http://127.0.0.1:9/mailbox", "--json"],
            ["owners", "phone-numbers", "get", number_id],
            ["subscriptions", "create", "--url", "http://127.0.0.1:9/owned", "-e", "message.sent",
             "--mailbox", "ops@example.com", "--json"],
        ]
    ) + cli.with_env(HOOKLINE_API_KEY=created_key["key"]).many([["keys", "list"]])  # fmt: skip
    assert hooked.json()["webhook_url"] == "http://127.0.0.1:9/mailbox"
    assert "auto_accept" in shown.ok().out
    assert with_revoked.error_line() == "error: 401 the API key is unknown or revoked"
    got = server.api("GET", "/mail/mailboxes/ops@example.com").json()
    assert got["webhook_url"] == "http://127.0.0.1:9/mailbox"
    sub = owned.json()
    assert sub["mailbox_id"] == mailbox.json()["id"]

    # the trigger's owner routes the event to the mailbox's subscriptions
    said = cli("trigger", "message.sent", "--mailbox", "ops@example.com", "--json").json()
    made = server.api("GET", f"/events/{said['id']}/deliveries").json()["deliveries"]
    assert said["deliveries"] == len(made) >= 1
    assert sub["id"] in [d["webhook_subscription_id"] for d in made]
