"""A Flask endpoint that accepts only authentic Hookline webhooks.

Run: HOOKLINE_WEBHOOK_SECRET=... flask --app flask_receiver run --port 3000
"""

import os
from typing import Any

from flask import Flask, request

import hookline_sdk

SECRET = os.environ["HOOKLINE_WEBHOOK_SECRET"]
PROFILE = os.environ.get("HOOKLINE_WEBHOOK_PROFILE", "standard")

app = Flask(__name__)


@app.post("/webhooks/hookline")
def receive() -> tuple[dict[str, Any], int]:
    body = request.get_data()  # the raw bytes, exactly as signed
    try:
        event = hookline_sdk.verify(PROFILE, SECRET, body, request.headers)
    except hookline_sdk.WebhookVerificationError as exc:
        return {"detail": str(exc)}, 400
    # Answer quickly: do slow work elsewhere. A repeat of event["id"] is a retry.
    return {"received": event.get("id")}, 200
