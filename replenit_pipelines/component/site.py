"""One component instance, resolved: every name, path and default its definitions are built from.

`ReplenitSyncComponent` (sync_component.py) validates its YAML fields and fills what was left out
from the REPLENIT_* variables (lib/settings.py), then hands one `SyncSite` to the builders of this
package (sync assets, checks, jobs, schedules, sources, plans, reconciliation, replay). Nothing here
reads a secret: the tenant id and the key are env var *names*, read by Dagster at run launch.

Names: two instances in one code location may not share a resource key, a job, a schedule, a
sensor or an asset key (Dagster refuses the definitions). The instance whose key prefix is the
default `replenit` keeps the plain names (`Sync_customers_daily`, resource `replenit`, assets
`replenit/customers`, sources `warehouse/customers_table`); any other prefix `p` adds `_p` to each
name (`Sync_customers_daily_p`, resource `replenit_p`) and puts its sources under `p/warehouse/`.
"""

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

import dagster as dg

from replenit_pipelines.lib.warehouse import EntityMapping

DEFAULT_PREFIX = ("replenit",)
SYNC_ENTITIES = ("customers", "products", "orders")  # the order a key's work goes in: customers and products before orders
KEY_TAG = "replenit/key"  # on every sync asset: the key (replenit-<label>) whose quota it spends

Automation = Literal["schedules", "after_upstream", "schedules_and_upstream", "manual"]
Status = Literal["running", "stopped"]


@dataclass(frozen=True)
class Names:
    """Every name one instance registers, from its key prefix (see the module's docstring)."""

    key_prefix: tuple[str, ...] = DEFAULT_PREFIX

    @property
    def default(self) -> bool:
        return self.key_prefix == DEFAULT_PREFIX

    @property
    def ident(self) -> str:
        """The prefix as one identifier: `brand_b` for `brand_b`, `replenit_brand_b` for `replenit/brand_b`."""
        return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(self.key_prefix))

    def name(self, base: str) -> str:
        """A job, schedule, sensor or resource name of this instance."""
        return base if self.default else f"{base}_{self.ident}"

    def asset_key(self, name: str) -> dg.AssetKey:
        return dg.AssetKey([*self.key_prefix, name])

    def source_key(self, name: str) -> dg.AssetKey:
        """A warehouse table's asset (when no upstream asset of the user's is named for it)."""
        return dg.AssetKey(["warehouse", name] if self.default else [*self.key_prefix, "warehouse", name])

    @property
    def replenit_resource(self) -> str:
        return self.name("replenit")

    @property
    def warehouse_resource(self) -> str:
        return self.name("warehouse")

    @property
    def state_resource(self) -> str:
        return self.name("state")

    @property
    def default_group(self) -> str:
        return "replenit" if self.default else self.ident

    @property
    def source_group(self) -> str:
        return "warehouse" if self.default else f"{self.ident}_warehouse"


@dataclass(frozen=True)
class Freshness:
    """A sync asset's freshness windows (Dagster's time-window policy), in hours."""

    fail_hours: float
    warn_hours: float | None = None

    def policy(self) -> dg.FreshnessPolicy:
        return dg.FreshnessPolicy.time_window(
            fail_window=timedelta(hours=self.fail_hours),
            warn_window=timedelta(hours=self.warn_hours) if self.warn_hours is not None else None)


# Today's windows: a daily sync is late after a day and a few hours, an hourly one after a few hours.
DEFAULT_FRESHNESS = {"customers": Freshness(27, 25), "products": Freshness(3, 2), "orders": Freshness(3, 2)}


@dataclass(frozen=True)
class GateDefaults:
    """The quarantine gate's defaults in the sync assets' run config (a run may still change them)."""

    mode: Literal["baseline", "fixed"] = "baseline"
    min_quarantined_rows: int = 20
    ceiling_share: float = 0.5
    baseline_runs: int = 14
    baseline_factor: float = 3.0
    baseline_margin: float = 0.05
    max_quarantine_share: float = 0.05


@dataclass(frozen=True)
class SyncStep:
    """One sync asset: its name (<prefix>/<name>), the entity it syncs, whether each partition reads
    from its day's start (the intraday customers sync) and whether its partitions are hourly."""

    name: str
    entity: str
    hourly: bool
    since_day_start: bool = False
    near_real_time: bool = False  # not partitioned: the current hour so far, launched by the near-real-time sensor


@dataclass(frozen=True)
class NearRealTime:
    """The opt-in near-real-time orders sensor (component field `near_real_time`): how often it looks
    at the warehouse, and how it starts (None: as the schedules do, automation_status)."""

    interval_seconds: int = 60
    status: Status | None = None


@dataclass(frozen=True)
class Backfills:
    """How a backfill of the sync assets runs (component field `backfills`): one run a partition (the
    default), or the whole range in one run (Dagster's single-run backfill policy: one read, one diff,
    full batches), at most `max_partitions_per_run` partitions a run (None: no limit)."""

    single_run: bool = False
    max_partitions_per_run: int | None = None

    def policy(self) -> dg.BackfillPolicy | None:
        if not self.single_run:
            return None
        if self.max_partitions_per_run:
            return dg.BackfillPolicy.multi_run(self.max_partitions_per_run)
        return dg.BackfillPolicy.single_run()


