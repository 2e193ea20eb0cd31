"""The Dagster UI tells the truth at a glance (issue 26): a partition's numbers are its own window's,
a dozen plotted keys, stops as Failures in words, one alert a failed run (to a real webhook on
loopback), a documented launchpad, tagged dry runs, observed warehouse tables, a backfill's cost
before it runs."""

import json
import socket
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import duckdb
import httpx
import pytest
from helpers import counts_of
from test_dagster_failures import DAY, checks_of, env, instance, load_defs, run_job, small_warehouse  # noqa: F401 - fixtures

KEY = dg.AssetKey(["replenit", "customers"])
DAY_BEFORE = "2026-11-25"
# Customers changed the day before DAY: inside DAY's 48 h lookback, outside its window.
EARLIER = [  # customer_id, email, first_name, locale, gdpr, updated_at
    ("c7", "gil@example.com", "Gil", "en", None, datetime(2026, 11, 25, 9)),
    ("c8", "hal@example.com", "Hal", "en", None, datetime(2026, 11, 25, 10)),
]
STRICT_GATE = {"ops": {"replenit__customers": {"config": {"gate": "fixed", "max_quarantine_share": 0.1,
                                                          "min_quarantined_rows": 1}}}}


def plotted(mat) -> dict:
    """What Dagster plots of a materialization: every int and float value (research note D)."""
    return {k: v.value for k, v in mat.metadata.items()
            if isinstance(v, dg.IntMetadataValue | dg.FloatMetadataValue)}


def add_customers(env, rows) -> None:  # noqa: F811 - the fixture's values
    with duckdb.connect(env["REPLENIT_WAREHOUSE"]) as con:
        con.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)", rows)


def materialization(instance, partition):  # noqa: F811
    (record,) = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=KEY, asset_partitions=[partition]), limit=1).records
    return record.asset_materialization


# --- 1 and 2: a partition's own numbers, a dozen plotted keys --------------------------------------

def test_a_partition_counts_its_own_window_and_the_lookback_apart_and_plots_a_dozen_keys(env, instance):  # noqa: F811
    add_customers(env, EARLIER)
    assert run_job("Sync_customers_daily", DAY, instance).success
    mat = materialization(instance, DAY)
    nums = plotted(mat)
    # DAY's own rows: c1..c4 and c6 (c5 is the next day's); c7 and c8 are the lookback's.
    assert nums["rows_read"] == 5 and nums["rows_read_lookback"] == 2
    assert nums["rows_delivered"] == 3 and nums["rows_quarantined"] == 1  # c4 merged into c1 (superseded), c3 bad
    assert nums["rows_delivered_lookback"] == 2  # not sent before: caught by the lookback
    assert nums["dagster/row_count"] == 3  # DAY's own customers Replenit holds
    assert len(nums) <= 12 and set(nums) <= {
        "dagster/row_count", "rows_read", "rows_delivered", "rows_unchanged", "rows_quarantined", "rows_dead_lettered",
        "rows_read_lookback", "rows_delivered_lookback", "requests", "quarantine_share_pct", "duration_s", "ledger_records"}
    assert nums["quarantine_share_pct"] == 25.0  # 1 of the 4 rows considered (5 read, 1 superseded)
    own, lookback = counts_of(mat), counts_of(mat, "lookback")
    for part in (own, lookback):  # each half closes on its own
        assert part["rows_read"] == sum(part.get(k, 0) for k in (
            "rows_delivered", "rows_quarantined", "rows_superseded", "rows_unchanged", "rows_dead_lettered", "rows_held_back",
            "rows_planned", "rows_deleted"))
    assert "2026-11-26 00:00 UTC to 2026-11-27 00:00 UTC; read from 2026-11-24 00:00 UTC (48 h lookback" in mat.metadata["window"].value
    assert mat.metadata["accounting"].value.startswith("rows read 5 = delivered 3 + quarantined 1 + superseded 1")

    # The day before, then DAY again: the numbers of DAY do not move, only what was sent does.
    assert run_job("Sync_customers_daily", DAY_BEFORE, instance).success
    assert run_job("Sync_customers_daily", DAY, instance).success
    again = plotted(materialization(instance, DAY))
    assert again["rows_read"] == 5 and again["dagster/row_count"] == 3
    assert again["rows_delivered"] == 0 and again["rows_unchanged"] == 3
    assert again["rows_delivered_lookback"] == 0 and again["rows_read_lookback"] == 2


