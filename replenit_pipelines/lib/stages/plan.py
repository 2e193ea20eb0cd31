"""The plan stage: the diff's records to send (serialized once, by the diff stage, with
lib/contract/payload.py), cut into request bodies full by the entity's batch size unless the body
limit cuts them short (lib/delivery/batching.py)."""

from dataclasses import dataclass

from replenit_pipelines.lib.delivery import ReplenitClient
from replenit_pipelines.lib.stages.diff import Diff
from replenit_pipelines.lib.validation.prepare import Prepared


@dataclass(frozen=True)
class Plan:
    entity: str
    parts: list[bytes]  # one JSON document per record of the diff's to_send, in order
    batches: list[list[int]]  # indices into parts, one list per request


def plan(prepared: Prepared, changes: Diff, client: ReplenitClient) -> Plan:
    return Plan(prepared.entity, changes.parts, client.plan(prepared.entity, changes.parts))
