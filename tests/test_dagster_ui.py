"""What an operator sees in the Dagster UI (issue 14): partition-scoped checks, checks of a run
stopped by the API, a browsable masked quarantine sample, and no raw personal data in the event log."""

import re

import dagster as dg
from test_dagster_failures import DAY, checks_of, env, instance, run_job, small_warehouse  # noqa: F401 - fixtures

KEY = dg.AssetKey(["replenit", "customers"])
NEXT_DAY = "2026-11-27"
STRICT_GATE = {"ops": {"replenit__customers": {"config": {"gate": "fixed", "max_quarantine_share": 0.2,
                                                          "min_quarantined_rows": 1}}}}


def partition_status(inst, check_name: str) -> dict:
    infos = inst.event_log_storage.get_asset_check_partition_info([dg.AssetCheckKey(KEY, check_name)])
    return {i.partition_key: i.latest_execution_status.value for i in infos}


def test_one_bad_partition_fails_its_own_checks_and_not_another_ones(env, instance):  # noqa: F811
    bad = run_job("customers_daily_sync", DAY, instance, STRICT_GATE)  # 25% quarantined: held back
    good = run_job("customers_daily_sync", NEXT_DAY, instance, STRICT_GATE)  # one clean row
    assert not bad.success and good.success
    assert checks_of(bad, "customers")["quarantine_share"].partition == DAY
    assert partition_status(instance, "quarantine_share") == {DAY: "FAILED", NEXT_DAY: "SUCCEEDED"}
    assert partition_status(instance, "delivery_complete") == {DAY: "FAILED", NEXT_DAY: "SUCCEEDED"}
    held = checks_of(bad, "customers")["delivery_complete"]
    assert "held the window back" in held.description and "re-run" in held.description


def test_every_check_result_says_in_words_what_it_found(env, instance):  # noqa: F811
    result = run_job("customers_daily_sync", DAY, instance)
    assert result.success
    checks = checks_of(result, "customers")
    assert set(checks) == {"quarantine_share", "delivery_complete", "row_count_in_range", "window_column_not_null"}
    assert all(c.description for c in checks.values())
    assert checks["delivery_complete"].description == "All 3 records sent were accepted."


def test_a_run_refused_by_the_api_records_no_failed_check_it_could_not_judge(env, instance, monkeypatch):  # noqa: F811
    monkeypatch.setenv("REPLENIT_API_KEY", "d3Jvbmcta2V5")  # a key the sandbox does not know: 401
    result = run_job("customers_daily_sync", DAY, instance)
    assert not result.success
    checks = checks_of(result, "customers")
    assert "delivery_complete" not in checks  # not evaluated: Dagster shows it "Execution failed", not "Failed"
    assert checks["quarantine_share"].passed  # judged before the first request, and fine
    assert not [c for c in checks.values() if not c.passed]
    assert partition_status(instance, "delivery_complete") == {DAY: "PLANNED"}
    logs = " ".join(str(e.user_message) for e in instance.all_logs(result.run_id))
    assert "delivery_complete not evaluated" in logs and "401" in logs


EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


def test_the_quarantine_sample_is_a_masked_table_and_the_event_log_holds_no_raw_email(env, instance):  # noqa: F811
    result = run_job("customers_daily_sync", DAY, instance)
    (mat,) = result.asset_materializations_for_node("replenit__customers")
    table = mat.metadata["quarantine_sample"]
    assert isinstance(table, dg.TableMetadataValue)
    assert [c.name for c in table.schema.columns] == ["rule", "field", "value", "record_id", "source_row"]
    rows = [r.data for r in table.records]
    assert rows and rows[0]["field"] == "Email" and rows[0]["value"] == "n***"  # c3's "not-an-email"
    # The warehouse's addresses (ada@example.com, bob@example.org, ...) appear nowhere raw.
    texts = " ".join(str(e) for e in instance.all_logs(result.run_id))
    raw = [m for m in EMAIL.findall(texts) if not m.split("@")[0].endswith("***")]
    assert not raw, raw[:5]