def test_a_late_row_in_the_lookback_is_delivered_and_counted_as_such(env, instance):  # noqa: F811
    assert run_job("Sync_customers_daily", DAY_BEFORE, instance).success  # nothing that day yet
    add_customers(env, EARLIER[:1])  # lands after its day ran
    assert run_job("Sync_customers_daily", DAY, instance).success
    nums = plotted(materialization(instance, DAY))
    assert nums["rows_read_lookback"] == 1 and nums["rows_delivered_lookback"] == 1 and nums["rows_read"] == 5



def test_a_lookback_record_changed_again_after_the_partition_stays_the_lookbacks(env, instance):  # noqa: F811
    """A backfill of DAY run after later days landed: c7 changed the day before DAY (its lookback) and
    again two days after DAY, never in DAY. Read whole, its newest row is after DAY's end, but DAY's
    numbers are still DAY's own: c7 is counted in the lookback, not as one of DAY's rows read or of the
    customers DAY holds (before: rows_read 7, dagster/row_count 4 for a day of 5 rows)."""
    add_customers(env, [*EARLIER, ("c7", "gil@example.com", "Gil Later", "en", None, datetime(2026, 11, 28, 9))])
    assert run_job("Sync_customers_daily", DAY, instance).success
    mat = materialization(instance, DAY)
    nums = plotted(mat)
    assert nums["rows_read"] == 5 and nums["dagster/row_count"] == 3
    assert nums["rows_read_lookback"] == 3  # c7 read whole (its two rows) and c8
    assert nums["rows_delivered_lookback"] == 2  # c7's newest version and c8; c7's older row superseded
    own, lookback = counts_of(mat), counts_of(mat, "lookback")
    for part in (own, lookback):
        assert part["rows_read"] == sum(part.get(k, 0) for k in (
            "rows_delivered", "rows_quarantined", "rows_superseded", "rows_unchanged", "rows_dead_lettered", "rows_held_back",
            "rows_planned", "rows_deleted"))


# --- 4: stops are Failures in words; one alert a failed run ----------------------------------------

