"""The HTTP API: FastAPI routers, request/response schemas, error mapping."""

from hookline.api.app import create_app

__all__ = ["create_app"]
