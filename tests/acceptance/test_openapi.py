"""The OpenAPI document and /docs of a running server: complete, true, and offline.

The document is checked for what people rely on (security schemes, descriptions, the error
statuses and body, enums, the wire profiles under ``webhooks``); schemathesis then holds the
running server to it with every check.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ADMIN_KEY, Launcher, Server

METHODS = ("get", "post", "put", "patch", "delete")
#: operations anyone may call; every other needs a key
PUBLIC = {"healthz", "readyz", "metrics"}


@pytest.fixture(scope="module")
def served(module_launcher: Launcher) -> Server:
    # schemathesis presents wrong keys on purpose, far more often than the per-address limit
    # on failed authentications allows (that limit has tests of its own). One server for the
    # module: the other tests read the document and pages, which nothing here changes.
    return module_launcher.serve(
        f"sqlite:///{module_launcher.tmp}/hookline.db",
        HOOKLINE_AUTH_FAILURES_PER_MINUTE="1000000",
    )


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def test_the_document_declares_both_key_schemes_on_every_operation_that_needs_a_key(
    served: Server,
) -> None:
    doc = httpx.get(served.base + "/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert {"type": "apiKey", "in": "header", "name": "X-API-Key"}.items() <= schemes[
        "ApiKey"
    ].items()
    assert {"type": "http", "scheme": "bearer"}.items() <= schemes["Bearer"].items()
    for method, path, op in operations(doc):
        if op["operationId"] in PUBLIC:
            assert "security" not in op, (method, path)
            continue
        assert {"ApiKey": []} in op["security"] and {"Bearer": []} in op["security"], path
        assert "401" in op["responses"], (method, path)


def test_every_operation_is_described_and_declares_its_errors_with_the_real_body(
    served: Server,
) -> None:
    doc = httpx.get(served.base + "/openapi.json").json()
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))
    error_ref = "#/components/schemas/ErrorOut"
    for method, path, op in operations(doc):
        where = f"{method} {path}"
        assert re.fullmatch(r"[a-z][a-z_]+", op["operationId"]), where
        assert op.get("description", "").strip(), f"{where} has no description"
        statuses = {int(s) for s in op["responses"] if s != "default"}
        errors = {s for s in statuses if s >= 400}
        assert errors <= {401, 403, 404, 409, 413, 422, 429, 503}, where
        for status in errors:
            content = op["responses"][str(status)]["content"]["application/json"]
            assert content["schema"] == {"$ref": error_ref}, (where, status)
            assert content["example"]["detail"], (where, status)
        if "requestBody" in op:
            assert {413, 422} <= errors, f"{where} takes a body: 413 and 422"
        if any(p["in"] == "query" for p in op.get("parameters", [])):
            assert 422 in errors, f"{where} takes query parameters: 422"
        if "{" in path and op["operationId"] not in PUBLIC:
            assert 404 in errors, f"{where} names a resource: 404"
        if op["operationId"] not in PUBLIC:
            # the key is read from the database: 429 past the failed-key limit, 503 in an outage
            assert {401, 429, 503} <= errors, f"{where} checks a key: 401, 429 and 503"
    assert "HTTPValidationError" not in json.dumps(doc), "FastAPI's 422 body is not Hookline's"
    error = doc["components"]["schemas"]["ErrorOut"]
    assert error["required"] == ["detail"] and set(error["properties"]) == {"detail", "errors"}
    item = doc["components"]["schemas"]["ErrorItem"]
    assert set(item["required"]) == {"field", "message"}
    # a few that are easy to get wrong
    by_id = {op["operationId"]: op for _, _, op in operations(doc)}
    assert "409" in by_id["replay_delivery"]["responses"]
    assert "409" in by_id["create_identity"]["responses"]
    assert "403" in by_id["create_api_key"]["responses"]
    assert "503" in by_id["readyz"]["responses"]
    assert "403" not in by_id["get_subscription"]["responses"], "agents get 404, not 403"


def _fields(schema: dict[str, Any]) -> dict[str, Any]:
    return dict(schema.get("properties", {}))


def _enum(prop: dict[str, Any]) -> list[str]:
    if "enum" in prop:
        return list(prop["enum"])
    for option in prop.get("anyOf", []):
        if "enum" in option:
            return list(option["enum"])
    raise AssertionError(f"no enum in {prop}")


def test_fields_are_described_and_enums_listed(served: Server) -> None:
    doc = httpx.get(served.base + "/openapi.json").json()
    schemas = doc["components"]["schemas"]
    undescribed = [
        f"{name}.{field}"
        for name, schema in schemas.items()
        for field, prop in _fields(schema).items()
        if not prop.get("description", "").strip()
    ]
    assert not undescribed, undescribed
    profiles = ["standard", "inkbox", "inbox", "inboxroad"]
    for name in ("SubscriptionCreate", "SubscriptionUpdate", "SubscriptionOut"):
        assert _enum(schemas[name]["properties"]["profile"]) == profiles, name
    assert _enum(schemas["DeliveryOut"]["properties"]["state"]) == [
        "pending",
        "delivering",
        "held",
        "succeeded",
        "failed",
        "cancelled",
    ]
    assert _enum(schemas["SubscriptionUpdate"]["properties"]["held"]) == ["send", "drop"]
    assert _enum(schemas["ApiKeyCreate"]["properties"]["scope"]) == ["admin", "agent"]
    assert _enum(schemas["ApiKeyOut"]["properties"]["scope"]) == ["admin", "agent"]
    types = schemas["SubscriptionCreate"]["properties"]["event_types"]["items"]["enum"]
    assert "message.delivered" in types and "phone.incoming_call" not in types
    for name, field in (("EventIn", "type"), ("EventIn", "data"), ("SubscriptionCreate", "url")):
        assert schemas[name]["properties"][field]["examples"], (name, field)
    example = doc["paths"]["/api/v1/events"]["post"]["responses"]["422"]["content"]
    assert example["application/json"]["example"]["errors"][0]["field"]


HEADERS = {
    "standard": {"webhook-id", "webhook-timestamp", "webhook-signature"},
    "inkbox": {"X-Inkbox-Request-ID", "X-Inkbox-Timestamp", "X-Inkbox-Signature"},
    "inbox": {"X-Inbox-Signature"},
    "inboxroad": {"X-Signature"},
}
BODIES = {
    "standard": {"id", "type", "timestamp", "data"},
    "inkbox": {"id", "event_type", "timestamp", "data"},
    "inbox": {"id", "type", "created_at", "data"},
    "inboxroad": {"kind", "timestamp", "message_id"},
}


def test_webhooks_describe_what_each_profile_sends(served: Server) -> None:
    doc = httpx.get(served.base + "/openapi.json").json()
    assert set(doc["webhooks"]) == set(HEADERS)
    for profile, item in doc["webhooks"].items():
        op = item["post"]
        assert op["description"].strip()
        headers = {p["name"] for p in op["parameters"] if p["in"] == "header"}
        assert headers == HEADERS[profile] | {"User-Agent", "Authorization"}, profile
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        body = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        assert set(body["properties"]) == BODIES[profile], profile
        assert set(body["required"]) == BODIES[profile], profile


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


def test_docs_load_only_hooklines_own_files(served: Server) -> None:
    page = httpx.get(served.base + "/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    links = _Links()
    links.feed(page.text)
    assert len(links.urls) == 3, links.urls  # the script, the style sheet, the icon
    want = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for url in links.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        resp = httpx.get(served.base + url)
        assert resp.status_code == 200, url
        assert resp.headers["content-type"].startswith(want[Path(url).suffix]), url
        assert len(resp.content) > 100, url
    script = next(url for url in links.urls if url.endswith(".js"))
    assert "SwaggerUIBundle" in httpx.get(served.base + script).text
    # the page's own script names no other host, and the document it loads is served here
    assert not re.findall(r"https?://", page.text), "the page names another host"
    assert "url: '/openapi.json'" in page.text
    assert httpx.get(served.base + "/openapi.json").status_code == 200
    assert httpx.get(served.base + "/redoc").status_code == 404, "ReDoc would load a CDN"


def test_the_root_sends_people_to_the_console(served: Server) -> None:
    resp = httpx.get(served.base + "/", follow_redirects=False)
    assert resp.status_code in (302, 307)
    assert resp.headers["location"] == "/console/"


#: operations whose rules JSON Schema cannot say, so a schema-valid request may still be
#: refused 422 (schemathesis's positive_data_acceptance expects no 422 otherwise): bodies
#: that name other resources (mailbox_id, agent_handle, ...), URLs (https, a host), rules
#: across fields (one owner, a webhook action needs its URL), times (not in the future)
BUSINESS_RULES = [
    "list_subscriptions",  # one owner filter at a time
    "create_subscription",
    "update_subscription",
    "update_mailbox",
    "update_phone_number",
    "create_api_key",
    "create_mailbox",
    "create_phone_number",
    "publish_event",
    "publish_events_batch",
    "recover_subscription",
    # until after since, since not in the future, types the subscription takes, enabled,
    # one replay at a time
    "replay_subscription",
    "inbox_create_webhook",
    "inbox_update_webhook",
    "test_subscription",  # only a type the subscription takes
    "list_deliveries",  # cursor or offset, not both; until after since; a cursor it gave
    "inbox_test_webhook",
    # the seeded subscription pushes: nothing to pull, acknowledge or release (409)
    "pull_deliveries",
    "ack_deliveries",
    "release_deliveries",
    "create_portal_link",  # exactly one owner, and one that exists
]
#: schemathesis's own list of statuses that reject schema-invalid data, and 413: too many
#: events in a batch is "too large" by design
REJECTED = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5xx"]


def _seed(server: Server) -> dict[str, str]:
    """One of everything, so paths with ids reach real resources."""

    def made(resp: httpx.Response) -> dict[str, Any]:
        assert resp.status_code in (200, 201, 202), resp.text
        body: dict[str, Any] = resp.json()
        return body

    made(server.api("POST", "/identities", json={"agent_handle": "seed-agent"}))
    mailbox = made(
        server.api(
            "POST",
            "/mail/mailboxes",
            json={"email_address": "seed@example.com", "agent_handle": "seed-agent"},
        )
    )
    phone = made(server.api("POST", "/phone/numbers", json={"number": "+15550001111"}))
    sub = made(
        server.api(
            "POST",
            "/webhooks/subscriptions",
            json={
                "url": "http://127.0.0.1:9/hook",
                "event_types": ["message.delivered"],
                "mailbox_id": mailbox["id"],
            },
        )
    )
    event = made(
        server.api(
            "POST",
            "/events",
            json={"type": "message.delivered", "mailbox": "seed@example.com", "data": {}},
        )
    )
    attempt = made(
        server.api(
            "POST",
            f"/webhooks/subscriptions/{sub['id']}/test",
            json={"event_type": "message.delivered"},
        )
    )
    key = made(
        server.api("POST", "/api-keys", json={"scope": "agent", "agent_handle": "seed-agent"})
    )
    webhook = made(
        server.client.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/inbox", "events": ["message.read"]}
        )
    )
    return {
        "subscription_id": sub["id"],
        "agent_handle": "seed-agent",
        "email_address": "seed@example.com",
        "number_id": phone["id"],
        "event_id": event["id"],
        "attempt_id": attempt["id"],
        "key_id": key["id"],
        "webhook_id": webhook["id"],
    }


def _config(ids: dict[str, str]) -> str:
    lines = []
    for name, value in ids.items():
        lines += [f"[dictionaries.{name}]", f"values = [{json.dumps(value)}]"]
    lines.append("[parameters]")
    for name in ids:
        # mostly the seeded resource, sometimes anything at all
        lines.append(f'"path.{name}" = {{ dictionary = "{name}", probability = 0.7 }}')
    lines.append('"body.webhook_id" = { dictionary = "webhook_id", probability = 0.7 }')
    lines += [
        "[[operations]]",
        f"include-operation-id = {json.dumps(BUSINESS_RULES)}",
        'checks.positive_data_acceptance.expected-statuses = ["2xx", 401, 403, 404, 409, 422]',
        "[[operations]]",
        'include-operation-id = "publish_events_batch"',
        f"checks.negative_data_rejection.expected-statuses = {json.dumps(REJECTED)}",
    ]
    return "\n".join(lines) + "\n"


# Schemathesis runs two workers of its own against the server: beside the other test
# processes it takes a few times as long as alone, hence its own timeouts
@pytest.mark.timeout(360)
def test_schemathesis_with_every_check_finds_nothing(served: Server, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(_seed(served)))
    st = Path(sys.executable).with_name("st")
    run = subprocess.run(
        [
            str(st),
            "--config-file",
            str(config),
            "run",
            served.base + "/openapi.json",
            "--header",
            f"X-API-Key: {ADMIN_KEY}",
            "--checks",
            "all",
            "--max-examples",
            "3",
            "--phases",
            "examples,coverage,fuzzing",
            "--workers",
            "2",
            "--seed",
            "1",
            "--generation-database",
            "none",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    out = run.stdout[-20_000:] + run.stderr[-5_000:]
    assert run.returncode == 0, out
    selected = re.search(r"Selected: (\d+)/(\d+)", out)
    assert selected and selected[1] == selected[2], out
    assert re.search(r"Tested: " + selected[1] + r"\b", out), out