class Webhook:
    """A real chat webhook on loopback: every POST's JSON body, in order."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self) -> list[str]:
        return [p["text"] for p in self.posts]


@pytest.fixture
def webhook(monkeypatch):
    hook = Webhook()
    monkeypatch.setenv("REPLENIT_ALERT_WEBHOOK_URL", hook.url)
    yield hook
    hook.server.shutdown()


def run_sensors(instance, result, defs) -> None:  # noqa: F811
    """What the daemon does after a run ends: the run-status sensors on it, then the check sensor."""
    from replenit_pipelines.component.alerts import alert_on_check_failure, alert_on_recovery, alert_on_run_failure

    run = instance.get_run_by_id(result.run_id)
    repo = defs.get_repository_def()
    if run.status == dg.DagsterRunStatus.FAILURE:
        event = next(e for e in instance.all_logs(run.run_id) if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_FAILURE")
        alert_on_run_failure(dg.build_run_status_sensor_context(
            sensor_name="alert_on_run_failure", dagster_event=event.dagster_event, dagster_instance=instance, dagster_run=run).for_run_failure())
    else:
        event = next(e for e in instance.all_logs(run.run_id) if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_SUCCESS")
        alert_on_recovery(dg.build_run_status_sensor_context(
            sensor_name="alert_on_recovery", dagster_event=event.dagster_event, dagster_instance=instance, dagster_run=run))
    context = dg.build_sensor_context(instance=instance, repository_def=repo, cursor=getattr(run_sensors, "cursor", None))
    alert_on_check_failure(context)
    run_sensors.cursor = context.cursor  # type: ignore[attr-defined]


def test_a_gate_trip_is_one_alert_in_plain_words_with_its_partition_then_a_recovery(env, instance, webhook):  # noqa: F811
    run_sensors.cursor = None  # type: ignore[attr-defined]
    defs = load_defs()
    bad = run_job("Sync_customers_daily", DAY, instance, STRICT_GATE)  # 1 of 4 quarantined: above 10%
    assert not bad.success
    failure = next(e for e in bad.all_events if e.event_type_value == "STEP_FAILURE").step_failure_data.user_failure_data
    assert failure.description.startswith("customers 2026-11-26 held back by the quarantine gate, nothing sent: 25.0% quarantined")
    assert failure.metadata["stop"].value == "gate_held_back"
    run_sensors(instance, bad, defs)
    (text,) = webhook.texts()  # one post for the run and its two failed checks
    assert text.startswith("*Replenit: customers 2026-11-26 failed*\ncustomers 2026-11-26 held back by the quarantine gate")
    assert "Checks that failed: delivery_complete, quarantine_share." in text
    assert "dagster._core" not in text and "below" not in text and "Traceback" not in text

    good = run_job("Sync_customers_daily", DAY, instance)
    assert good.success
    run_sensors(instance, good, defs)
    assert len(webhook.posts) == 2 and webhook.texts()[1].startswith("*Replenit: customers 2026-11-26 recovered*")
    assert bad.run_id in webhook.texts()[1]


def test_failed_checks_of_a_run_that_succeeded_are_one_post(env, instance, webhook):  # noqa: F811
    run_sensors.cursor = None  # type: ignore[attr-defined]
    # The intraday sync's checks never hold anything back: its run succeeds with two failed checks.
    strict = {"ops": {"replenit__customers_intraday": {"config": {"gate": "fixed", "max_quarantine_share": 0.1,
                                                                  "min_quarantined_rows": 1}}}}
    result = run_job("Sync_products_and_orders_hourly", "2026-11-26-14:00", instance, strict)
    assert result.success
    assert {n for n, c in checks_of(result, "customers_intraday").items() if not c.passed} == {"quarantine_share", "delivery_complete"}
    run_sensors(instance, result, load_defs())
    (text,) = webhook.texts()
    assert text.startswith("*Replenit: 2 checks failed on customers_intraday and orders and products 2026-11-26-14:00*")
    assert "- quarantine_share (error): Held back, nothing sent" in text and "- delivery_complete (error)" in text
    run_sensors(instance, result, load_defs())  # a later tick: nothing new
    assert len(webhook.posts) == 1


def test_a_retried_run_is_not_posted(env, instance, webhook):  # noqa: F811
    from replenit_pipelines.component.alerts import alert_on_run_failure

    bad = run_job("Sync_customers_daily", DAY, instance, STRICT_GATE)
    instance.add_run_tags(bad.run_id, {"dagster/will_retry": "true"})
    run = instance.get_run_by_id(bad.run_id)
    event = next(e for e in instance.all_logs(run.run_id) if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_FAILURE")
    alert_on_run_failure(dg.build_run_status_sensor_context(
        sensor_name="alert_on_run_failure", dagster_event=event.dagster_event, dagster_instance=instance, dagster_run=run).for_run_failure())
    assert webhook.posts == []


def test_a_refused_key_is_a_failure_in_words_and_the_last_progress_line_says_stopped(env, instance, monkeypatch):  # noqa: F811
    monkeypatch.setenv("REPLENIT_API_KEY", "d3Jvbmcta2V5")  # a key the sandbox does not know: 401
    result = run_job("Sync_customers_daily", DAY, instance)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").step_failure_data
    assert failure.user_failure_data.description.startswith(
        "customers 2026-11-26 stopped: Replenit refused the API key (401 Unauthorized): check REPLENIT_API_KEY")
    assert "the 3 records not sent are queued and sent first by the next run of customers" in failure.user_failure_data.description
    assert failure.user_failure_data.metadata["stop"].value == "api_key_refused"
    assert "ReplenitStopError" not in failure.error.message and "UnauthorizedError" not in failure.error.message
    lines = [str(e.user_message) for e in instance.all_logs(result.run_id) if "records" in str(e.user_message)]
    progress = [line for line in lines if line.startswith("customers 2026-11-26 stopped after")]
    assert progress and "0 of 3 records accepted" in progress[-1] and "3 not sent" in progress[-1]
    assert not [line for line in lines if "delivered:" in line]


# --- 3: the launchpad, dry runs ----------------------------------------------------------------------

def config_fields(config_type, path=""):
    """(path, field) of every field of a config type, nested ones included."""
    for name, field in getattr(config_type, "fields", {}).items():
        yield f"{path}{name}", field
        yield from config_fields(field.config_type, f"{path}{name}.")


def test_every_run_config_field_of_every_job_is_described_and_closed_choices_are_enumerations(env):  # noqa: F811
    repo = load_defs().get_repository_def()
    ours = {"config"}  # the fields our Config classes declare, under ops.<op>.config
    undescribed, gates = [], []
    for job in repo.get_all_jobs():
        for path, field in config_fields(job.run_config_schema.config_type):
            parts = path.split(".")
            if len(parts) >= 4 and parts[0] == "ops" and parts[2] in ours:
                if not field.description:
                    undescribed.append(f"{job.name}: {path}")
                if parts[-1] == "gate":
                    gates.append(field.config_type)
    assert not undescribed, undescribed
    assert gates and all(g.kind == dg.ConfigTypeKind.ENUM if hasattr(dg, "ConfigTypeKind") else g.kind.name == "ENUM" for g in gates)
    assert {tuple(sorted(v.config_value for v in g.enum_values)) for g in gates} == {("baseline", "fixed")}


def test_dry_runs_are_tagged_and_a_reconcile_dry_run_says_its_plan_and_eta(env, instance, sandbox):  # noqa: F811
    dry = {"ops": {"replenit__customers": {"config": {"dry_run": True}}}}
    result = run_job("Sync_customers_daily", DAY, instance, dry)
    assert result.success and instance.get_run_by_id(result.run_id).tags.get("replenit/dry_run") == "true"
    job = load_defs().resolve_job_def("reconcile_customers")
    rec = job.execute_in_process(instance=instance, raise_on_error=False,
                                 run_config={"ops": {"customers_reconcile": {"config": {"dry_run": True}}}})
    assert rec.success and instance.get_run_by_id(rec.run_id).tags.get("replenit/dry_run") == "true"
    logs = [str(e.user_message) for e in instance.all_logs(rec.run_id)]
    plan = next(line for line in logs if line.startswith("Plan for customers the whole source"))
    assert "to send: 4 records in 1 request" in plan and "ETA: 1 request:" in plan
    assert not [line for line in logs if "{'rows_read'" in line]  # no raw dict of counters
    obs = [e.asset_observation_data.asset_observation for e in rec.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    assert obs and not [k for o in obs for k, v in o.metadata.items() if isinstance(v, dg.IntMetadataValue | dg.FloatMetadataValue)]
    assert httpx.get(f"{sandbox.url}/_sandbox/records/{env['REPLENIT_TENANT_ID']}/customers").json() == []


# --- 5: backfills ----------------------------------------------------------------------------------

def test_plan_backfill_reports_requests_and_eta_and_sends_nothing(env, instance, sandbox):  # noqa: F811
    add_customers(env, EARLIER)
    job = load_defs().resolve_job_def("plan_backfill")
    result = job.execute_in_process(instance=instance, raise_on_error=False, run_config={"ops": {"plan_backfill_partitions": {
        "config": {"job": "Sync_customers_daily", "first_partition": DAY_BEFORE, "last_partition": DAY}}}})
    assert result.success and instance.get_run_by_id(result.run_id).tags.get("replenit/dry_run") == "true"
    (obs,) = [e.asset_observation_data.asset_observation for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    text = obs.metadata["backfill_plan"].value
    # DAY_BEFORE: c7 and c8 (1 request); DAY: its own three customers (1 request; its lookback is the backfill's).
    assert text.startswith("Backfill of Sync_customers_daily, 2 partitions 2026-11-25 to 2026-11-26: 2 requests")
    assert "ETA about" in text and "Nothing was sent." in text
    table = obs.metadata["backfill_plan_partitions"].value
    assert "| customers | 2026-11-25 | 1 | 2 | 2 |  |" in table  # c7, c8
    assert "| customers | 2026-11-26 | 1 | 3 | 5 |  |" in table  # c1, c2, c6 (c3 quarantined, c4 merged); not c7, c8 again
    assert httpx.get(f"{sandbox.url}/_sandbox/records/{env['REPLENIT_TENANT_ID']}/customers").json() == []


def test_the_worker_is_an_event_of_the_run_not_tags(env, instance):  # noqa: F811
    from replenit_pipelines.component.monitoring import run_worker

    result = run_job("Sync_customers_daily", DAY, instance)
    run = instance.get_run_by_id(result.run_id)
    assert not [t for t in run.tags if t.startswith("replenit/worker")]
    host, pid, started = run_worker(instance, run)
    assert host == socket.gethostname() and pid > 0 and started > 0


def test_sync_assets_have_no_backfill_policy_so_asset_backfills_run_one_partition_each(env):  # noqa: F811
    graph = load_defs().get_repository_def().asset_graph
    for name in ("customers", "customers_intraday", "products", "orders"):
        assert graph.get(dg.AssetKey(["replenit", name])).backfill_policy is None


# --- 6: names, types, schedules, freshness -------------------------------------------------------------

def displays_as_set(window: timedelta) -> bool:
    """Dagster's UI writes a freshness window with dayjs humanize (research note D): exact for up to
    44 minutes, whole hours from 2 to 47, whole days from 2."""
    minutes = window.total_seconds() / 60
    return (minutes <= 44 and minutes == int(minutes)) or (120 <= minutes < 48 * 60 and minutes % 60 == 0) or (
        minutes >= 48 * 60 and minutes % (24 * 60) == 0)


def test_names_types_schedules_and_freshness_read_as_set(env):  # noqa: F811
    defs = load_defs()
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    names = [k.path[-1] for k in graph.get_all_asset_keys()]
    assert len(names) == len(set(names)), names  # the graph shows a key's last part: never two alike
    assert sorted(j for j in repo.job_names if j.startswith("Sync_")) == ["Sync_customers_daily", "Sync_products_and_orders_hourly"]
    assert all(s.description for s in repo.schedule_defs)
    windows = [w.to_timedelta() for key in graph.get_all_asset_keys() if graph.get(key).freshness_policy is not None
               for w in (graph.get(key).freshness_policy.fail_window, graph.get(key).freshness_policy.warn_window) if w]
    assert len(windows) == 6 and all(displays_as_set(w) for w in windows), windows  # customers, products, orders
    assert not displays_as_set(timedelta(minutes=90))  # "2 hours" in the UI: the window orders had
    source = graph.get(dg.AssetKey(["warehouse", "customers_table"]))
    types = {c.name: c.type for c in source.metadata["dagster/column_schema"].columns}
    assert types["updated_at"] == "TIMESTAMP" and types["email"] == "VARCHAR"


# --- 7: the warehouse tables, observed -------------------------------------------------------------

def test_warehouse_tables_are_observed_with_row_count_and_newest_update(env, instance):  # noqa: F811
    job = load_defs().resolve_job_def("observe_warehouse_tables")
    result = job.execute_in_process(instance=instance)
    assert result.success
    obs = {e.asset_observation_data.asset_observation.asset_key.to_user_string(): e.asset_observation_data.asset_observation
           for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"}
    assert set(obs) == {"warehouse/customers_table", "warehouse/order_lines_table", "warehouse/product_variants_table"}
    customers = obs["warehouse/customers_table"]
    assert customers.metadata["dagster/row_count"].value == 6
    assert customers.metadata["newest_update"].value == datetime(2026, 11, 27).replace(tzinfo=__import__("datetime").UTC).timestamp()
    assert load_defs().get_repository_def().asset_graph.get(dg.AssetKey(["warehouse", "customers_table"])).is_observable
