"""The warehouse tables the syncs read, as assets Dagster observes but does not build, with what a
catalog needs at definition time: owners, `dagster/table_name`, and a column schema (the mapping's
source columns, typed from the warehouse when it can be read, as SQL type names).

Observed: each table or file source is an observable source asset; its observation records the
row count and the newest update time (the window column's largest value), so a stale source
shows on its page (and as "last observed" on the graph, not "Never materialized") before a sync
reads it. The job `observe_warehouse_tables` observes them all; its schedule runs it hourly at :02,
before the hourly sync. A query or a Python source is not observed (it would have to run).

Names: a source is `warehouse/<table>_table`, `warehouse/<file>_files`, `warehouse/<entity>_query`
or `warehouse/<function>_frames`, so the graph (which shows a key's last part) never shows two
nodes named `orders`.
"""

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import dagster as dg

from replenit_pipelines.defs import settings
from replenit_pipelines.defs.failures import failure
from replenit_pipelines.defs.jobs import schedule_status
from replenit_pipelines.defs.resources import WarehouseResource
from replenit_pipelines.lib.sql_types import sql_type
from replenit_pipelines.lib.stages.report import column_lineage
from replenit_pipelines.lib.warehouse import EntityMapping, SourceSpec, Warehouse, load_mapping
from replenit_pipelines.lib.warehouse.observe import observable, observe_source

# Who answers for these assets in the catalog: REPLENIT_ASSET_OWNERS, comma-separated emails or
# `team:` names (Dagster's owner forms).
DEFAULT_OWNERS = ("team:data-engineering",)


def owners() -> list[str]:
    raw = os.environ.get("REPLENIT_ASSET_OWNERS", "")
    return [o.strip() for o in raw.split(",") if o.strip()] or list(DEFAULT_OWNERS)


def _source_name(src: SourceSpec, fallback: str) -> str:
    if src.python:
        return f"{src.python.rsplit(':', 1)[-1]}_frames"
    if src.table:
        return f"{src.table.rsplit('.', 1)[-1]}_table"
    if src.path:
        return f"{src.path.rsplit('/', 1)[-1].split('.')[0].replace('*', 'all')}_files"
    return f"{fallback}_query"


def source_key(mapping: EntityMapping) -> dg.AssetKey:
    return dg.AssetKey(["warehouse", _source_name(mapping.source, mapping.entity)])


def source_asset_keys(mapping: EntityMapping) -> list[dg.AssetKey]:
    """The warehouse assets an entity reads: its source, and its children's own source if any."""
    keys = [source_key(mapping)]
    if mapping.child_source is not None:
        keys.append(dg.AssetKey(["warehouse", _source_name(mapping.child_source, f"{mapping.entity}_children")]))
    return keys


def source_keys() -> dict[str, dg.AssetKey]:
    return {entity: source_key(m) for entity, m in load_mapping(settings.current().mapping_path).items()}


def mapping_version(mapping: EntityMapping) -> str:
    """A code version that changes when the entity's mapping does (its fields, source, window)."""
    return hashlib.sha256(repr(mapping).encode()).hexdigest()[:12]


def table_name(mapping: EntityMapping, warehouse_path: str) -> str:
    """`dagster/table_name`: database.schema.table for a DuckDB table, else the files or query read."""
    if mapping.source.table:
        table = mapping.source.table if "." in mapping.source.table else f"main.{mapping.source.table}"
        return f"{Path(warehouse_path).stem}.{table}"
    return mapping.source.path or f"query:{mapping.entity}"


