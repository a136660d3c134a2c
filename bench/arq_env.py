"""A virtualenv of its own for the arq baseline.

arq 0.28 needs redis-py < 6 and Celery's kombu needs >= 6.4, so both cannot share the
harness's environment. The arq environment holds arq and its own redis-py only; a ``.pth`` file
puts the harness's site-packages after its own, so aiohttp and Hookline's signing code are the
very ones the other baselines use, and arq's redis-py wins over the harness's.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

ARQ_VERSION = "0.28.0"
#: reused by later runs: the same pin gives the same environment
HOME = Path.home() / ".cache" / "hookline-bench" / f"arq-{ARQ_VERSION}"


def python() -> Path:
    """The arq environment's interpreter, made on first use (pip install from PyPI). Its
    ``.pth`` is written each time: it names the site-packages of whichever harness runs."""
    exe = HOME / "bin" / "python"
    marker = HOME / ".ready"
    if not (marker.exists() and exe.exists()):
        print(
            f"[bench] making the arq baseline's virtualenv in {HOME}", file=sys.stderr, flush=True
        )
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(HOME)], check=True)
        subprocess.run(
            [str(exe), "-m", "pip", "install", "-q", f"arq=={ARQ_VERSION}"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        marker.touch()
    site = subprocess.run(
        [str(exe), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    (Path(site) / "zz-hookline-bench.pth").write_text("\n".join(sorted(ours)) + "\n")
    return exe


def available() -> bool:
    """Whether the environment can be made or is there (pip reaches an index, or it exists)."""
    try:
        python()
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"[bench] arq baseline unavailable: {exc}", file=sys.stderr, flush=True)
        return False
    return True
