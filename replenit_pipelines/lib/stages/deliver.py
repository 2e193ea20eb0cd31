"""The deliver stage: the planned requests, paced by the key's quota and retried
(lib/delivery/client.py). Every record ends accepted, rejected or failed; `on_accepted` (the
acknowledge stage's) records each accepted batch in the ledger as it comes."""

from collections.abc import Callable

from replenit_pipelines.lib.delivery import BatchProgress, DeliveryReport, ReplenitClient, ReplenitStopError
from replenit_pipelines.lib.delivery.upserts import BeforeSend
from replenit_pipelines.lib.stages.plan import Plan


def deliver(
    client: ReplenitClient, planned: Plan, progress: Callable[[BatchProgress], None] | None = None,
    on_accepted: Callable[[list[int]], None] | None = None, before_send: BeforeSend | None = None,
) -> tuple[DeliveryReport | None, ReplenitStopError | None]:
    """(report, None), or (the partial report, the error) when the API refused the key or tenant:
    the caller records what happened before it raises. `before_send`: the send-time check
    (lib/stages/acknowledge.py send_check), right before each request."""
    if not planned.parts:
        return None, None
    try:
        return client.deliver_planned(planned.entity, planned.parts, planned.batches, progress, on_accepted, before_send), None
    except ReplenitStopError as exc:
        return (exc.report if isinstance(exc.report, DeliveryReport) else None), exc
