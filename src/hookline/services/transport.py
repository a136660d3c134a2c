"""What the services need to send one HTTP request now (test sends, replays, calls).

``hookline.delivery.sender.Sender`` implements it; the composition root passes it in, so the
services never import an edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from hookline.core.outcome import SendResult


class Transport(Protocol):
    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, timeout_s: float | None = None
    ) -> SendResult: ...
