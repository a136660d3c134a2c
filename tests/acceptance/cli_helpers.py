"""Running the real ``hookline`` CLI in subprocesses, several at once (each start costs about a
second of imports, so independent commands run side by side)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import ADMIN_KEY, run_hookline

CLI_TIMEOUT_S = 60


@dataclass
class Run:
    args: list[str]
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, self.describe()
        return json.loads(self.out)

    def ok(self) -> Run:
        assert self.code == 0, self.describe()
        return self

    def error_line(self, code: int = 1) -> str:
        """The one ``error: …`` line a failed command printed on stderr."""
        assert self.code == code, self.describe()
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.describe()
        assert lines[0].startswith("error: "), self.describe()
        return lines[0]

    def describe(self) -> str:
        command = " ".join(self.args)
        return f"hookline {command} exited {self.code}\nout: {self.out}\nerr: {self.err}"


@dataclass
class Cli:
    """How to call the CLI: its environment (server, key, config directory) and directory."""

    cwd: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_server(cls, base: str, cwd: Path, **extra: str) -> Cli:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
        env.update(
            HOOKLINE_SERVER=base,
            HOOKLINE_API_KEY=ADMIN_KEY,
            XDG_CONFIG_HOME=str(cwd / "config"),
            # wide enough that Rich tables keep ids on one line
            COLUMNS="250",
        )
        env.update(extra)
        return cls(cwd=cwd, env=env)

    def with_env(self, **change: str | None) -> Cli:
        env = dict(self.env)
        for k, v in change.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return Cli(cwd=self.cwd, env=env)

    def __call__(self, *args: str, stdin: str | None = None) -> Run:
        return self.many([list(args)], stdin=stdin)[0]

    def many(self, commands: list[list[str]], stdin: str | None = None) -> list[Run]:
        """Runs every command at once and returns their results in order."""
        done = run_hookline(commands, self.env, self.cwd, stdin or "", CLI_TIMEOUT_S)
        return [
            Run(args=args, code=d.returncode, out=d.stdout, err=d.stderr)
            for args, d in zip(commands, done, strict=True)
        ]
