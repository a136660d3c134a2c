"""A FastAPI endpoint that accepts only authentic Hookline webhooks.

Run: HOOKLINE_WEBHOOK_SECRET=whsec_... uvicorn fastapi_receiver:app --port 3000
"""

import os
from typing import Any

from fastapi import FastAPI, HTTPException, Request

import hookline_sdk

SECRET = os.environ["HOOKLINE_WEBHOOK_SECRET"]
PROFILE = os.environ.get("HOOKLINE_WEBHOOK_PROFILE", "standard")

app = FastAPI()


@app.post("/webhooks/hookline")
async def receive(request: Request) -> dict[str, Any]:
    body = await request.body()  # the raw bytes, exactly as signed
    try:
        event = hookline_sdk.verify(PROFILE, SECRET, body, request.headers)
    except hookline_sdk.WebhookVerificationError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    # Answer quickly: do slow work elsewhere. A repeat of event["id"] is a retry.
    return {"received": event.get("id")}
