"""What ``hookline serve`` prints first: where the console, the API docs and the data are."""

from __future__ import annotations

from pathlib import Path

from conftest import Launcher, base_env, free_port, hookline


def test_the_banner_names_console_docs_and_the_database_file(
    launcher: Launcher, tmp_path: Path
) -> None:
    port = free_port()
    env = base_env("unused", HOOKLINE_PORT=str(port))
    # the embedded default, a URL relative to the working directory
    del env["HOOKLINE_DATABASE_URL"]
    proc = launcher.spawn(hookline("serve"), env, "serve")
    launcher._server(port, [proc])  # waits until it answers
    out = proc.output()
    base = f"http://127.0.0.1:{port}"
    assert f"Hookline API and worker on {base}\n" in out, out
    assert f"  console   {base}/console/\n" in out, out
    assert f"  API docs  {base}/docs\n" in out, out
    database = (tmp_path / "hookline.db").resolve()
    assert database.is_absolute() and database.exists()
    assert f"  database  {database}\n" in out, out
