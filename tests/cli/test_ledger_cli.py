"""`replenit state` shows the ledgers and retry queues; `replenit replay` re-sends queued records
after a fix (issue 11). The real CLI entry point, the sandbox over HTTP, real ledgers."""

import re
from datetime import UTC, datetime, timedelta

import duckdb
import httpx
import polars as pl
import pytest
from helpers import CUSTOMER_MAPPING

from replenit_pipelines import cli
from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.ledger import SqliteLedger
from replenit_pipelines.lib.sandbox import Sandbox
from replenit_pipelines.lib.state import DuckDBStateStore
from replenit_pipelines.lib.sync import SyncRequest, sync_window
from replenit_pipelines.lib.warehouse import Warehouse

DAY = datetime(2026, 11, 26, tzinfo=UTC)


@pytest.fixture
def exhausted(tmp_path, monkeypatch):
    """Three customers whose deliveries failed until they need a person; the API has recovered since."""
    rows = [{"id": f"c{i}", "email": f"user{i}@example.com", "name": "U", "phone": None, "locale": "en-GB", "gdpr": True,
             "updated_at": (DAY + timedelta(hours=1)).replace(tzinfo=None)} for i in range(3)]
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.register("f", pl.DataFrame(rows).to_arrow())
        con.execute("CREATE TABLE customers AS SELECT * FROM f")
    state = tmp_path / "state"
    with Sandbox(limits=[]) as sb:
        tenant_id, key = sb.add_tenant()
        httpx.post(f"{sb.url}/_sandbox/config", json={"faults": {"p500": 1.0}})
        with ReplenitClient(ClientConfig(base_url=sb.url, tenant_id=tenant_id, api_key=key, limits=(), max_attempts=1,
                                         quota_dir=str(tmp_path / "quota"))) as client:
            for day in (DAY, DAY + timedelta(days=1)):  # failed once, then exhausted by the next run
                with SqliteLedger.open(state, sb.url, tenant_id, "customers") as ledger:
                    sync_window(SyncRequest(mapping=CUSTOMER_MAPPING, warehouse=Warehouse(tmp_path / "wh.duckdb"),
                                            client=client, store=DuckDBStateStore(state / "state.duckdb"), start=day,
                                            end=day + timedelta(days=1), partition_key=str(day.date()), run_id=str(day),
                                            ledger=ledger, retry_max_attempts=1))
        httpx.post(f"{sb.url}/_sandbox/config", json={"faults": {"p500": 0.0}})
        for k, v in {"REPLENIT_BASE_URL": sb.url, "REPLENIT_TENANT_ID": tenant_id, "REPLENIT_API_KEY": key,
                     "REPLENIT_STATE_DIR": str(state), "REPLENIT_LIMITS": "100/60"}.items():
            monkeypatch.setenv(k, v)
        yield sb, tenant_id


def test_state_shows_the_ledger_and_the_retry_queue(exhausted, capsys):
    assert cli.main(["state"]) == 0
    out = capsys.readouterr().out
    assert "Ledgers" in out and "needs_attention" in out and "customers" in out
    assert cli.main(["state", "--retries", "customers"]) == 0
    out = capsys.readouterr().out
    assert "email:user0@example.com" in out and "500" in out


