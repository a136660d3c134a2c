"""Publishing load from wrk: many concurrent clients at little CPU.

The harness's own client is Python (aiohttp): it took a large share of a core of its own and,
being one event loop, it answered its concurrent clients one after another, so it set the
pace of (f) rather than Hookline (docs/perf/2026-12-03-harness-load-from-wrk.md). wrk sends
the same requests (the same events, ids of the harness's own form) from C, as nginx is the
receiver for the same reason.
Every event id wrk sends is unique; the ones answered 202 are counted, anything else fails
the run.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.system import ensure_tool

_SCRIPT = r"""
local made = 0
local threads = {}
function setup(thread)
  made = made + 1
  thread:set("tid", made)  -- a global of that thread's own Lua state
  table.insert(threads, thread)
end
function init(args)
  n = 0
  accepted = 0
  refused = 0
  first_refusal = ""
end
local function one()
  n = n + 1
  return string.format(
    '{"id":"%s%d_%d","type":"%s","data":{"message_id":"msg_%09d","mailbox":' ..
    '"bench@example.com","recipient":"ada@example.com","subject":"Your order has shipped",' ..
    '"size_bytes":2048}}', PREFIX, tid, n, TYPE, n)
end
local headers = {["Content-Type"] = "application/json", ["X-API-Key"] = KEY}
request = function()
  if PER_REQUEST == 0 then
    return wrk.format("POST", PATH, headers, one())
  end
  local parts = {}
  for j = 1, PER_REQUEST do parts[j] = one() end
  return wrk.format("POST", PATH, headers, '{"events":[' .. table.concat(parts, ",") .. "]}")
end
response = function(status, headers, body)
  if status == 202 then
    accepted = accepted + 1
  else
    refused = refused + 1
    if first_refusal == "" then first_refusal = status .. " " .. string.sub(body, 1, 200) end
  end
end
done = function(summary, latency, requests)
  local a, r, first = 0, 0, ""
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    r = r + t:get("refused")
    if first == "" then first = t:get("first_refusal") end
  end
  io.write(string.format("HARNESS accepted=%d refused=%d\n", a, r))
  io.write("HARNESS first_refusal=" .. first .. "\n")
end
"""


@dataclass
class WrkLoad:
    requests: int  # answered 202
    events: int  # accepted: requests x events per request
    seconds: float
    p99_ms: float
    socket_errors: str | None


def publish(
    base: str,
    api_key: str,
    *,
    work: Path,
    event_type: str,
    id_prefix: str,
    per_request: int,
    connections: int,
    seconds: float,
) -> WrkLoad:
    """``seconds`` of closed-loop ``POST /events`` (``per_request`` 0) or ``/events/batch``
    (``per_request`` events each) from ``connections`` connections of one wrk thread."""
    whole_s = max(round(seconds), 1)  # wrk takes whole seconds
    path = "/api/v1/events/batch" if per_request else "/api/v1/events"
    script = work / f"publish-{id_prefix}.lua"
    consts = {
        "PREFIX": id_prefix,
        "TYPE": event_type,
        "KEY": api_key,
        "PATH": path,
    }
    head = "".join(f'local {k} = "{v}"\n' for k, v in consts.items())
    script.write_text(head + f"local PER_REQUEST = {per_request}\n" + _SCRIPT)
    done = subprocess.run(
        [ensure_tool("wrk", "wrk"), "-t1", f"-c{connections}", f"-d{whole_s}s", "--latency",
         "--timeout", "30s", "-s", str(script), base],
        capture_output=True, text=True, timeout=whole_s + 120, check=True,
    )  # fmt: skip
    out = done.stdout
    counted = re.search(r"HARNESS accepted=(\d+) refused=(\d+)", out)
    took = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
    if not (counted and took and p99):
        raise RuntimeError(f"unexpected wrk output:\n{out}\n{done.stderr}")
    accepted, refused = int(counted.group(1)), int(counted.group(2))
    if refused:
        first = re.search(r"HARNESS first_refusal=(.*)", out)
        raise RuntimeError(
            f"{refused} of wrk's publishes were not accepted: {first.group(1) if first else ''}"
        )
    errors = re.search(r"Socket errors: (.*)", out)
    return WrkLoad(
        requests=accepted,
        events=accepted * max(per_request, 1),
        seconds=_seconds(float(took.group(2)), took.group(3)),
        p99_ms=_seconds(float(p99.group(1)), p99.group(2)) * 1000,
        socket_errors=errors.group(1) if errors else None,
    )


def _seconds(value: float, unit: str) -> float:
    return value * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]