@dataclass(frozen=True)
class SyncSite:
    """One instance of the component, resolved (see the module's docstring)."""

    names: Names
    entities: tuple[str, ...]  # in SYNC_ENTITIES order
    mappings: dict[str, EntityMapping]  # of the entities synced
    mapping_path: str  # the mapping file, or the defs.yaml of an inline mapping
    mapping_yaml: str | None  # an inline mapping as YAML text (None: read mapping_path)
    warehouse_path: str
    state_dir: str
    quota_dir: str
    state_url_env: str | None  # the env var naming a Postgres state URL (a secret: read at run time)
    tenant_id_env: str
    key_env: str
    key_label: str
    base_url: str | dg.EnvVar
    limits: str | dg.EnvVar
    customer_priority: str
    partitions_start: str
    group: str
    owners: tuple[str, ...]
    automation: Automation
    status: Status
    deps: dict[str, tuple[dg.AssetKey, ...]] = field(default_factory=dict)  # entity or child array name -> upstream keys
    freshness: dict[str, Freshness | None] = field(default_factory=dict)
    batch_sizes: dict[str, int] = field(default_factory=dict)
    lookback_hours: dict[str, float] = field(default_factory=dict)
    gate: GateDefaults = GateDefaults()
    retry_max_attempts: int = 5
    state_namespace: str | None = None  # on Postgres: the schema of the instance's state tables (state_namespace())
    near_real_time: NearRealTime | None = None  # None: no near-real-time sensor (the default)
    backfills: Backfills = Backfills()

    @property
    def pool(self) -> str:
        """The API key's name in Dagster, from its label (never the key): tenants on one key share it. The
        prefix of the key's pools and the value of its sync assets' `replenit/key` tag."""
        return "replenit-" + self.key_label

    def maintenance_pool(self, job: str) -> str:
        """The pool of one kind of bulk job of this instance (`reconcile_customers`, `replay`): with the
        instance's limit of 1 (dagster.yaml), one such run of a tenant at a time, beside the key's syncs.
        Two reconciliations of one entity would list the same records and send (or delete) them twice."""
        return f"{self.pool}-{self.names.name(job)}"

    @property
    def daily_partitions(self) -> dg.DailyPartitionsDefinition:
        return dg.DailyPartitionsDefinition(start_date=self.partitions_start, timezone="UTC")

    @property
    def hourly_partitions(self) -> dg.HourlyPartitionsDefinition:
        return dg.HourlyPartitionsDefinition(start_date=self.partitions_start + "-00:00", timezone="UTC")

    def partitions(self, step: SyncStep) -> dg.TimeWindowPartitionsDefinition | None:
        if step.near_real_time:
            return None
        return self.hourly_partitions if step.hourly else self.daily_partitions

    @property
    def steps(self) -> tuple[SyncStep, ...]:
        """The sync assets: customers daily; before each hour's orders, the day's customers so far
        (customers_intraday, only when orders are synced too); products and orders hourly."""
        out: list[SyncStep] = []
        if "customers" in self.entities:
            out.append(SyncStep("customers", "customers", hourly=False))
            if "orders" in self.entities:
                out.append(SyncStep("customers_intraday", "customers", hourly=True, since_day_start=True))
        out += [SyncStep(e, e, hourly=True) for e in ("products", "orders") if e in self.entities]
        return tuple(out)

    @property
    def near_real_time_steps(self) -> tuple[SyncStep, ...]:
        """The near-real-time sync assets (only with `near_real_time` set and orders synced): the day's
        customers so far, then the current hour's orders so far; not partitioned."""
        if self.near_real_time is None or "orders" not in self.entities:
            return ()
        out = []
        if "customers" in self.entities:
            out.append(SyncStep("customers_near_real_time", "customers", hourly=False, since_day_start=True,
                                near_real_time=True))
        out.append(SyncStep("orders_near_real_time", "orders", hourly=False, near_real_time=True))
        return tuple(out)

    def step(self, name: str) -> SyncStep:
        return next(s for s in (*self.steps, *self.near_real_time_steps) if s.name == name)

    @property
    def schedules_on(self) -> bool:
        return self.automation in ("schedules", "schedules_and_upstream")

    @property
    def upstream_on(self) -> bool:
        return self.automation in ("after_upstream", "schedules_and_upstream")

    @property
    def default_status(self) -> dg.DefaultScheduleStatus:
        return dg.DefaultScheduleStatus.RUNNING if self.status == "running" else dg.DefaultScheduleStatus.STOPPED

    @property
    def sensor_status(self) -> dg.DefaultSensorStatus:
        return dg.DefaultSensorStatus.RUNNING if self.status == "running" else dg.DefaultSensorStatus.STOPPED

    @property
    def status_text(self) -> str:
        """How the schedules (and the automation sensor) start, in a description's words."""
        if self.status == "running":
            return "Running from the start (automation_status: running)."
        return "Stopped unless REPLENIT_SCHEDULES=running (or the component's automation_status: running)."

    @staticmethod
    def state_namespace_for(names: "Names", state_dir_set: bool, state_url_env: str | None) -> str | None:
        """On Postgres, the schema an instance's state tables live in: as its DuckDB file gets a folder
        of its own (`REPLENIT_STATE_DIR/<prefix>/`), an instance other than the default one on the
        shared REPLENIT_STATE_URL gets `replenit_state_<prefix>`, so tenants never mix their
        quarantine or the run counts their gates read. One given its own folder or URL keeps that."""
        if names.default or state_dir_set or state_url_env is not None:
            return None
        return f"replenit_state_{names.ident}"

    def state_path(self) -> str:
        return str(Path(self.state_dir) / "state.duckdb")
