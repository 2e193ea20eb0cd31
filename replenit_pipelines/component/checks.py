"""The sync assets' checks: their specs and their results (Dagster wiring over plain results)."""

import statistics
from typing import Any

import dagster as dg

from replenit_pipelines.lib.sync import GatePolicy, SyncResult
from replenit_pipelines.lib.warehouse import EntityMapping

ROW_COUNT_HISTORY = 7
ROW_COUNT_FACTOR = 3.0  # "far from" the recent median: more than 3x above or below it


def sync_check_specs(key: dg.AssetKey, mapping: EntityMapping, partitions_def: dg.PartitionsDefinition | None = None) -> list[dg.AssetCheckSpec]:
    """The checks of one sync asset, partitioned like it: each partition's results stand alone,
    so one bad hour does not turn the others red (Dagster 1.13 `AssetCheckSpec.partitions_def`)."""
    return [
        dg.AssetCheckSpec("quarantine_share", asset=key, blocking=True, partitions_def=partitions_def,
                          description="The window's quarantined share is normal for this entity: at most 3x its share over its last "
                                      "14 runs (and at most 5 points above it), never above 50%; or fewer than 20 rows are "
                                      "quarantined. Otherwise nothing is sent and downstream syncs do not run. Config `gate: "
                                      "fixed` uses one absolute max_quarantine_share instead."),
        dg.AssetCheckSpec("delivery_complete", asset=key, blocking=True, partitions_def=partitions_def,
                          description="Every valid record was accepted: none rejected by the API, none failed after retries; "
                                      "every record to delete was deleted."),
        dg.AssetCheckSpec("row_count_in_range", asset=key, blocking=False, partitions_def=partitions_def,
                          description=f"The window's rows read (its own, not the lookback's) are within {ROW_COUNT_FACTOR:g}x "
                                      f"of the median of the last {ROW_COUNT_HISTORY} materializations."),
        dg.AssetCheckSpec("window_column_not_null", asset=key, blocking=False, partitions_def=partitions_def,
                          description=f"Every row of the source has its {mapping.source.window_column} set: a row without one falls in no "
                                      "window, so no partition ever reads them."),
    ]


def state_query(table: str, run_id: str) -> str:
    """The command that shows a run's rows of a state-store table where the deployment runs."""
    return f"replenit state \"SELECT * FROM {table} WHERE run_id = '{run_id}'\""  # noqa: S608 - a hint shown to a person, not executed


def quarantine_share_check(result: SyncResult, policy: GatePolicy, run_id: str, sample: dg.TableMetadataValue | None = None) -> dg.AssetCheckResult:
    gate, counts = result.gate, result.counts()
    assert gate is not None
    metadata: dict[str, Any] = {**gate.metadata(policy), "reason": gate.reason,
                                "rows_quarantined": counts["rows_quarantined"], "rows_held_back": counts["rows_held_back"]}
    if sample is not None and counts["rows_quarantined"]:
        metadata["quarantine_sample"] = sample
    quarantined = counts["rows_quarantined"]
    where = f"; the rows: {state_query('quarantine', run_id)}" if quarantined else ""
    return dg.AssetCheckResult(
        check_name="quarantine_share", passed=not result.held_back, metadata=metadata,
        description=f"Sent: {gate.reason}{where}." if not result.held_back else (
            f"Held back, nothing sent: {gate.reason}. The quarantine_sample shows the problems (masked); all rows: "
            f"{state_query('quarantine', run_id)}. Fix the rows in the warehouse and re-run the partition, or, if "
            "this share is right, re-run with config gate: fixed and a higher max_quarantine_share."),
    )


