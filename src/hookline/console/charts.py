"""SVG charts drawn on the server: the geometry of a webhook's hourly attempts as bars.

Each hour is a bar as tall as its attempts (scaled to the busiest hour), its succeeded part
at the bottom and its failed part stacked on top. The templates draw the rectangles and say
the same numbers in words for those who cannot see them.
"""

from __future__ import annotations

from collections.abc import Sequence

from hookline.core.frozen import frozen
from hookline.services.health import Hour


@frozen
class Bar:
    x: float
    width: float
    #: the succeeded part: top and height; the failed part sits on top of it
    ok_y: float
    ok_height: float
    bad_y: float
    bad_height: float


@frozen
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]


def bars(hours: Sequence[Hour], *, width: int, height: int, gap: float = 1.0) -> Chart:
    """The stacked bars of ``hours`` in a ``width`` x ``height`` box (SVG user units)."""
    busiest = max((h.total for h in hours), default=0)
    slot = width / max(len(hours), 1)
    out = []
    for i, h in enumerate(hours):
        scale = height / busiest if busiest else 0.0
        ok_h, bad_h = h.succeeded * scale, h.failed * scale
        out.append(
            Bar(
                x=round(i * slot + gap / 2, 2),
                width=round(max(slot - gap, 0.5), 2),
                ok_y=round(height - ok_h, 2),
                ok_height=round(ok_h, 2),
                bad_y=round(height - ok_h - bad_h, 2),
                bad_height=round(bad_h, 2),
            )
        )
    return Chart(width=width, height=height, bars=tuple(out))
