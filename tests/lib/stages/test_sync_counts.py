"""The run's counts as users chart them: every key present with its value when a stage did not
run (no delivery, no diff, no delete), a delivery's from its report, durations rounded to the
millisecond; and the sentences the run's metadata shows (where a field comes from, what the
send-time check left out)."""

from datetime import timedelta

from replenit_pipelines.lib.delivery.report import DeliveryCounters, DeliveryReport
from replenit_pipelines.lib.stages.report import SyncResult, column_schema, field_origin, newer_elsewhere_note
from replenit_pipelines.lib.stages.retry import Retried
from replenit_pipelines.lib.warehouse import entity_mapping_from_dict
from tests.helpers import CUSTOMER_MAPPING, ORDER_MAPPING, TS, customer_rows, order_rows, run


def bare_result(**kw) -> SyncResult:
    prepared = run(CUSTOMER_MAPPING, [customer_rows()])
    base = dict(
        entity="customers",
        partition_key="2026-11-26",
        window_start=TS,
        window_end=TS + timedelta(days=1),
        prepared=prepared,
        report=None,
        quarantine_share=0.0,
        held_back=False,
        rows_delivered=0,
        rows_dead_lettered=0,
        rows_held_back=0,
        duration_s=1.23456,
    )
    return SyncResult(**{**base, **kw})


def test_a_run_with_no_delivery_no_diff_and_no_delete_counts_zero_for_them():
    counts = bare_result().counts()
    assert counts["rows_read"] == 1
    for key in (
        "requests",
        "rate_limited_429",
        "retries",
        "records_to_delete",
        "records_deleted",
        "records_already_gone",
        "records_delete_failed",
        "records_not_deletable",
        "delete_requests",
        "records_held",
        "rows_held",
        "records_new",
        "records_unchanged",
    ):
        assert counts[key] == 0, key


def test_the_duration_is_rounded_to_the_millisecond():
    assert bare_result(duration_s=1.23456).counts()["duration_s"] == 1.235


def test_a_fields_origin_names_its_cast_and_its_default_only_when_it_has_one():
    mapping = entity_mapping_from_dict(
        "customers",
        {
            "source": {"table": "customers", "window_column": "updated_at"},
            "fields": {"CustomerId": "id", "GdprOptin": {"column": "gdpr", "cast": "bool", "default": False}},
        },
    )
    origins = {f.target: field_origin(f) for f in mapping.fields}
    assert origins["CustomerId"] == "column id"
    assert origins["GdprOptin"] == "column gdpr, cast bool, default False"


def test_the_send_time_note_names_only_the_reasons_that_took_records_out():
    assert newer_elsewhere_note({}) is None
    assert newer_elsewhere_note({"records_newer_elsewhere": 2, "rows_newer_elsewhere": 3}) == (
        "not sent, checked right before their request: 2 because another run stored a version read from the "
        "warehouse after this run's read (3 rows, counted as superseded). Replenit holds the newest read."
    )


def test_a_run_with_no_delivery_sent_nothing():
    counts = bare_result().counts()
    keys = ("records_sent", "records_accepted", "records_rejected", "records_failed", "records_per_request")
    assert {k: counts[k] for k in keys} == dict.fromkeys(keys, 0)


def test_a_delivered_runs_counts_are_its_reports():
    delivery = DeliveryReport("customers", 3, accepted=[0, 2], rejected={1: ["Email: invalid"]},
                              counters=DeliveryCounters(requests=4, rate_limited=1, retries=2))
    counts = bare_result(report=delivery).counts()
    assert {k: counts[k] for k in ("records_sent", "records_accepted", "records_rejected", "requests", "rate_limited_429",
                                   "retries", "records_per_request")} == {
        "records_sent": 3, "records_accepted": 2, "records_rejected": 1, "requests": 4, "rate_limited_429": 1, "retries": 2,
        "records_per_request": 0.5}


def test_the_lookback_and_the_quota_wait_are_rounded_to_the_millisecond():
    delivery = DeliveryReport("customers", 1, accepted=[0], counters=DeliveryCounters(requests=1, quota_wait_s=1.23456))
    counts = bare_result(report=delivery, lookback=timedelta(minutes=90, seconds=1)).counts()
    assert (counts["lookback_hours"], counts["quota_wait_s"]) == (1.5, 1.235)


def test_an_entity_without_children_counts_no_record_without_children():
    assert bare_result().counts()["records_without_children"] == 0


def test_each_payload_columns_origin_is_its_mapping_or_how_the_contract_derives_it():
    origins = [(column, origin) for column, _, origin in column_schema(run(ORDER_MAPPING, order_rows()), ORDER_MAPPING)]
    assert origins == [
        ("OrderId", "column order_id"), ("CustomerId", "column customer_id"), ("Currency", "column currency"),
        ("OrderDate", "column ordered_at"), ("Status", "column status"),
        ("OrderItems", "ProductId <- column product_id; Quantity <- column qty; Price <- column price"),
        ("TotalRevenue", "derived: sum of OrderItems Quantity x Price"), ("TotalQuantity", "derived: sum of OrderItems Quantity"),
        ("UniqueQuantity", "derived: distinct OrderItems ProductId"),
    ]


def test_a_retrys_counts_are_numbers_only_not_the_deferred_identities():
    # `replenit replay --json` prints them beside the run's: no list of identities among the counters.
    counts = Retried(records_retried=2, records_deferred=1, deferred=("customerid:c1",)).counts()
    assert "deferred" not in counts and "report" not in counts
    assert counts["records_deferred"] == 1 and counts["records_retried"] == 2
    assert all(isinstance(v, int) for v in counts.values())