def delivery_complete_check(result: SyncResult, run_id: str) -> dg.AssetCheckResult:
    counts = result.counts()
    rejected, failed, held = counts["records_rejected"], counts["records_failed"], counts["records_held"]
    bad = rejected + failed + held
    undeleted = counts["records_delete_failed"] + counts["records_not_deletable"]
    metadata = {k: counts[k] for k in ("records_sent", "records_accepted", "records_rejected", "records_failed", "records_held",
                                       "records_to_delete", "records_deleted", "records_delete_failed", "records_not_deletable")}
    if result.held_back:
        description = (f"Nothing was delivered: the quarantine gate held the window back ({result.gate.reason if result.gate else ''}); "
                       f"its {counts['rows_held_back']:,} valid rows are sent when the partition is re-run (see quarantine_share).")
    elif bad == 0:
        sent = counts["records_sent"]
        description = (("Nothing needed sending" if sent == 0 else "The one record sent was accepted" if sent == 1 else
                        f"All {sent:,} records sent were accepted")
                       + (f"; {counts['records_unchanged']:,} unchanged records were not re-sent" if counts["records_unchanged"] else "")
                       + ".")
    else:
        parts = [f"{n:,} {what}" for n, what in ((rejected, "rejected by the API"), (failed, "failed after retries"),
                                                   (held, "held (the API rejected this same content before)")) if n]
        description = (f"{bad:,} of {counts['records_sent'] + held:,} records not delivered: {', '.join(parts)}. They are "
                       f"retried by later runs; the reasons: {state_query('dead_letters', run_id)}.")
    if undeleted and not result.held_back:
        parts = [f"{n:,} {what}" for n, what in (
            (counts["records_delete_failed"], "failed after retries (the next run that plans them tries again)"),
            (counts["records_not_deletable"], "cannot be deleted: no id the API deletes by (a customer known only by "
                                              "email has no CustomerId, one who changed email shares it with its new address); delete them in "
                                              "Replenit by hand")) if n]
        description += (f" {undeleted:,} of {counts['records_to_delete']:,} records to delete were not deleted: "
                        f"{', '.join(parts)}; the records: {state_query('dead_letters', run_id)}.")
    return dg.AssetCheckResult(check_name="delivery_complete", passed=bad == 0 and undeleted == 0 and not result.held_back,
                               metadata=metadata, description=description)


def row_count_check(context: dg.AssetExecutionContext, key: dg.AssetKey, rows: int) -> dg.AssetCheckResult:
    records = context.instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=ROW_COUNT_HISTORY).records
    history = []
    for r in records:
        # rows read, not dagster/row_count (the records Replenit holds): the check is about the source
        value = r.asset_materialization.metadata.get("rows_read") if r.asset_materialization else None
        if value is not None:
            history.append(int(value.value))
    meta: dict[str, Any] = {"rows_read": rows, "history": dg.MetadataValue.json(history)}
    if len(history) < 3:
        return dg.AssetCheckResult(check_name="row_count_in_range", passed=True, metadata={**meta, "note": "fewer than 3 earlier materializations"},
                                   description=f"{rows:,} rows read; fewer than 3 earlier materializations to compare with.")
    median = statistics.median(history)
    low, high = median / ROW_COUNT_FACTOR, median * ROW_COUNT_FACTOR
    passed = low <= rows <= high
    return dg.AssetCheckResult(
        check_name="row_count_in_range", passed=passed, severity=dg.AssetCheckSeverity.WARN,
        metadata={**meta, "median_of_last": round(float(median), 1), "low": round(float(low), 1), "high": round(float(high), 1)},
        description=(f"{rows:,} rows read, within {low:,.0f} to {high:,.0f} (the median of the last {len(history)} "
                     f"materializations is {median:,.0f})." if passed else
                     f"{rows:,} rows read, far from the median {median:,.0f} of the last {len(history)} materializations "
                     f"(expected {low:,.0f} to {high:,.0f}): check the source for a missing or a duplicated load."),
    )


def window_column_check(mapping: EntityMapping, rows: int) -> dg.AssetCheckResult:
    col = mapping.source.window_column
    where = mapping.source.table or mapping.source.path or "the source query"
    if col is None:  # window_column: null (a table without an update time): reconciliation syncs it
        entity = mapping.entity
        return dg.AssetCheckResult(
            check_name="window_column_not_null", passed=rows == 0, severity=dg.AssetCheckSeverity.WARN,
            metadata={"rows_without_window_value": rows, "window_column": "none"},
            description=f"{where} has no window column (window_column: null): partitions read only the {entity} their "
                        f"children select, and {rows:,} rows no partition reads; the job reconcile_{entity} (schedule "
                        f"reconcile_{entity}_weekly) or `replenit sync {entity} --all` sends them.")
    return dg.AssetCheckResult(
        check_name="window_column_not_null", passed=rows == 0, severity=dg.AssetCheckSeverity.WARN,
        metadata={"rows_without_window_value": rows, "window_column": col},
        description=f"Every row of {where} has its {col} set." if rows == 0 else (
            f"{rows:,} rows of {where} have no {col} (NULL): no partition will ever read them. Set {col} in the "
            f"warehouse (when the row last changed) and they are read by that hour's or day's partition, or "
            f"send them with the full reconciliation sync (docs/operating.md)."),
    )


def not_evaluated(check_names: list[str], stop: Exception) -> str:
    """Why checks of a stopped run have no result: Dagster 1.13 has no "skipped" result, and a
    check left without one in a failed run shows "Execution failed" (not run), not "Failed"."""
    return f"{', '.join(check_names)} not evaluated: the delivery stopped before it could be judged ({stop})"
