"""Definitions a catalog and an on-call person can use (issue 14): alerts posted to a real local
webhook, freshness policies, owners, code versions, table names and schemas, named UI jobs."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest
from test_dagster_failures import DAY, env, instance, load_defs, run_job, small_warehouse  # noqa: F401 - fixtures

from replenit_pipelines.lib.alerts import post_alert, slack_payload


class Webhook:
    """A real HTTP server on loopback that records the JSON posted to it; `fail_first` answers
    503 to that many posts first."""

    def __init__(self, fail_first: int = 0):
        self.posts: list[dict] = []
        self.fail_first = fail_first
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if hook.fail_first > 0:
                    hook.fail_first -= 1
                    self.send_response(503)
                else:
                    hook.posts.append(json.loads(body))
                    self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook(monkeypatch):
    hook = Webhook()
    monkeypatch.setenv("REPLENIT_ALERT_WEBHOOK_URL", hook.url)
    yield hook
    hook.close()


def test_post_alert_retries_a_5xx_and_masks_personal_data():
    hook = Webhook(fail_first=1)
    try:
        assert post_alert(hook.url, slack_payload("title", ["ada@example.com was rejected", "e.g. customerid:CUST-000123, "
                                                             "email:nicole.chevalier480 at correo.example.es"]), pause_s=0.01)
    finally:
        hook.close()
    assert hook.posts == [{"text": "*title*\na***@example.com was rejected\ne.g. customerid:C***3, email:n*** at correo.example.es"}]


def test_post_alert_gives_up_quietly_on_a_dead_webhook():
    hook = Webhook()
    hook.close()
    assert not post_alert(hook.url, {"text": "x"}, timeout_s=1, attempts=2, pause_s=0.01)


def test_a_failed_run_is_posted_to_the_webhook(env, instance, monkeypatch, webhook):  # noqa: F811
    monkeypatch.setenv("REPLENIT_API_KEY", "d3Jvbmcta2V5")  # 401: the run fails
    result = run_job("Sync_customers_daily", DAY, instance)
    assert not result.success
    from replenit_pipelines.component.alerts import alert_on_run_failure

    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    context = dg.build_run_status_sensor_context(
        sensor_name="alert_on_run_failure", dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=failure).for_run_failure()
    alert_on_run_failure(context)
    (post,) = webhook.posts
    assert post["text"].startswith(f"*Replenit: customers {DAY} failed*")
    assert "REPLENIT_API_KEY" in post["text"]  # what to fix
    assert "d3Jvbmcta2V5" not in post["text"]


def test_the_failed_checks_of_a_failed_run_are_left_to_its_run_alert(env, instance, webhook):  # noqa: F811
    gate = {"ops": {"replenit__customers": {"config": {"gate": "fixed", "max_quarantine_share": 0.2, "min_quarantined_rows": 1}}}}
    assert not run_job("Sync_customers_daily", DAY, instance, gate).success  # held back: two blocking checks fail
    from replenit_pipelines.component.alerts import alert_on_check_failure

    repo = load_defs().get_repository_def()
    context = dg.build_sensor_context(instance=instance, repository_def=repo)
    skip = alert_on_check_failure(context)
    assert webhook.posts == [] and "outside failed runs" in skip.skip_message  # the run's own alert names them
    assert json.loads(context.cursor)  # and the cursor moved past them


def test_no_webhook_no_post(env, instance, monkeypatch):  # noqa: F811
    monkeypatch.delenv("REPLENIT_ALERT_WEBHOOK_URL", raising=False)
    from replenit_pipelines.component.alerts import alert_on_run_failure

    result = run_job("Sync_customers_daily", DAY, instance, {"ops": {"replenit__customers": {"config": {
        "gate": "fixed", "max_quarantine_share": 0.2, "min_quarantined_rows": 1}}}})
    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    skip = alert_on_run_failure(dg.build_run_status_sensor_context(
        sensor_name="alert_on_run_failure", dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=failure).for_run_failure())
    assert "REPLENIT_ALERT_WEBHOOK_URL is not set" in skip.skip_message


def test_sync_assets_carry_freshness_owners_code_versions_and_say_what_row_count_means(env):  # noqa: F811
    defs = load_defs()
    specs = {k: next(iter(defs.resolve_assets_def(dg.AssetKey(["replenit", k])).specs)) for k in ("customers", "products", "orders")}
    windows = {k: s.freshness_policy.fail_window.to_timedelta().total_seconds() / 3600 for k, s in specs.items()}
    assert windows["products"] == windows["orders"] == 3 and 24 < windows["customers"] <= 30
    for spec in specs.values():
        assert spec.owners and spec.code_version and "`dagster/row_count` is the records" in spec.description
    # A mapping change is a new code version; the same mapping, the same one.
    assert specs["customers"].code_version == next(iter(load_defs().resolve_assets_def(specs["customers"].key).specs)).code_version


def test_warehouse_assets_have_table_names_and_column_schemas_at_definition_time(env):  # noqa: F811
    spec = next(iter(load_defs().resolve_assets_def(dg.AssetKey(["warehouse", "customers_table"])).specs))
    assert spec.metadata["dagster/table_name"] == "small.main.customers"
    columns = {c.name: (c.type, c.description) for c in spec.metadata["dagster/column_schema"].columns}
    assert columns["email"] == ("VARCHAR", "feeds Email") and columns["updated_at"] == ("TIMESTAMP", "the window column")
    assert spec.owners


def test_ui_launches_get_a_named_job_and_runs_execute_in_process(env):  # noqa: F811
    defs = load_defs()
    jobs = sorted(j.name for j in defs.resolve_all_job_defs())
    for asset in (["replenit", "customers"], ["replenit", "products"], ["replenit", "orders"]):
        holding = sorted(j for j in jobs if dg.AssetKey(asset) in defs.resolve_job_def(j).asset_layer.executable_asset_keys)
        assert not holding[0].startswith("__"), holding  # the UI takes the first job, in name order, that holds the asset
    assert defs.resolve_job_def("Sync_customers_daily").executor_def.name == "in_process"
    assert defs.resolve_implicit_global_asset_job_def().executor_def.name == "in_process"
    assert {s.name for s in defs.sensors} >= {"alert_on_run_failure", "alert_on_check_failure"}
    assert all(s.default_status == dg.DefaultScheduleStatus.STOPPED for s in defs.schedules)


def test_the_projects_instance_settings_keep_the_progress_lines_in_the_event_log(env):  # noqa: F811
    import yaml

    settings = yaml.safe_load((Path(__file__).resolve().parents[2] / "dagster.yaml").read_text())
    with dg.instance_for_test(overrides={"python_logs": settings["python_logs"]}) as inst:
        result = run_job("Sync_customers_daily", DAY, inst)
        messages = [e.user_message for e in inst.all_logs(result.run_id)]
    assert result.success
    assert any("customers 2026-11-26 delivered: 3/3 records done" in m for m in messages)
