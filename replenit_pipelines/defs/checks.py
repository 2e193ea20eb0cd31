"""The sync assets' checks: their specs and their results (Dagster wiring over plain results)."""

import statistics
from typing import Any

import dagster as dg

from replenit_pipelines.lib.sync import GatePolicy, SyncResult
from replenit_pipelines.lib.warehouse import EntityMapping

ROW_COUNT_HISTORY = 7
ROW_COUNT_FACTOR = 3.0  # "far from" the recent median: more than 3x above or below it


def sync_check_specs(key: dg.AssetKey, mapping: EntityMapping) -> list[dg.AssetCheckSpec]:
    return [
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


def quarantine_share_check(result: SyncResult, policy: GatePolicy, state_path: str, run_id: str) -> dg.AssetCheckResult:
    gate, counts = result.gate, result.counts()
    assert gate is not None
    metadata: dict[str, Any] = {**gate.metadata(policy), "reason": gate.reason,
                                "rows_quarantined": counts["rows_quarantined"], "rows_held_back": counts["rows_held_back"]}
    return dg.AssetCheckResult(
        check_name="quarantine_share", passed=not result.held_back, metadata=metadata,
        description=gate.reason if not result.held_back else (
            f"Held back, nothing sent: {gate.reason}. Query the quarantine table in {state_path} for run "
            f"{run_id}; if this share is right, re-run with config gate: fixed and a higher max_quarantine_share."),
    )


def delivery_complete_check(result: SyncResult, state_path: str) -> dg.AssetCheckResult:
    counts = result.counts()
    bad = counts["records_rejected"] + counts["records_failed"] + counts["records_held"]
    return dg.AssetCheckResult(
        check_name="delivery_complete", passed=bad == 0 and not result.held_back,
        metadata={k: counts[k] for k in ("records_sent", "records_accepted", "records_rejected", "records_failed")},
        description=None if bad == 0 else f"{bad} records dead-lettered; see dead_letters in {state_path}",
    )


def row_count_check(context: dg.AssetExecutionContext, key: dg.AssetKey, rows: int) -> dg.AssetCheckResult:
    records = context.instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=ROW_COUNT_HISTORY).records
    history = []
    for r in records:
        value = r.asset_materialization.metadata.get("dagster/row_count") if r.asset_materialization else None
        if value is not None:
            history.append(int(value.value))
    meta: dict[str, Any] = {"rows_read": rows, "history": dg.MetadataValue.json(history)}
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


def window_column_check(mapping: EntityMapping, rows: int) -> dg.AssetCheckResult:
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
