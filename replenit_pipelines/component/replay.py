"""The replay job: re-send an entity's queued records (rejected, failed, needing attention) after
a fix, as `replenit replay` does (lib/stages/retry.py with replay=True)."""

import uuid
from contextlib import closing
from typing import Literal

import dagster as dg
from pydantic import Field

from replenit_pipelines.component.failures import api_stop, config_error, failure
from replenit_pipelines.component.jobs import executor
from replenit_pipelines.component.quota import mark_dry_run
from replenit_pipelines.component.resources import instance_resources, required_keys
from replenit_pipelines.component.site import SyncSite
from replenit_pipelines.lib.delivery.report import plural
from replenit_pipelines.lib.stages.retry import REPLAY_STATUSES, check_queued, retry


class ReplayConfig(dg.Config):
    """Which queued records to re-send (`replenit state --retries ENTITY` lists them)."""

    entity: Literal["customers", "orders", "products"] = Field(description="The entity whose queued records to re-send.")
    status: Literal["all", "failed", "needs_attention", "rejected"] = Field(
        "all", description="Which queued records: all, failed (retries ran out), needs_attention (failed too often, waiting "
                           "for a person) or rejected (the API refused their content).")
    identities: list[str] = Field([], description="Only these identities, as the queue shows them (e.g. customerid:C42); "
                                                  "empty: every queued record of the status.")
    dry_run: bool = Field(False, description="Say what would be re-sent; send nothing, change nothing.")


def build_replay_job(site: SyncSite, keys: dict[str, dg.AssetKey]) -> dg.JobDefinition:
    """The instance's replay job; one replay of the tenant at a time (its own pool), its requests in the
    quota's bulk lane: the key's fresh syncs go first."""

    @dg.op(name=site.names.name("replay_queued_records"), pool=site.maintenance_pool("replay"),
           required_resource_keys=required_keys(site, "replenit", "state"), description="Re-send queued records of one entity from the ledger's retry queue, after a fix.")
    def replay_queued_records(context: dg.OpExecutionContext, config: ReplayConfig) -> None:
        replenit, _, state = instance_resources(context, site)
        if config.entity not in site.entities:
            raise config_error(f"entity {config.entity!r} is not one of {', '.join(site.entities)} (the entities this "
                               "component syncs)")
        if config.status not in REPLAY_STATUSES:
            raise config_error(f"status {config.status!r} is not one of {', '.join(REPLAY_STATUSES)}")
        if config.dry_run:
            mark_dry_run(context)
        with replenit.client() as client, closing(state.ledger(client, config.entity)) as ledger:
            if config.identities:
                try:
                    check_queued(ledger, config.entity, config.identities, config.status, ("identities", "status"))
                except ValueError as exc:
                    raise config_error(str(exc)) from None
            outcome, stop = retry(ledger, client, context.run_id or str(uuid.uuid4()), None, replay=True,
                                  statuses=REPLAY_STATUSES[config.status], identities=config.identities or None,
                                  dry_run=config.dry_run)
        counts = outcome.counts()
        what = f"replay {config.entity} ({config.status})" + (" (dry run)" if config.dry_run else "")
        text = (f"{what}: {plural(int(counts.get('records_retried', 0)), 'queued record')} "
                + ("would be re-sent" if config.dry_run else f"re-sent, {int(counts.get('records_retry_accepted', 0)):,} accepted"))
        context.log.info(text)
        # No int or float values: Dagster plots every number of an observation beside the materializations'.
        context.log_event(dg.AssetObservation(asset_key=keys[config.entity], description=text,
                                              metadata={"replay": dg.MetadataValue.json(counts)}))
        if stop is not None:
            raise api_stop(what, stop, None, config.entity, None) from None
        bad = counts["records_retry_rejected"] + counts["records_retry_failed"]
        if bad:
            raise failure(f"{what}: {plural(bad, 'record was', 'records were')} refused again; they stay queued "
                          f"(replenit state --retries {config.entity}).", "not_delivered")

    @dg.job(name=site.names.name("replay_queued"), executor_def=executor(),
            description="Re-send an entity's queued records (rejected, failed, needing attention) after a fix; dry_run says "
                        "what would be re-sent.")
    def replay_queued() -> None:
        replay_queued_records()

    return replay_queued
