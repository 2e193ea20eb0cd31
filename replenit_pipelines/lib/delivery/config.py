"""Client configuration, checked before any request is made."""

import ipaddress
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from replenit_pipelines.lib.contract.api import DOCUMENTED_LIMITS, MAX_BODY_BYTES, Window, parse_limits
from replenit_pipelines.lib.contract.entities import ENTITIES
from replenit_pipelines.lib.delivery.errors import DeliveryConfigError
from replenit_pipelines.lib.delivery.quota import LANES, Lane
from replenit_pipelines.lib.privacy import Secret

__all__ = ["BULK_BATCH_SIZES", "DEFAULT_BATCH_SIZES", "batch_sizes_for", "DOCUMENTED_LIMITS", "MAX_BODY_BYTES", "ApiKey", "ClientConfig", "Window", "check_batch_size", "parse_limits"]

# The contract's recommended batch per entity; a config may lower one, never pass its hard maximum.
DEFAULT_BATCH_SIZES = {name: spec.recommended_batch for name, spec in ENTITIES.items()}
# Bulk work (a reconciliation or first load, `replenit push`) sends at the API's hard maximum: it is
# bounded by the quota (5,000 requests an hour), not by latency, so twice the records a request is
# about half the hours; a body over 5 MB is still split (and a 413 halves the batch). A partitioned
# sync keeps the recommended sizes: small windows, and smaller requests to re-send on a failure.
BULK_BATCH_SIZES = {name: spec.hard_max for name, spec in ENTITIES.items()}


def batch_sizes_for(entity: str, size: int | None, bulk: bool) -> dict[str, int]:
    """The batch sizes a run asks of its client (ClientConfig.batch_sizes overrides): a size someone
    set wins; else bulk work takes the hard maximum; else nothing (the recommended size)."""
    if size is not None:
        return {entity: size}
    return {entity: BULK_BATCH_SIZES[entity]} if bulk else {}


def check_batch_size(size: int | None, setting: str) -> None:
    """A batch size someone set (`setting` names where: a run config, a flag): at least 1. The
    API's hard maximum caps it later (ClientConfig), so a larger one is not an error."""
    if size is not None and size < 1:
        raise DeliveryConfigError(f"{setting} must be at least 1, not {size}")


class ApiKey(Secret):
    """An API key that never shows itself: not in repr, str, logs or tracebacks."""

    __slots__ = ()

    def __init__(self, value: str, variable: str = "REPLENIT_API_KEY"):
        # `variable`: the environment variable the key came from, named in what to fix (a Dagster
        # component's tenant names its own, `key_env`).
        if not value or not value.strip():
            raise DeliveryConfigError(
                f"the Replenit API key is empty: set {variable} to the key from your Replenit account"
            )
        stripped = value.strip()
        if not all("!" <= ch <= "~" for ch in stripped):
            # An HTTP header carries visible ASCII only: a newline, a space or a curly quote pasted
            # with the key would fail every request. The key itself is never echoed.
            raise DeliveryConfigError(
                "the Replenit API key holds a character an HTTP header cannot carry (a line break, a space, "
                f"a curly quote or other non-ASCII character): set {variable} to the key exactly as "
                "your Replenit account shows it"
            )
        super().__init__(stripped)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryConfigError(f"base URL {base_url!r} is not an http(s) URL, e.g. https://api.replen.it")
    if parts.scheme != "https" and not is_loopback(parts.hostname):
        raise DeliveryConfigError(
            f"base URL {base_url!r} must use https (plain http is allowed only for a loopback sandbox)"
        )
    return base_url.rstrip("/")


def check_tenant_id(tenant_id: str, variable: str = "REPLENIT_TENANT_ID") -> str:
    try:
        return str(uuid.UUID(str(tenant_id).strip()))
    except ValueError:
        raise DeliveryConfigError(
            f"tenant id {tenant_id!r} is not a GUID: set {variable} to your tenant's id, "
            "e.g. 0f8fad5b-d9cb-469f-a165-70867728950e"
        ) from None


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    tenant_id: str
    api_key: ApiKey
    limits: tuple[Window, ...] = DOCUMENTED_LIMITS
    batch_sizes: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_BATCH_SIZES))
    max_body_bytes: int = MAX_BODY_BYTES
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    max_attempts: int = 5  # per request, for 5xx, timeouts and dropped connections
    max_rate_limited: int = 50  # 429s one request may meet before it is given up
    # Batches in a row whose every attempt failed to connect or timed out before the delivery stops
    # (the first batch of a delivery stops it alone when nothing has answered yet); batches in a
    # row whose retries ran out on 5xx answers stop it after the same count (a 5xx storm).
    max_unreachable_batches: int = 3
    progress_every_s: float = 2.0  # a progress event at least this often while batches are in flight
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 16.0
    max_in_flight: int = 4
    gzip: bool = False
    quota_dir: str | None = None  # where the per-key quota ledger lives; None: ~/.cache
    seed: int | None = None  # jitter seed, for reproducible tests
    # The quota lane of every request (lib/delivery/quota.py): `fresh` for the partitioned syncs, the
    # intraday customers and sensors; `bulk` (the default) for reconciliation, backfills, replay,
    # deletes and push, which take what fresh leaves.
    lane: Lane = "bulk"
    # The environment variables the tenant id and the key came from, named in every error that says
    # what to fix (a Dagster component's tenant names its own: `id_env`, `key_env`).
    tenant_id_env: str = "REPLENIT_TENANT_ID"
    api_key_env: str = "REPLENIT_API_KEY"

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", check_base_url(self.base_url))
        object.__setattr__(self, "tenant_id", check_tenant_id(self.tenant_id, self.tenant_id_env))
        if not isinstance(self.api_key, ApiKey):
            object.__setattr__(self, "api_key", ApiKey(self.api_key, self.api_key_env))
        sizes = dict(DEFAULT_BATCH_SIZES)
        for entity, size in self.batch_sizes.items():
            if entity not in ENTITIES:
                raise DeliveryConfigError(f"batch size for unknown entity {entity!r}")
            check_batch_size(size, f"batch size for {entity}")
            sizes[entity] = min(size, ENTITIES[entity].hard_max)  # the API's hard maximum caps it
        object.__setattr__(self, "batch_sizes", sizes)
        if not 0 < self.max_body_bytes <= MAX_BODY_BYTES:
            raise DeliveryConfigError(f"max_body_bytes must be between 1 and {MAX_BODY_BYTES}")
        if self.max_attempts < 1 or self.max_in_flight < 1:
            raise DeliveryConfigError("max_attempts and max_in_flight must be at least 1")
        if self.lane not in LANES:
            raise DeliveryConfigError(f"quota lane {self.lane!r}: expected one of {', '.join(LANES)}")
        for n, s in self.limits:
            if n < 1 or s <= 0:
                raise DeliveryConfigError(f"rate-limit window {n}/{s} must be positive")
