"""``@frozen``: the frozen, keyword-only, slotted dataclass, with a cheaper constructor.

The domain's values are frozen dataclasses (STYLE.md), and publishing and delivering make
several of them for every event and every delivery. ``dataclasses`` builds a frozen class's
``__init__`` to set every field through ``object.__setattr__`` looked up by name each time,
which makes a frozen ``Delivery`` several times slower to build than the same class unfrozen.
This decorator makes the very same class (``dataclass(frozen=True, kw_only=True, slots=True)``:
equality, hashing, ``repr``, ``replace``, pickling and the ``FrozenInstanceError`` on
assignment are all dataclasses' own) and then gives it an ``__init__`` that sets each slot
through that slot's own descriptor, bound once, which takes back most of the difference
(docs/perf/2026-12-03-frozen-dataclasses.md).

The constructor keeps dataclasses' signature: keyword-only, defaults and default factories
as declared. A class with an ``__post_init__``, an ``InitVar`` or a field left out of
``__init__`` keeps dataclasses' own constructor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar, cast, dataclass_transform

C = TypeVar("C", bound=type)

_MISSING = dataclasses.MISSING


@dataclass_transform(frozen_default=True, kw_only_default=True)
def frozen(cls: C) -> C:
    made = cast(C, dataclasses.dataclass(frozen=True, kw_only=True, slots=True)(cls))
    init = _fast_init(made)
    if init is not None:
        init.__qualname__ = f"{made.__qualname__}.__init__"
        made.__init__ = init  # type: ignore[misc]
    return made


def _fast_init(cls: type) -> Callable[..., None] | None:
    if hasattr(cls, "__post_init__"):
        return None
    fields = dataclasses.fields(cls)
    if len(fields) != len(cls.__dict__["__dataclass_fields__"]) or any(not f.init for f in fields):
        return None  # an InitVar, a ClassVar or a field left out of __init__
    scope: dict[str, Any] = {"_FACTORY": _Factory}
    params: list[str] = []
    body: list[str] = []
    for n, f in enumerate(fields):
        scope[f"_set{n}"] = _slot(cls, f.name).__set__
        if f.default is not _MISSING:
            scope[f"_default{n}"] = f.default
            params.append(f"{f.name}=_default{n}")
            body.append(f"    _set{n}(self, {f.name})")
        elif f.default_factory is not _MISSING:
            scope[f"_make{n}"] = f.default_factory
            params.append(f"{f.name}=_FACTORY")
            value = f"_make{n}() if {f.name} is _FACTORY else {f.name}"
            body.append(f"    _set{n}(self, {value})")
        else:
            params.append(f.name)
            body.append(f"    _set{n}(self, {f.name})")
    signature = f"self, *, {', '.join(params)}" if params else "self"
    source = f"def __init__({signature}):\n" + ("\n".join(body) or "    pass")
    exec(source, scope)  # noqa: S102 - source made above from the class's own field names
    init: Callable[..., None] = scope["__init__"]
    return init


def _slot(cls: type, name: str) -> Any:
    """The member descriptor of the slot ``name`` (a base class's, for an inherited field)."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    raise AttributeError(name)


class _Factory:
    """The default of a field made by a default factory (never a value itself)."""
