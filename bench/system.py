"""The machine: Debian tools installed on demand, free ports, process memory, a description."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import socket
import subprocess
import sys
from pathlib import Path

_apt_updated = False
#: whether ensure_tool installs a missing tool (``python -m bench.run --no-install`` turns it
#: off: the tests use what the machine has, and .ci/run installs nginx and wrk beforehand)
install_missing = True


def find_tool(binary: str) -> str | None:
    """The path of ``binary``, looking in the sbin folders too (nginx lives in /usr/sbin)."""
    return shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")


def ensure_tool(binary: str, package: str) -> str:
    """The path of ``binary``, installing Debian's ``package`` with apt-get when it is missing
    (unless ``install_missing`` is off: then a missing tool is an error naming the package)."""
    global _apt_updated
    found = find_tool(binary)
    if found:
        return found
    if not install_missing:
        raise RuntimeError(
            f"{binary} is missing and this run installs nothing (--no-install): "
            f"install Debian's {package} package first"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"[bench] {binary} is missing: apt-get install {package}", file=sys.stderr, flush=True)
    if not _apt_updated:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        _apt_updated = True
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    found = find_tool(binary)
    if not found:
        raise RuntimeError(f"{package} was installed but {binary} is still not found")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a live process, in KiB; empty once it has exited."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(rest.split()[0])
    return out


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU time a live process has used so far; None once it has exited."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # after the command's closing parenthesis: state is field 3 of stat(5), utime 14, stime 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _first_line(args: list[str]) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else ""
    )


def _hookline_source() -> str:
    """Which Hookline was measured: the version, where it was imported from, and its commit
    when that folder is a git checkout (flagged when src/ has uncommitted changes)."""
    import hookline

    src = Path(hookline.__file__).resolve().parent.parent
    head = _first_line(["git", "-C", str(src), "rev-parse", "--short", "HEAD"])
    if not head or " " in head:
        return f"{hookline.__version__} from {src}"
    dirty = _first_line(["git", "-C", str(src), "status", "--porcelain", "--", "."])
    return f"{hookline.__version__} from {src}, commit {head}" + (
        " with uncommitted changes" if dirty else ""
    )


def describe() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    debian = "unknown"
    with contextlib.suppress(OSError):
        debian = Path("/etc/debian_version").read_text().strip()
    nginx = find_tool("nginx")
    return {
        "hookline": _hookline_source(),
        "cpu": f"{os.cpu_count()} cores, {cpu}",
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "os": f"Debian {debian}, Linux {platform.release()}",
        "python": platform.python_version(),
        "nginx": _first_line([nginx, "-v"]) if nginx else "not installed",
        "postgresql": _first_line(["psql", "--version"]),
        "redis": " ".join(_first_line(["redis-server", "--version"]).split()[:3]),
    }


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def foreign_cpu_s() -> float:
    """CPU seconds used so far by processes that are not the harness or its children, nor
    PostgreSQL's (which serve Hookline too). A lower bound: processes that exit drop out."""
    ours = _descendants(os.getpid())
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(stat.parent.name) in ours:
                continue
            text = stat.read_text()
            if "(postgres)" in text:
                continue
            fields = text.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / ticks
