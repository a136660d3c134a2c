"""A page of a list, and whether more rows follow it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from hookline.core.frozen import frozen

T = TypeVar("T")


@frozen
class Page(Generic[T]):
    items: list[T]
    #: rows follow this page: the next ``offset`` finds some
    has_more: bool

    @classmethod
    def of(cls, rows: Sequence[T], limit: int) -> Page[T]:
        """The page of ``rows`` read with ``limit + 1``: the extra row only tells that more
        follow, without a count of them all."""
        return cls(items=list(rows[:limit]), has_more=len(rows) > limit)
