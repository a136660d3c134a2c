"""One settings object, read from ``HOOKLINE_*`` variables. Built in ``main``, passed down."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hookline.core.errors import ValidationFailed
from hookline.core.profiles import PROFILES
from hookline.core.retry import DEFAULT_SCHEDULE_S, parse_schedule, validate_schedule

DEFAULT_DATABASE_URL = "sqlite:///./hookline.db"


class SettingError(ValueError):
    """A setting refused for what another one says; ``setting`` names the one to change."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


class Settings(BaseSettings):
    """Every setting of DESIGN.md under its name, plus a few of Hookline's own."""

    model_config = SettingsConfigDict(env_prefix="HOOKLINE_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    admin_key: str | None = None
    secret_key: str | None = None
    #: old master keys, comma-separated, accepted for opening secrets only (a key rotation)
    previous_secret_keys: Annotated[tuple[str, ...], NoDecode] = ()
    default_profile: str = "standard"
    retry_schedule: Annotated[tuple[int, ...], NoDecode] = DEFAULT_SCHEDULE_S
    delivery_timeout_s: float = Field(10.0, gt=0, le=300)
    allow_http: bool = False
    allowed_networks: Annotated[
        tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...], NoDecode
    ] = ()
    disable_after_s: int = Field(432_000, gt=0)
    #: final events, deliveries and attempts older than this are pruned by the worker (0: kept)
    retention_days: int = Field(30, ge=0, le=36_500)
    incoming_call_timeout_s: float = Field(5.0, gt=0, le=60)
    incoming_call_fallback: Literal["answer", "reject", "forward"] = "reject"

    # Hookline's own knobs
    max_body_bytes: int = Field(1_048_576, ge=1024)
    response_body_cap_bytes: int = Field(4096, ge=0, le=1_048_576)
    max_in_flight: int = Field(256, ge=1, le=10_000)
    #: PostgreSQL connections each process keeps (as many again may open under load)
    database_pool_size: int = Field(10, ge=1, le=500)
    max_in_flight_per_subscription: int = Field(16, ge=1, le=1000)
    poll_interval_s: float = Field(1.0, gt=0, le=60)
    #: deliveries a bulk replay re-queues per transaction (services/tasks.py)
    replay_batch: int = Field(200, ge=1, le=10_000)
    #: how long a worker holds a bulk replay between two batches: a dead worker's replay is
    #: carried on by another this long after its last batch
    replay_lease_s: float = Field(30.0, ge=1, le=3600)
    #: how long a pull subscription's consumer holds what it pulled before it falls due again
    pull_lease_s: float = Field(60.0, ge=1, le=3600)
    #: longest a client may take to send a request's line and headers
    header_timeout_s: float = Field(10.0, gt=0, le=300)
    #: how long an idle kept-alive connection stays open; longer than clients' and proxies' own
    #: idle timeouts, so that they close first (docs/perf/2026-12-07-connection-resets.md)
    keep_alive_timeout_s: int = Field(75, ge=1, le=3600)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: ``text`` lines, or ``json``: one object a line, with the ids of what each is about
    log_format: Literal["text", "json"] = "text"
    #: how often ``serve`` and ``worker`` log their summary and refresh the delivery gauges
    log_summary_interval_s: float = Field(60.0, gt=0, le=86_400)
    #: a console session ends after this long unused, and this long after sign-in at most
    console_session_idle_s: int = Field(1800, ge=1, le=30 * 86400)
    console_session_max_s: int = Field(43_200, ge=1, le=90 * 86400)
    #: failed console sign-ins an account may have in a quarter hour (an address: 4 times it)
    console_sign_in_limit: int = Field(5, ge=1, le=1000)
    #: requests with a wrong key one client address may make at once, refilled over a minute
    auth_failures_per_minute: int = Field(20, ge=1, le=1_000_000)
    #: origins (``https://app.example.com``) whose pages may show portal pages in an iframe
    portal_frame_ancestors: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("default_profile")
    @classmethod
    def _profile(cls, v: str) -> str:
        if v not in PROFILES:
            raise ValueError(f"must be one of {', '.join(PROFILES)}")
        return v

    @field_validator("retry_schedule", mode="before")
    @classmethod
    def _schedule(cls, v: object) -> object:
        try:
            if isinstance(v, str):
                return parse_schedule(v)
            if isinstance(v, list | tuple):
                return validate_schedule(list(v))
        except ValidationFailed as exc:
            raise ValueError(exc.reason) from exc
        return v

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _networks(cls, v: object) -> object:
        if isinstance(v, str):
            return tuple(
                ipaddress.ip_network(p.strip(), strict=False) for p in v.split(",") if p.strip()
            )
        return v

    @field_validator("portal_frame_ancestors", mode="before")
    @classmethod
    def _frame_ancestors(cls, v: object) -> object:
        origins = tuple(p.strip() for p in v.split(",") if p.strip()) if isinstance(v, str) else v
        for origin in origins if isinstance(origins, tuple) else ():
            # written into a CSP header: an origin only, nothing that could end the directive
            if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:*]+", str(origin)):
                raise ValueError(f"{origin!r} is not an origin such as https://app.example.com")
        return origins

    @field_validator("secret_key", mode="before")
    @classmethod
    def _secret_key(cls, v: object) -> object:
        # set but empty is unset: the embedded database's key file
        return None if v == "" else v

    @field_validator("previous_secret_keys", mode="before")
    @classmethod
    def _previous_keys(cls, v: object) -> object:
        if isinstance(v, str):
            return tuple(p.strip() for p in v.split(",") if p.strip())
        return v

    @field_validator("database_url")
    @classmethod
    def _url(cls, v: str) -> str:
        scheme = v.split(":", 1)[0].split("+", 1)[0]
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return v

    @field_validator("secret_key", "admin_key")
    @classmethod
    def _long_enough(cls, v: str | None) -> str | None:
        if v is not None and len(v) < 16:
            raise ValueError("must be at least 16 characters")
        return v

    @model_validator(mode="after")
    def _safe(self) -> Settings:
        if any(len(k) < 16 for k in self.previous_secret_keys):
            raise SettingError("previous_secret_keys", "each key must be at least 16 characters")
        if not self.is_sqlite and self.secret_key is None:
            raise SettingError("secret_key", "is required with PostgreSQL")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of an embedded database (None in memory or on PostgreSQL)."""
        if not self.is_sqlite:
            return None
        path = self.database_url.split("///", 1)[-1]
        return None if path in ("", ":memory:") else Path(path)
