"""What an operator sees in the Dagster UI (issue 14): partition-scoped checks, checks of a run
stopped by the API, a browsable masked quarantine sample, and no raw personal data in the event log."""

import re
from datetime import datetime

import dagster as dg
import duckdb
import pytest
from helpers import metadata_of
from test_dagster_failures import DAY, checks_of, env, instance, run_job, small_warehouse  # noqa: F401 - fixtures

KEY = dg.AssetKey(["replenit", "customers"])
NEXT_DAY = "2026-11-27"
STRICT_GATE = {"ops": {"replenit__customers": {"config": {"gate": "fixed", "max_quarantine_share": 0.2,
                                                          "min_quarantined_rows": 1}}}}


def partition_status(inst, check_name: str) -> dict:
    infos = inst.event_log_storage.get_asset_check_partition_info([dg.AssetCheckKey(KEY, check_name)])
    return {i.partition_key: i.latest_execution_status.value for i in infos}


def test_one_bad_partition_fails_its_own_checks_and_not_another_ones(env, instance):  # noqa: F811
    bad = run_job("Sync_customers_daily", DAY, instance, STRICT_GATE)  # 25% quarantined: held back
    good = run_job("Sync_customers_daily", NEXT_DAY, instance, STRICT_GATE)  # one clean row
    assert not bad.success and good.success
    assert checks_of(bad, "customers")["quarantine_share"].partition == DAY
    assert partition_status(instance, "quarantine_share") == {DAY: "FAILED", NEXT_DAY: "SUCCEEDED"}
    assert partition_status(instance, "delivery_complete") == {DAY: "FAILED", NEXT_DAY: "SUCCEEDED"}
    held = checks_of(bad, "customers")["delivery_complete"]
    assert "held the window back" in held.description and "re-run" in held.description


def test_every_check_result_says_in_words_what_it_found(env, instance):  # noqa: F811
    result = run_job("Sync_customers_daily", DAY, instance)
    assert result.success
    checks = checks_of(result, "customers")
    assert set(checks) == {"quarantine_share", "delivery_complete", "row_count_in_range", "window_column_not_null"}
    assert all(c.description for c in checks.values())
    assert checks["delivery_complete"].description == "All 3 records sent were accepted."


def test_a_run_refused_by_the_api_records_no_failed_check_it_could_not_judge(env, instance, monkeypatch):  # noqa: F811
    monkeypatch.setenv("REPLENIT_API_KEY", "d3Jvbmcta2V5")  # a key the sandbox does not know: 401
    result = run_job("Sync_customers_daily", DAY, instance)
    assert not result.success
    checks = checks_of(result, "customers")
    assert "delivery_complete" not in checks  # not evaluated: Dagster shows it "Execution failed", not "Failed"
    assert checks["quarantine_share"].passed  # judged before the first request, and fine
    assert not [c for c in checks.values() if not c.passed]
    assert partition_status(instance, "delivery_complete") == {DAY: "PLANNED"}
    logs = " ".join(str(e.user_message) for e in instance.all_logs(result.run_id))
    assert "delivery_complete not evaluated" in logs and "401" in logs


EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
AT_EMAIL = re.compile(r"([\w.+*-]+) at [\w-]+(?:\.[\w-]+)+")  # an address written with " at "
IDENTITY = re.compile(r"\b(?:email|customerid):([^\s,;|'\"\\)\]]+)")  # a record identity, up to a separator
PHONE = re.compile(r"\+\d[\d\s().-]{6,}\d")  # an international number
# Rows whose identity an operator must not see whole: an address written with " at " (an invalid
# email), customers' ids that are an address or a phone number, and plain ids of customers.
DIRTY_CUSTOMERS = [  # customer_id, email, first_name, locale, gdpr, updated_at
    ("c7", "nicole.chevalier480 at correo.example.es", "Nicole", "fr", None, datetime(2026, 11, 26, 11)),
    ("jane.roe at example.org", "not an email", "Jane", "en", None, datetime(2026, 11, 26, 12)),
    ("+447911123456", "also-not-an-email", "Pat", "en", None, datetime(2026, 11, 26, 13)),
    (None, "bob.smith at example.net", "Bob", "en", None, datetime(2026, 11, 26, 14)),
]


def raw_personal_data(text: str) -> list[str]:
    """Every shape of personal data in `text` that is not masked (a masked one carries `***`)."""
    found = [m for m in EMAIL.findall(text) if not m.split("@")[0].endswith("***")]
    found += [m.group(0) for m in AT_EMAIL.finditer(text) if not m.group(1).endswith("***")]
    found += [m.group(0) for m in IDENTITY.finditer(text) if "***" not in m.group(1)]
    found += [m.group(0) for m in PHONE.finditer(text) if "*" not in m.group(0)]
    return found + [digits for digits in ("7911123456", "chevalier480", "jane.roe", "bob.smith") if digits in text]


@pytest.fixture
def dirty_env(env):  # noqa: F811 - the imported fixture
    with duckdb.connect(env["REPLENIT_WAREHOUSE"]) as con:
        con.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)", DIRTY_CUSTOMERS)
    return env


def test_the_quarantine_sample_is_a_masked_table_and_the_event_log_holds_no_raw_personal_data(dirty_env, instance):  # noqa: F811
    result = run_job("Sync_customers_daily", DAY, instance)
    logs = instance.all_logs(result.run_id)
    # The warehouse's addresses, however written, its customers' ids and its phone numbers appear
    # nowhere raw in what Dagster shows: metadata, check results, log lines.
    texts = " ".join(str(e) for e in logs)
    assert "quarantine_sample" in texts and "merged_customers" in texts  # the test reads what Dagster shows
    raw = raw_personal_data(texts)
    assert not raw, raw[:5]
    (mat,) = result.asset_materializations_for_node("replenit__customers")
    table = mat.metadata["quarantine_sample"]
    assert isinstance(table, dg.TableMetadataValue)
    assert [c.name for c in table.schema.columns] == ["rule", "field", "value", "record_id", "source_row"]
    rows = [r.data for r in table.records]
    assert rows and rows[0]["field"] == "Email" and rows[0]["value"] == "n***"  # c3's "not-an-email"
    # Each identity masked whatever its shape.
    assert sorted(r["record_id"] for r in rows) == ["customerid:+44********56", "customerid:c***", "customerid:c***",
                                                     "customerid:j*** a*** e***", "row 8"]
    # c4 shares c1's address: merged, shown masked on the materialization and warned about in the log.
    md = metadata_of(mat)
    assert (md["rows_merged"], md["records_merged"]) == (1, 1)
    assert "| email:a***@example.com | c*** | c*** | 1 |" in md["merged_customers"]
    assert any("1 customer (1 row) shares an email" in str(e.user_message) for e in logs)


def test_the_shapes_the_event_log_test_looks_for_are_found_when_raw():
    text = ("email:ada@example.com customerid:c7 email:nicole.chevalier480 at correo.example.es "
            "+44 7911 123456 bob.smith at example.net")
    assert len(raw_personal_data(text)) >= 6
    assert raw_personal_data("email:a***@example.com customerid:c*** n*** at correo.example.es +44*********56 "
                             "2026-11-26T14:00:00+00:00 run 1a2b3c4d") == []