def source_schema(mapping: EntityMapping, warehouse_path: str) -> dg.TableSchema:
    """The source columns the mapping reads, with the API fields each feeds; typed from the
    warehouse when it exists and can be read now (a missing file leaves the types unknown)."""
    feeds: dict[str, list[str]] = {mapping.source.window_column: []} if mapping.source.window_column else {}
    for target, columns in column_lineage(mapping).items():
        for c in columns:
            feeds.setdefault(c, []).append(target)
    types: dict[str, str] = {}
    if Path(warehouse_path).exists() or mapping.source.path:
        try:
            types = {name: sql_type(dtype) for name, dtype in Warehouse(warehouse_path).columns(mapping).items()}
        except Exception:  # any error: definitions must load without a readable warehouse
            types = {}
    return dg.TableSchema(columns=[
        dg.TableColumn(name, types.get(name, "unknown"), description="; ".join(
            [*(["the window column"] if name == mapping.source.window_column else []),
             *([f"feeds {', '.join(sorted(targets))}"] if targets else [])]))
        for name, targets in feeds.items()
    ])


def observe_fn(key: dg.AssetKey, src: SourceSpec) -> Callable[..., Iterator[dg.ObserveResult]]:
    def observe(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator[dg.ObserveResult]:
        try:
            seen = observe_source(warehouse.warehouse(), src)
        except Exception as exc:  # any error: a missing file or table: said in words, nothing else to do
            raise failure(f"{key.to_user_string()}: cannot observe {src.describe()} in {warehouse.database}: {exc}",
                          "source_unreadable") from None
        newest = seen.newest_update.isoformat() if seen.newest_update else "unknown"
        context.log.info(f"{key.to_user_string()}: {seen.rows:,} rows, newest update {newest}")
        yield dg.ObserveResult(asset_key=key, data_version=dg.DataVersion(f"{seen.rows}:{newest}"), metadata={
            "dagster/row_count": seen.rows,
            **({"newest_update": dg.MetadataValue.timestamp(seen.newest_update)} if seen.newest_update else {}),
        })

    return observe


OBSERVE_JOB = "observe_warehouse_tables"


@dg.definitions
def warehouse_sources() -> dg.Definitions:
    current = settings.current()
    specs: dict[dg.AssetKey, tuple[dg.AssetSpec, SourceSpec]] = {}
    for entity, mapping in load_mapping(current.mapping_path).items():
        for key, src in zip(source_asset_keys(mapping), (mapping.source, mapping.child_source), strict=False):
            assert src is not None
            window = f"windowed by {src.window_column}" if src.window_column else "read with their parent"
            view = replace(mapping, source=src, fields=mapping.fields if src is mapping.source else mapping.children,
                           children=(), child_source=None, parent_key=None)
            observed = "Observed hourly (observe_warehouse_tables): row count and newest update." if observable(src) else \
                "Not observed (a query or a Python source would have to run)."
            specs[key] = (dg.AssetSpec(
                key, kinds={"polars"} if src.python else {"duckdb"} if not src.path else {"parquet"}, group_name="warehouse",
                description=f"The warehouse {src.describe()}: rows behind Replenit {entity}, {window}. {observed}",
                owners=owners(),
                metadata={"window_column": src.window_column or "",
                          "dagster/table_name": table_name(view, current.warehouse_path),
                          "dagster/column_schema": source_schema(view, current.warehouse_path)},
            ), src)
    assets: list = []
    observed_keys = []
    for key, (spec, src) in specs.items():
        if observable(src):
            assets.append(dg.multi_observable_source_asset(specs=[spec], name=f"observe_{key.to_python_identifier()}")(
                observe_fn(key, src)))
            observed_keys.append(key)
        else:
            assets.append(spec)
    jobs, schedules = [], []
    if observed_keys:
        job = dg.define_asset_job(OBSERVE_JOB, selection=dg.AssetSelection.assets(*observed_keys),
                                  description="Observe every warehouse table the syncs read: its row count and newest "
                                              "update time. Reads no row; sends nothing.")
        jobs.append(job)
        schedules.append(dg.ScheduleDefinition(
            name=f"{OBSERVE_JOB}_hourly", job=job, cron_schedule="2 * * * *", execution_timezone="UTC",
            default_status=schedule_status(),
            description="Every hour at :02 UTC, before the hourly sync: observe the warehouse tables (row count, newest "
                        "update). Stopped unless REPLENIT_SCHEDULES=running."))
    return dg.Definitions(assets=assets, jobs=jobs, schedules=schedules)
