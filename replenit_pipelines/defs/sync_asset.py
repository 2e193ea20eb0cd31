"""The one shape every entity's sync asset has: thin Dagster wiring around lib.sync.sync_window."""

import statistics
import time

import dagster as dg

from replenit_pipelines.defs import settings
from replenit_pipelines.defs.monitoring import record_run_worker
from replenit_pipelines.defs.resources import ReplenitResource, StateStoreResource, WarehouseResource
from replenit_pipelines.defs.sources import source_key
from replenit_pipelines.lib.delivery import BatchProgress
from replenit_pipelines.lib.sync import GatePolicy, SyncRequest, SyncResult, sync_window
from replenit_pipelines.lib.warehouse import EntityMapping, FieldMapping, load_mapping

PROGRESS_EVERY_S = 2.0
ROW_COUNT_HISTORY = 7
ROW_COUNT_FACTOR = 3.0  # "far from" the recent median: more than 3x above or below it


class SyncConfig(dg.Config):
    """The quarantine gate (lib/sync/gate.py; docs/operating.md says when it trips)."""

    gate: str = "baseline"  # "baseline": abnormal for the entity; "fixed": above max_quarantine_share
    min_quarantined_rows: int = 20  # either mode: fewer quarantined rows never hold a window back
    ceiling_share: float = 0.5  # baseline: above this share, always held back
    baseline_runs: int = 14  # baseline: the entity's last N runs that were not held back
    baseline_factor: float = 3.0  # baseline: held back above factor x baseline ...
    baseline_margin: float = 0.05  # ... and above baseline + margin
    max_quarantine_share: float = 0.05  # fixed: held back above this share

    def policy(self) -> GatePolicy:
        try:
            return GatePolicy(mode=self.gate, min_quarantined_rows=self.min_quarantined_rows,  # type: ignore[arg-type]
                              ceiling_share=self.ceiling_share, baseline_runs=self.baseline_runs,
                              baseline_factor=self.baseline_factor, baseline_margin=self.baseline_margin,
                              max_quarantine_share=self.max_quarantine_share)
        except ValueError as exc:
            raise dg.Failure(f"run config: {exc}") from None


def _md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _lineage(mapping: EntityMapping) -> dg.TableColumnLineage:
    src = source_key(mapping)
    deps = {}
    for f in mapping.all_fields:
        cols = sorted(f.source_columns())
        if cols:
            deps[f.target] = [dg.TableColumnDep(asset_key=src, column_name=c) for c in cols]
    return dg.TableColumnLineage(deps_by_column=deps)




def _origin(f: FieldMapping) -> str:
    """Where an API field comes from, in the mapping's words."""
    if f.column is not None:
        text = f"column {f.column}"
    elif f.expr is not None:
        text = f"expr {f.expr}"
    else:
        text = f"constant {f.constant!r}"
    if f.cast:
        text += f", cast {f.cast}"
    if f.default is not None:
        text += f", default {f.default!r}"
    return text


def _schema(result: SyncResult, mapping: EntityMapping) -> dg.TableSchema:
    frame = result.prepared.records
    origins = {f.target: _origin(f) for f in mapping.fields}
    child = mapping.spec.children_field
    if child is not None:
        origins[child.name] = "; ".join(f"{f.target.split('.', 1)[1]} <- {_origin(f)}" for f in mapping.children)
    return dg.TableSchema(columns=[
        dg.TableColumn(c, str(frame.schema[c]), description=origins.get(c) or mapping.spec.derived.get(c))
        for c in frame.columns if not c.startswith("__")
    ])


