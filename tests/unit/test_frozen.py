"""``@frozen`` makes dataclasses' frozen, keyword-only, slotted class, with its own constructor."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from typing import Any, cast

import pytest

from hookline.core.frozen import frozen
from hookline.core.models import Delivery


@frozen
class Sample:
    name: str
    count: int = 3
    tags: list[str] = dataclasses.field(default_factory=list)
    note: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Twin:
    name: str
    count: int = 3
    tags: list[str] = dataclasses.field(default_factory=list)
    note: str | None = None


def test_its_constructor_is_its_own_and_sets_every_field() -> None:
    # dataclasses' own sets each field with object.__setattr__; ours does not
    assert "__setattr__" in Twin.__init__.__code__.co_names
    assert "__setattr__" not in Sample.__init__.__code__.co_names
    s = Sample(name="a", count=5, tags=["x"], note="n")
    assert (s.name, s.count, s.tags, s.note) == ("a", 5, ["x"], "n")


def test_defaults_and_factories_as_declared() -> None:
    s = Sample(name="a")
    assert (s.count, s.tags, s.note) == (3, [], None)
    assert Sample(name="b").tags is not s.tags  # a new list each time
    explicit: list[str] = []
    assert Sample(name="c", tags=explicit).tags is explicit


def test_same_signature_as_dataclasses_own() -> None:
    ours = inspect.signature(Sample.__init__).parameters
    theirs = inspect.signature(Twin.__init__).parameters
    assert list(ours) == list(theirs)
    assert all(p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) for p in ours.values())
    assert [p.kind for p in ours.values()][1:] == [p.kind for p in theirs.values()][1:]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("a",), {}),  # positional
        ((), {}),  # a required field missing
        ((), {"name": "a", "colour": "red"}),  # no such field
    ],
)
def test_bad_calls_fail_as_dataclasses_would(args: tuple[str, ...], kwargs: dict[str, str]) -> None:
    with pytest.raises(TypeError):
        cast(Any, Sample)(*args, **kwargs)  # a wrong call, on purpose
    with pytest.raises(TypeError):
        cast(Any, Twin)(*args, **kwargs)


def test_still_frozen_slotted_hashable_comparable_and_picklable() -> None:
    s = Sample(name="a", note="n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.name = "b"  # type: ignore[misc]
    assert not hasattr(s, "__dict__")
    assert s == Sample(name="a", note="n")
    assert s != Sample(name="a")
    assert hash(Point(x=1, y=2)) == hash(Point(x=1, y=2)) != hash(Point(x=2, y=1))
    assert repr(s) == "Sample(name='a', count=3, tags=[], note='n')"
    assert dataclasses.replace(s, count=9) == Sample(name="a", count=9, note="n")
    assert pickle.loads(pickle.dumps(s)) == s  # noqa: S301 - our own bytes


@frozen
class Point:
    x: int
    y: int


def test_a_post_init_keeps_dataclasses_constructor() -> None:
    seen: list[str] = []

    @frozen
    class Checked:
        name: str

        def __post_init__(self) -> None:
            seen.append(self.name)

    Checked(name="a")
    assert seen == ["a"]


def test_a_subclass_sets_its_inherited_fields() -> None:
    @frozen
    class Base:
        a: int

    @frozen
    class Child(Base):
        b: int = 2

    c = Child(a=1)
    assert (c.a, c.b) == (1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.a = 5  # type: ignore[misc]


def test_a_class_without_fields() -> None:
    @frozen
    class Empty:
        pass

    assert Empty() == Empty()


def test_the_domain_models_are_made_by_it_without_a_setattr_per_field() -> None:
    """Why the decorator is cheaper: no ``object.__setattr__`` looked up for every field.

    The figure itself (several times cheaper) is measured in
    docs/perf/2026-12-03-frozen-dataclasses.md, not timed here.
    """
    fields: dict[str, Any] = {f.name: 0 for f in dataclasses.fields(Delivery)}
    twin: Any = dataclasses.dataclass(frozen=True, kw_only=True, slots=True)(
        type("Delivery", (), {"__annotations__": dict.fromkeys(fields, "int")})
    )
    assert Delivery.__init__.__qualname__ == "Delivery.__init__"
    assert "__setattr__" in twin.__init__.__code__.co_names
    assert "__setattr__" not in Delivery.__init__.__code__.co_names
    assert Delivery(**fields) == Delivery(**fields)
