"""The publish answer built from dicts says exactly what its documented models would."""

from __future__ import annotations

from hookline.api.schemas.events import PublishedBatchOut, PublishedOut, published_json
from hookline.core.models import Event
from hookline.storage.records import Published


def _published(i: int, *, created: bool) -> Published:
    event = Event(
        id=f"evt_{i}",
        organization_id="org_1",
        type="message.delivered",
        data={"n": i},
        occurred_at_ms=1_796_226_601_000 + i * 7,  # with and without milliseconds
        created_at_ms=1_796_226_601_000,
    )
    return Published(event=event, deliveries=i % 3, created=created, leased=())


def test_a_batch_answer_is_byte_for_byte_the_models() -> None:
    results = [_published(i, created=i % 2 == 0) for i in range(50)]
    models = PublishedBatchOut(events=[PublishedOut.of(p) for p in results])
    assert published_json(results, batch=True) == models.model_dump_json().encode()


def test_a_single_answer_is_byte_for_byte_the_model() -> None:
    for created in (True, False):
        p = _published(3, created=created)
        assert published_json([p], batch=False) == PublishedOut.of(p).model_dump_json().encode()