def _metadata(result: SyncResult, mapping: EntityMapping) -> dict:
    reasons = result.prepared.top_reasons(10)
    md = _md_table(["rule", "field", "rows", "example"], [list(r) for r in reasons.iter_rows()]) if reasons.height else "No quarantined rows."
    return {
        **result.counts(),
        "dagster/row_count": result.prepared.rows_read,
        "window": f"{result.window_start.isoformat()} .. {result.window_end.isoformat()}",
        "top_quarantine_reasons": dg.MetadataValue.md(md),
        "normalization": dg.MetadataValue.json(result.prepared.normalization),
        "dagster/column_schema": _schema(result, mapping),
        "dagster/column_lineage": _lineage(mapping),
    }


def _row_count_check(context: dg.AssetExecutionContext, key: dg.AssetKey, rows: int) -> dg.AssetCheckResult:
    records = context.instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=ROW_COUNT_HISTORY).records
    history = []
    for r in records:
        value = r.asset_materialization.metadata.get("dagster/row_count") if r.asset_materialization else None
        if value is not None:
            history.append(int(value.value))
    meta = {"rows_read": rows, "history": dg.MetadataValue.json(history)}
    if len(history) < 3:
        return dg.AssetCheckResult(check_name="row_count_in_range", passed=True, metadata={**meta, "note": "fewer than 3 earlier materializations"})
    median = statistics.median(history)
    low, high = median / ROW_COUNT_FACTOR, median * ROW_COUNT_FACTOR
    passed = low <= rows <= high
    return dg.AssetCheckResult(
        check_name="row_count_in_range", passed=passed, severity=dg.AssetCheckSeverity.WARN,
        metadata={**meta, "median_of_last": float(median), "low": float(low), "high": float(high)},
        description=None if passed else f"{rows} rows is far from the median {median:g} of the last {len(history)} materializations",
    )


def _window_column_check(mapping: EntityMapping, rows: int) -> dg.AssetCheckResult:
    col = mapping.source.window_column
    where = mapping.source.table or mapping.source.path or "the source query"
    return dg.AssetCheckResult(
        check_name="window_column_not_null", passed=rows == 0, severity=dg.AssetCheckSeverity.WARN,
        metadata={"rows_without_window_value": rows, "window_column": col},
        description=None if rows == 0 else (
            f"{rows:,} rows of {where} have a NULL {col}: no partition will ever read them. Set {col} in the "
            f"warehouse (when the row last changed) and they are read by that hour's or day's partition, or "
            f"send them with the full reconciliation sync (docs/operating.md)."),
    )


