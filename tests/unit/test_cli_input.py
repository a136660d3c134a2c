"""What the client commands make of what people type, and which server they pick when nothing
is configured."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hookline.cli import _config, _input
from hookline.cli._client import resolve

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_since_takes_durations_back_from_now_and_iso_times() -> None:
    assert _input.since("90m", NOW) == "2026-05-01T10:30:00+00:00"
    assert _input.since("7d", NOW) == "2026-04-24T12:00:00+00:00"
    assert _input.since("2026-04-30T08:00:00+02:00", NOW) == "2026-04-30T08:00:00+02:00"
    # a time without a zone is read as UTC, never as the machine's local time
    assert _input.since("2026-04-30T08:00:00", NOW) == "2026-04-30T08:00:00+00:00"
    with pytest.raises(ValueError, match="neither an ISO 8601 time nor a duration"):
        _input.since("yesterday", NOW)


def test_names_headers_schedules_and_json_objects() -> None:
    assert _input.names(["a,b", " c ", "a", ","]) == ["a", "b", "c"]
    assert _input.headers(["X-Team: ops", "X-Empty:"]) == {"X-Team": "ops", "X-Empty": ""}
    with pytest.raises(ValueError, match="is not 'Name: value'"):
        _input.headers(["no colon"])
    assert _input.seconds_list("0, 30,120") == [0, 30, 120]
    with pytest.raises(ValueError, match="comma-separated list of seconds"):
        _input.seconds_list("0,soon")
    assert _input.json_object('{"a": 1}', "--data") == {"a": 1}
    with pytest.raises(ValueError, match="--data is not valid JSON"):
        _input.json_object("{", "--data")
    with pytest.raises(ValueError, match="--data must be a JSON object, not list"):
        _input.json_object("[]", "--data")


def test_json_lines_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"type": "a"}\n\n{"type": "b", "data": {}}\n{"data": {}}\n')
    events = _input.json_lines(path)
    assert next(events) == {"type": "a"}
    assert next(events) == {"type": "b", "data": {}}
    with pytest.raises(ValueError, match=r"events\.jsonl line 4: the event has no 'type'"):
        next(events)


def test_nothing_configured_means_the_local_default_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    target = resolve(None, None)
    assert (target.server, target.api_key) == (_config.DEFAULT_SERVER, None)
    _config.write(_config.Stored(server="https://hooks.example.com/", api_key='k"ey'))
    target = resolve(None, None)
    assert (target.server, target.api_key) == ("https://hooks.example.com", 'k"ey')
    assert resolve("http://127.0.0.1:9", "given").api_key == "given"
