"""The Replenit client: one object for the sync and the commands, over the API's session
(lib/delivery/session.py: quota-exact pacing, retries, the stop flag), upserts (upserts.py: 400s
that cost one request, not a batch), deletes (deletes.py) and streamed upserts (stream.py)."""

import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpx

from replenit_pipelines.lib.delivery import batching
from replenit_pipelines.lib.delivery.config import ApiKey, ClientConfig, parse_limits
from replenit_pipelines.lib.delivery.deletes import DeleteOutcome, delete_one, delete_records
from replenit_pipelines.lib.delivery.errors import DeliveryConfigError
from replenit_pipelines.lib.delivery.quota import QuotaLimiter
from replenit_pipelines.lib.delivery.report import BatchProgress, DeleteReport, DeliveryReport
from replenit_pipelines.lib.delivery.session import Session
from replenit_pipelines.lib.delivery.stream import StreamReport, deliver_stream
from replenit_pipelines.lib.delivery.upserts import BeforeSend, deliver_planned
from replenit_pipelines.lib.settings import Settings

__all__ = ["BatchProgress", "DeleteOutcome", "ReplenitClient", "StreamReport", "client_from_env"]


class ReplenitClient:
    def __init__(self, config: ClientConfig, transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self.session = Session(config, transport, sleep)

    @property
    def quota(self) -> QuotaLimiter:
        """The key's quota limiter, which paces every request of this client."""
        return self.session.quota

    @quota.setter
    def quota(self, limiter: QuotaLimiter) -> None:  # a test's limiter on a fake clock
        self.session.quota = limiter

    def __repr__(self) -> str:
        return f"ReplenitClient(base_url={self.config.base_url!r}, tenant_id={self.config.tenant_id!r})"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "ReplenitClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- upserts ---------------------------------------------------------------------------------
    def deliver(self, entity: str, records: Sequence[dict[str, Any]], progress: Callable[[BatchProgress], None] | None = None) -> DeliveryReport:
        """Upsert payload records; see deliver_serialized."""
        return self.deliver_serialized(entity, batching.serialize(records), progress)

    def deliver_serialized(self, entity: str, parts: Sequence[bytes], progress: Callable[[BatchProgress], None] | None = None) -> DeliveryReport:
        """Upsert records given as one JSON document each. Every record ends accepted, rejected
        (with the API's reasons) or failed (retries ran out); a 401/403/404-tenant raises a
        ReplenitStopError after one request, with the partial report attached as `.report`."""
        return self.deliver_planned(entity, parts, self.plan(entity, parts), progress)

    def plan(self, entity: str, parts: Sequence[bytes]) -> list[list[int]]:
        """The request bodies for these records (lists of indices), full by this client's batch
        size for the entity unless the body limit cuts them short."""
        return list(batching.plan_batches(parts, self.config.batch_sizes[entity], self.config.max_body_bytes))

    def deliver_planned(self, entity: str, parts: Sequence[bytes], batches: list[list[int]],
                        progress: Callable[[BatchProgress], None] | None = None,
                        on_accepted: Callable[[list[int]], None] | None = None,
                        before_send: BeforeSend | None = None) -> DeliveryReport:
        """Send planned batches (see plan and upserts.deliver_planned: `on_accepted` runs after each 200,
        `before_send` right before each request, after its quota wait)."""
        return deliver_planned(self.session, entity, parts, batches, progress, on_accepted, before_send)

    def deliver_stream(self, entity: str, parts: Iterable[tuple[int, bytes]], progress: Callable[[BatchProgress], None] | None = None,
                       on_batch: Callable[[dict[int, bytes], DeliveryReport], None] | None = None,
                       records_total: int | None = None) -> StreamReport:
        """Upsert records read from an iterator of (index, serialized record); see stream.deliver_stream."""
        return deliver_stream(self.session, entity, parts, progress, on_batch, records_total)

    # --- deletes ----------------------------------------------------------------------------------
    def delete_customer(self, customer_id: str) -> DeleteOutcome:
        return delete_one(self.session, self.session.path("customers", self.config.tenant_id, customer_id))

    def delete_order(self, order_id: str) -> DeleteOutcome:
        return delete_one(self.session, self.session.path("orders", self.config.tenant_id, order_id))

    def delete_order_item(self, order_id: str, product_id: str) -> DeleteOutcome:
        return delete_one(self.session, self.session.path("orders", self.config.tenant_id, order_id, "items"), {"productId": product_id})

    def delete_product(self, product_id: str) -> DeleteOutcome:
        return delete_one(self.session, self.session.path("products", self.config.tenant_id, product_id))

    def delete_variant(self, product_id: str, variant_id: str) -> DeleteOutcome:
        return delete_one(self.session, self.session.path("products", self.config.tenant_id, product_id, "variants", variant_id))

    def delete_records(self, entity: str, api_ids: Sequence[str], progress: Callable[[BatchProgress], None] | None = None,
                       on_done: Callable[[int], None] | None = None) -> DeleteReport:
        """Delete whole records, one DELETE each; see deletes.delete_records."""
        return delete_records(self.session, entity, api_ids, progress, on_done)


def client_from_env(limits: Iterable[tuple[int, float]] | None = None, settings: "Settings | None" = None,
                    **overrides: Any) -> ReplenitClient:
    """A client from the settings (REPLENIT_BASE_URL, REPLENIT_TENANT_ID; the quota folder in
    REPLENIT_STATE_DIR) and REPLENIT_API_KEY, which is read here and kept nowhere else."""
    settings = settings or Settings.from_env()
    missing = [f"{name} ({what})" for name, what, ok in (
        ("REPLENIT_BASE_URL", "the Replenit API address", settings.base_url_set),
        ("REPLENIT_TENANT_ID", "your tenant id", settings.tenant_id),
        ("REPLENIT_API_KEY", "your API key", os.environ.get("REPLENIT_API_KEY"))) if not ok]
    if missing:
        raise DeliveryConfigError(f"set {', '.join(missing)}")
    kwargs: dict[str, Any] = {"quota_dir": str(settings.quota_dir), **overrides}
    if limits is None and settings.limits:
        # The key's quota as the user set it, for every client built here (push and replay too), not
        # only for the commands that read it themselves: the documented one would overrun a smaller one.
        limits = parse_limits(settings.limits)
    if limits is not None:
        kwargs["limits"] = tuple(limits)
    return ReplenitClient(ClientConfig(
        base_url=settings.base_url, tenant_id=settings.tenant_id or "", api_key=ApiKey(os.environ["REPLENIT_API_KEY"]), **kwargs,
    ))
