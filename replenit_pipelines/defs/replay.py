"""The replay job: re-send an entity's queued records (rejected, failed, needing attention) after
a fix, as `replenit replay` does (lib/stages/retry.py with replay=True)."""

import uuid
from contextlib import closing
from typing import Literal

import dagster as dg
from pydantic import Field

from replenit_pipelines.defs import settings
from replenit_pipelines.defs.failures import api_stop, config_error, failure
from replenit_pipelines.defs.quota import mark_dry_run
from replenit_pipelines.defs.resources import ReplenitResource, StateStoreResource
from replenit_pipelines.lib.contract.entities import ENTITIES
from replenit_pipelines.lib.delivery.report import plural
from replenit_pipelines.lib.stages.retry import REPLAY_STATUSES, retry


class ReplayConfig(dg.Config):
    """Which queued records to re-send (`replenit state --retries ENTITY` lists them)."""

    entity: Literal["customers", "orders", "products"] = Field(description="The entity whose queued records to re-send.")
    status: Literal["all", "failed", "needs_attention", "rejected"] = Field(
        "all", description="Which queued records: all, failed (retries ran out), needs_attention (failed too often, waiting "
                           "for a person) or rejected (the API refused their content).")
    identities: list[str] = Field([], description="Only these identities, as the queue shows them (e.g. customerid:C42); "
                                                  "empty: every queued record of the status.")
    dry_run: bool = Field(False, description="Say what would be re-sent; send nothing, change nothing.")


def build_replay_job() -> dg.JobDefinition:
    """Built as the definitions load (not at import): the op's pool is the key's as the settings say now."""

    # In the key's pool, as the sync assets: its requests share the key's quota with them.
    @dg.op(description="Re-send queued records of one entity from the ledger's retry queue, after a fix.",
           pool=settings.current().pool_name)
    def replay_queued_records(context: dg.OpExecutionContext, config: ReplayConfig, replenit: ReplenitResource,
                              state: StateStoreResource) -> None:
        if config.entity not in ENTITIES:
            raise config_error(f"entity {config.entity!r} is not one of {', '.join(ENTITIES)}")
        if config.status not in REPLAY_STATUSES:
            raise config_error(f"status {config.status!r} is not one of {', '.join(REPLAY_STATUSES)}")
        if config.dry_run:
            mark_dry_run(context)
        with replenit.client() as client, closing(state.ledger(client, config.entity)) as ledger:
            outcome, stop = retry(ledger, client, context.run_id or str(uuid.uuid4()), None, replay=True,
                                  statuses=REPLAY_STATUSES[config.status], identities=config.identities or None,
                                  dry_run=config.dry_run)
        counts = outcome.counts()
        what = f"replay {config.entity} ({config.status})" + (" (dry run)" if config.dry_run else "")
        text = (f"{what}: {plural(int(counts.get('records_retried', 0)), 'queued record')} "
                + ("would be re-sent" if config.dry_run else f"re-sent, {int(counts.get('records_retry_accepted', 0)):,} accepted"))
        context.log.info(text)
        # No int or float values: Dagster plots every number of an observation beside the materializations'.
        context.log_event(dg.AssetObservation(asset_key=dg.AssetKey(["replenit", config.entity]), description=text,
                                              metadata={"replay": dg.MetadataValue.json(counts)}))
        if stop is not None:
            raise api_stop(what, stop, None, config.entity, None) from None
        bad = counts["records_retry_rejected"] + counts["records_retry_failed"]
        if bad:
            raise failure(f"{what}: {plural(bad, 'record was', 'records were')} refused again; they stay queued "
                          f"(replenit state --retries {config.entity}).", "not_delivered")

    @dg.job(description="Re-send an entity's queued records (rejected, failed, needing attention) after a fix; dry_run says "
                        "what would be re-sent.")
    def replay_queued() -> None:
        replay_queued_records()

    return replay_queued


@dg.definitions
def replay() -> dg.Definitions:
    return dg.Definitions(jobs=[build_replay_job()])
