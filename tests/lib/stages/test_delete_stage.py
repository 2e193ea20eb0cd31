"""The delete stage (lib/stages/delete.py) on its own: the guard's refusal says how to allow the run
(a guard of no deletes at all included), a stop (a refused key) during the deletes is returned with
what was done, the ledger untouched; a dry run sends none and says so; the deletes report progress."""

from contextlib import closing

import httpx
import polars as pl
import pytest

from replenit_pipelines.lib.delivery import BatchProgress, ClientConfig, ReplenitClient, ReplenitStopError
from replenit_pipelines.lib.ledger import open_ledger
from replenit_pipelines.lib.stages.delete import (
    Deleted,
    DeleteGuard,
    DeletePlan,
    check_guard,
    deleted_flag,
    finish_deletes,
    plan_deletes,
    send_deletes,
)

# The run config's wording (lib/sync/run.py SyncRequest.how_to_allow_deletes).
HOW_TO_ALLOW = "run config max_delete_share: {share:.2f} and max_delete_count: {count}"


def plan_of(n: int, ledger_size: int) -> DeletePlan:
    plan = DeletePlan("customers", ledger_size=ledger_size)
    plan.identities = [f"customerid:c{i}" for i in range(n)]
    plan.api_ids, plan.reasons = [f"c{i}" for i in range(n)], ["absent"] * n
    return plan


def test_a_refusal_over_the_count_names_the_settings_that_would_allow_this_run():
    message = check_guard(plan_of(12, 1_000), DeleteGuard(max_share=0.5, max_count=10), 988, True, HOW_TO_ALLOW)
    assert message is not None and message.startswith("refused: it would delete 12 customers (12 absent from the source")
    assert message.endswith("(1.2%), over the guard of 50% of the ledger or 10 records per run; nothing was sent. "
                            "If the source is right, allow it for this run with "
                            "run config max_delete_share: 0.50 and max_delete_count: 12")


def test_a_refusal_of_a_few_names_them_all_without_an_ellipsis():
    # At most SAMPLE (5) identities: all named, masked, and nothing after the last but the share.
    message = check_guard(plan_of(2, 10), DeleteGuard(max_share=0.05, max_count=1_000), 8, True, HOW_TO_ALLOW)
    assert message == ("refused: it would delete 2 customers (2 absent from the source, 0 flagged deleted) of the 10 the "
                       "ledger holds, e.g. customerid:c***, customerid:c*** (20.0%), over the guard of 5% of the ledger or "
                       "1,000 records per run; nothing was sent. If the source is right, allow it for this run with "
                       "run config max_delete_share: 0.20 and max_delete_count: 1000")


def test_a_refusal_over_the_share_keeps_the_larger_count_allowed():
    message = check_guard(plan_of(3, 10), DeleteGuard(max_share=0.05, max_count=1_000), 7, True, HOW_TO_ALLOW)
    assert message is not None
    assert message.endswith("allow it for this run with run config max_delete_share: 0.30 and max_delete_count: 1000")