def test_state_retries_of_a_mistyped_entity_exits_2_instead_of_an_empty_queue(exhausted, capsys):
    """`state --retries custmers` printed '(none)' and exited 0 while three customers waited in the
    queue: a typo read as 'nothing failed'."""
    for fmt in ([], ["--json"]):
        assert cli.main(["state", "--retries", "custmers", *fmt]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "state --retries: unknown entity 'custmers'; expected one of customers, orders, products" in captured.err


def test_replay_dry_run_sends_nothing_then_replay_delivers(exhausted, capsys):
    sb, tenant_id = exhausted
    def posts() -> int:
        return sum(1 for r in httpx.get(f"{sb.url}/_sandbox/requests").json() if tenant_id in r["path"])

    before = posts()
    assert cli.main(["replay", "customers", "--status", "needs_attention", "--dry-run"]) == 0
    assert "would re-send 3 records" in capsys.readouterr().out and posts() == before
    assert cli.main(["replay", "customers", "--status", "needs_attention", "--identity", "email:user1@example.com"]) == 0
    assert re.search(r"re-sent 1 record in 1 request\n  delivered +1 record\n", capsys.readouterr().out)
    assert cli.main(["replay", "customers"]) == 0
    assert re.search(r"delivered +2 records", capsys.readouterr().out)
    stored = httpx.get(f"{sb.url}/_sandbox/records/{tenant_id}/customers").json()
    assert len(stored) == 3
    assert cli.main(["replay", "customers"]) == 0  # nothing left to do
    assert "re-sent 0 records" in capsys.readouterr().out


def test_replay_of_an_unknown_entity_says_which_exist(capsys):
    assert cli.main(["replay", "customer"]) == 2
    assert "expected one of customers, orders, products" in capsys.readouterr().err


def test_the_replay_job_delivers_what_needs_attention(exhausted, monkeypatch, tmp_path):
    import dagster as dg

    sb, tenant_id = exhausted
    monkeypatch.setenv("REPLENIT_WAREHOUSE", str(tmp_path / "wh.duckdb"))
    monkeypatch.delenv("REPLENIT_MAPPING", raising=False)
    from replenit_pipelines.definitions import defs

    job = defs().resolve_job_def("replay_queued")
    config = {"ops": {"replay_queued_records": {"config": {"entity": "customers", "status": "needs_attention"}}}}
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, run_config=config, raise_on_error=False)
        assert result.success
        observed = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
        md = observed[0].event_specific_data.asset_observation.metadata
        assert md["replay"].value["records_retry_accepted"] == 3
    assert len(httpx.get(f"{sb.url}/_sandbox/records/{tenant_id}/customers").json()) == 3


def test_replay_says_which_re_sent_records_the_api_rejected_with_this_very_payload(exhausted, capsys):
    # A rejected entry (400) beside the three that failed: re-sent unchanged it is rejected again unless
    # Replenit's validation changed, so the dry run (and the run) say so, and what to do instead.
    from replenit_pipelines.lib.ledger import failures_to_queue
    from replenit_pipelines.lib.settings import Settings

    sb, tenant_id = exhausted
    payload = b'{"CustomerId":"c9","Email":"user9@example.com"}'
    with SqliteLedger.open(Settings.from_env().state_dir, sb.url, tenant_id, "customers") as ledger:
        ledger.queue_failures(failures_to_queue(["email:user9@example.com"], [payload], [b"h" * 16], ["rejected"],
                                                ["[0].Email: refused"], "run-x", [None]))
    assert cli.main(["replay", "customers", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would re-send 4 records" in out
    assert "of those to re-send: 1 the API rejected (400) with this very payload" in out
    assert "a sync sends the fixed version instead, and --status failed re-sends only the failed ones" in out
    assert cli.main(["replay", "customers", "--status", "needs_attention", "--dry-run"]) == 0
    assert "rejected (400)" not in capsys.readouterr().out  # only what needs attention: none of them rejected


def test_the_replay_job_of_an_identity_not_queued_fails_and_sends_nothing(exhausted, monkeypatch, tmp_path):
    """As `replay --identity nosuch` (exit 2): the job succeeded with '0 queued records re-sent', as
    if the record had been delivered."""
    import dagster as dg

    sb, tenant_id = exhausted
    monkeypatch.setenv("REPLENIT_WAREHOUSE", str(tmp_path / "wh.duckdb"))
    monkeypatch.delenv("REPLENIT_MAPPING", raising=False)
    from replenit_pipelines.definitions import defs

    before = len(httpx.get(f"{sb.url}/_sandbox/requests").json())
    job = defs().resolve_job_def("replay_queued")
    config = {"ops": {"replay_queued_records": {"config": {"entity": "customers", "identities": ["nosuch"]}}}}
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, run_config=config, raise_on_error=False)
        assert not result.success
        failure = result.failure_data_for_node("replay_queued_records").error
        assert "'nosuch' is not in the retry queue of customers; it holds 3 records" in failure.message
    assert len(httpx.get(f"{sb.url}/_sandbox/requests").json()) == before
