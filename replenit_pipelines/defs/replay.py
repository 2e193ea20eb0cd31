"""The replay job: re-send an entity's queued records (rejected, failed, needing attention) after
a fix, as `replenit replay` does (lib/stages/retry.py with replay=True)."""

import uuid
from contextlib import closing

import dagster as dg

from replenit_pipelines.defs import settings
from replenit_pipelines.defs.resources import ReplenitResource, StateStoreResource
from replenit_pipelines.lib.contract.entities import ENTITIES
from replenit_pipelines.lib.stages.retry import REPLAY_STATUSES, retry


class ReplayConfig(dg.Config):
    """Which queued records to re-send (`replenit state --retries ENTITY` lists them)."""

    entity: str  # customers, orders or products
    status: str = "all"  # all, failed, needs_attention or rejected
    identities: list[str] = []  # only these identities (as the queue shows them); empty: every one of the status
    dry_run: bool = False  # say what would be re-sent; send nothing, change nothing


def build_replay_job() -> dg.JobDefinition:
    """Built as the definitions load (not at import): the op's pool is the key's as the settings say now."""

    # In the key's pool, as the sync assets: its requests share the key's quota with them.
    @dg.op(description="Re-send queued records of one entity from the ledger's retry queue, after a fix.",
           pool=settings.current().pool_name)
    def replay_queued_records(context: dg.OpExecutionContext, config: ReplayConfig, replenit: ReplenitResource,
                              state: StateStoreResource) -> None:
        if config.entity not in ENTITIES:
            raise dg.Failure(f"run config: entity {config.entity!r} is not one of {', '.join(ENTITIES)}")
        if config.status not in REPLAY_STATUSES:
            raise dg.Failure(f"run config: status {config.status!r} is not one of {', '.join(REPLAY_STATUSES)}")
        with replenit.client() as client, closing(state.ledger(client, config.entity)) as ledger:
            outcome, stop = retry(ledger, client, context.run_id or str(uuid.uuid4()), None, replay=True,
                                  statuses=REPLAY_STATUSES[config.status], identities=config.identities or None,
                                  dry_run=config.dry_run)
        counts = outcome.counts()
        context.log.info(f"replay {config.entity} ({config.status}): {counts}")
        context.log_event(dg.AssetObservation(asset_key=dg.AssetKey(["replenit", config.entity]),
                                              metadata={f"replay_{k}": v for k, v in counts.items()}))
        if stop is not None:
            raise dg.Failure(f"replay stopped: {stop}")
        bad = counts["records_retry_rejected"] + counts["records_retry_failed"]
        if bad:
            raise dg.Failure(f"{bad} replayed {config.entity} records were refused again; they stay queued "
                             f"(replenit state --retries {config.entity})")

    @dg.job(description="Re-send queued records of an entity after a fix (run config: entity, status, identities, dry_run).")
    def replay_queued() -> None:
        replay_queued_records()

    return replay_queued


@dg.definitions
def replay() -> dg.Definitions:
    return dg.Definitions(jobs=[build_replay_job()])