def build_sync_asset(entity: str, partitions_def: dg.PartitionsDefinition, upstream: list[dg.AssetKey], description: str) -> dg.AssetsDefinition:
    key = dg.AssetKey(["replenit", entity])
    mapping = load_mapping(settings.current().mapping_path)[entity]
    check_specs = [
        dg.AssetCheckSpec("quarantine_share", asset=key, blocking=True,
                          description="The window's quarantined share is normal for this entity: at most 3x its share over its last "
                                      "14 runs (and at most 5 points above it), never above 50%; or fewer than 20 rows are "
                                      "quarantined. Otherwise nothing is sent and downstream syncs do not run. Config `gate: "
                                      "fixed` uses one absolute max_quarantine_share instead."),
        dg.AssetCheckSpec("delivery_complete", asset=key, blocking=True,
                          description="Every valid record was accepted: none rejected by the API, none failed after retries."),
        dg.AssetCheckSpec("row_count_in_range", asset=key, blocking=False,
                          description=f"Rows read are within {ROW_COUNT_FACTOR:g}x of the median of the last {ROW_COUNT_HISTORY} materializations."),
        dg.AssetCheckSpec("window_column_not_null", asset=key, blocking=False,
                          description=f"No row of the source has a NULL {mapping.source.window_column}: such rows fall in no "
                                      "window, so no partition ever reads them."),
    ]

    @dg.asset(
        key=key,
        deps=[source_key(mapping), *upstream],
        partitions_def=partitions_def,
        pool=settings.current().pool_name,
        check_specs=check_specs,
        output_required=False,
        kinds={"replenit", "polars"},
        group_name="replenit",
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
        description=description,
    )
    def sync(
        context: dg.AssetExecutionContext,
        config: SyncConfig,
        replenit: ReplenitResource,
        warehouse: WarehouseResource,
        state: StateStoreResource,
    ):
        record_run_worker(context)  # host and pid, so a killed worker is found and its pool slot freed
        window = context.partition_time_window
        partition = context.partition_key

        last_line = [0.0]

        def progress(p: BatchProgress) -> None:
            # A line per batch, at most one every PROGRESS_EVERY_S (first and last always): each line is
            # an event in Dagster's log, and a fast sync would otherwise spend more on logging than on work.
            now = time.monotonic()
            if p.batches_done not in (1, p.batches_total) and now - last_line[0] < PROGRESS_EVERY_S:
                return
            last_line[0] = now
            context.log.info(
                f"{entity} {partition}: {p.records_done:,}/{p.records_total:,} records sent "
                f"({p.records_total - p.records_done:,} left, batch {p.batches_done}/{p.batches_total}); "
                f"accepted {p.accepted:,}, rejected {p.rejected:,}, failed {p.failed:,}; ETA {p.eta_s:.0f}s by quota"
            )

        entity_mapping = warehouse.mapping_for(entity)
        with replenit.client() as client:
            result = sync_window(SyncRequest(
                mapping=entity_mapping, warehouse=warehouse.warehouse(), client=client, store=state.store(),
                start=window.start, end=window.end, partition_key=partition, run_id=context.run_id,
                gate=config.policy(), customer_priority=replenit.customer_priority, progress=progress,
            ))
        counts = result.counts()
        if not result.balanced():
            raise dg.Failure(f"row accounting does not close for {entity} {partition}: {counts}")
        metadata = _metadata(result, entity_mapping)
        gate = result.gate
        assert gate is not None
        share_check = dg.AssetCheckResult(
            check_name="quarantine_share", passed=not result.held_back,
            metadata={**gate.metadata(config.policy()), "reason": gate.reason,
                      "rows_quarantined": counts["rows_quarantined"], "rows_held_back": counts["rows_held_back"]},
            description=gate.reason if not result.held_back else (
                f"Held back, nothing sent: {gate.reason}. Query the quarantine table in {state.path} for run "
                f"{context.run_id}; if this share is right, re-run with config gate: fixed and a higher max_quarantine_share."),
        )
        bad = counts["records_rejected"] + counts["records_failed"]
        delivery_check = dg.AssetCheckResult(
            check_name="delivery_complete", passed=bad == 0 and not result.held_back,
            metadata={k: counts[k] for k in ("records_sent", "records_accepted", "records_rejected", "records_failed")},
            description=None if bad == 0 else f"{bad} records dead-lettered; see dead_letters in {state.path}",
        )
        row_check = _row_count_check(context, key, result.prepared.rows_read)
        null_check = _window_column_check(entity_mapping, result.rows_without_window_value)
        context.log.info(
            f"{entity} {partition}: read {counts['rows_read']:,} rows; delivered {counts['rows_delivered']:,}, "
            f"quarantined {counts['rows_quarantined']:,}, superseded {counts['rows_superseded']:,}, "
            f"dead-lettered {counts['rows_dead_lettered']:,}, held back {counts['rows_held_back']:,}; "
            f"{counts['requests']} requests, {counts['rate_limited_429']} 429s"
        )
        if share_check.passed and delivery_check.passed:
            yield dg.MaterializeResult(metadata=metadata, check_results=[share_check, delivery_check, row_check, null_check])
            return
        # A failed blocking check: no materialization, so nothing downstream runs on this partition.
        for check in (share_check, delivery_check, row_check, null_check):
            yield check
        context.log.error(f"{entity} {partition} not materialized: {share_check.description or delivery_check.description}")
        raise dg.Failure(
            description=share_check.description or delivery_check.description,
            metadata={k: v for k, v in metadata.items() if not k.startswith("dagster/")},
        )

    return sync