def test_a_refused_key_during_the_deletes_is_returned_as_the_stop_with_nothing_forgotten(sandbox, tenant, tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    tenant_id, _key = tenant
    client = ReplenitClient(ClientConfig(base_url=sandbox.url, tenant_id=tenant_id, api_key="not-the-key", limits=(),
                                         quota_dir=str(tmp_path / "quota"), backoff_base_s=0.01, backoff_cap_s=0.05))
    plan = plan_of(3, 3)
    with closing(client), closing(open_ledger(tmp_path, sandbox.url, tenant_id, "customers")) as ledger:
        ledger.acknowledge(plan.identities, [bytes(16)] * 3, "run-1", api_ids=plan.api_ids)
        deleted, stop = send_deletes(client, ledger, plan)
        assert isinstance(stop, ReplenitStopError) and stop.status == 401
        assert (deleted.records_to_delete, deleted.records_deleted, deleted.records_already_gone) == (3, 0, 0)
        assert deleted.requests == 1  # the first DELETE was refused; nothing more was sent
        assert ledger.size() == 3  # none forgotten: a later run deletes them


def test_a_guard_of_no_deletes_at_all_is_allowed_and_refuses_the_first():
    no_deletes = DeleteGuard(max_share=1.0, max_count=0)  # a run config may forbid deletes outright
    message = check_guard(plan_of(1, 1_000), no_deletes, 999, True, HOW_TO_ALLOW)
    assert message is not None and message.endswith("run config max_delete_share: 1.00 and max_delete_count: 1")
    with pytest.raises(ValueError, match=r"^max_delete_count must be 0 or more, not -1$"):
        DeleteGuard(max_count=-1)


def sandbox_requests(sandbox, tenant_id: str) -> list[dict]:
    return [r for r in httpx.get(f"{sandbox.url}/_sandbox/requests").json() if tenant_id in r["path"]]


def test_a_dry_run_sends_no_delete_and_says_so(sandbox, tenant, tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    tenant_id, key = tenant
    plan = plan_of(3, 3)
    flagged = pl.DataFrame({"identity": plan.identities, "rows": [1, 2, 1]})
    with closing(ReplenitClient(ClientConfig(base_url=sandbox.url, tenant_id=tenant_id, api_key=key, limits=(),
                                             quota_dir=str(tmp_path / "quota")))) as client, \
            closing(open_ledger(tmp_path, sandbox.url, tenant_id, "customers")) as ledger:
        ledger.acknowledge(plan.identities, [bytes(16)] * 3, "run-1", api_ids=plan.api_ids)
        done, stop = finish_deletes(client, ledger, plan, flagged, 4, held_back=False, stop=None, dry_run=True)
        assert stop is None and done.deleted.skipped == "dry run"
        assert (done.rows_deleted, done.rows_held, done.rows_failed, done.deleted.records_to_delete) == (4, 0, 0, 3)
        assert ledger.size() == 3 and sandbox_requests(sandbox, tenant_id) == []


def test_the_deletes_report_their_progress(sandbox, tenant, tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    tenant_id, key = tenant
    plan = plan_of(3, 3)
    events: list[BatchProgress] = []
    with closing(ReplenitClient(ClientConfig(base_url=sandbox.url, tenant_id=tenant_id, api_key=key, limits=(),
                                             quota_dir=str(tmp_path / "quota")))) as client, \
            closing(open_ledger(tmp_path, sandbox.url, tenant_id, "customers")) as ledger:
        ledger.acknowledge(plan.identities, [bytes(16)] * 3, "run-1", api_ids=plan.api_ids)
        done, stop = finish_deletes(client, ledger, plan, pl.DataFrame({"identity": plan.identities, "rows": [1, 1, 1]}), 3,
                                    held_back=False, stop=None, dry_run=False, progress=events.append)
        assert stop is None and done.deleted.records_already_gone == 3 and ledger.size() == 0  # 404: already gone, done
    assert events, "no progress reported"
    last = events[-1]
    assert (last.entity, last.records_done, last.records_total, last.accepted, last.failed) == ("customers", 3, 3, 3, 0)


def test_a_text_deleted_flag_is_set_unless_blank_or_a_word_for_no():
    values = ["false", " FALSE ", "f", "0", "No", "n", "", None, "true", "1", "yes", "2026-11-26 10:00"]
    flags = pl.DataFrame({"deleted": values}).select(deleted_flag("deleted", pl.String()))["deleted"].to_list()
    assert dict(zip(values, flags, strict=True)) == {
        "false": False, " FALSE ": False, "f": False, "0": False, "No": False, "n": False, "": False, None: False,
        "true": True, "1": True, "yes": True, "2026-11-26 10:00": True}


def test_a_customer_without_a_recorded_id_is_deleted_by_the_id_its_customerid_identity_holds(tmp_path, monkeypatch):
    # A ledger written before it recorded the id each DELETE takes: a `customerid:` identity holds
    # it, an email identity does not (its delete is dead-lettered, never sent to a made-up id).
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    with closing(open_ledger(tmp_path, "http://127.0.0.1:8765", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "customers")) as ledger:
        ledger.acknowledge(["customerid:c1", "email:ann@example.com"], [bytes(16)] * 2, "run-1")
        ledger.acknowledge(["customerid:c3"], [bytes(16)], "run-2", api_ids=["C-3"])
        absent = pl.DataFrame({"identity": ["customerid:c1", "email:ann@example.com", "customerid:c3"]})
        plan = plan_deletes(ledger, pl.DataFrame(schema={"identity": pl.String, "api_id": pl.String}), absent)
    assert list(zip(plan.identities, plan.api_ids, plan.reasons, strict=True)) == [
        ("customerid:c1", "c1", "absent"), ("email:ann@example.com", None, "absent"), ("customerid:c3", "C-3", "absent")]


def test_four_undone_deletes_are_four_dead_letters_each_with_why():
    # Four rows of four columns (DEAD_LETTER_SCHEMA): read as rows, not guessed as columns.
    deleted = Deleted(failed_identities=["customerid:c1", "customerid:c2"], failed_reasons=["HTTP 503", "timeout"],
                      not_deletable_identities=["email:a@x.com", "email:b@x.com"])
    letters = deleted.dead_letters("customers")
    assert letters.select("record_id", "status").rows() == [
        ("customerid:c1", "delete_failed"), ("customerid:c2", "delete_failed"),
        ("email:a@x.com", "not_deletable"), ("email:b@x.com", "not_deletable")]
    assert letters["reasons"][1].to_list() == [
        "delete failed after retries: timeout; the next run's deletes (this partition's lookback, or a reconciliation) "
        "plan it again"]
    assert letters["payload"].null_count() == 4
