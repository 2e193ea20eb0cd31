"""A record held because the API rejected this same content before (lib/stages/diff.py) counts in
its own share of a run's counts (lib/stages/lookback.py): in the lookback when its newest change is
before the partition, as dead-lettered there, never as unchanged. Real sandbox over HTTP, real
DuckDB warehouse and ledger file."""

from datetime import timedelta

from test_ledger_sync import DAY, NEXT, Rig, customers

from replenit_pipelines.lib.ledger import failures_to_queue
from replenit_pipelines.lib.stages.lookback import closes, window_counts


def test_a_record_held_in_the_lookback_counts_there_as_dead_lettered_not_unchanged(sandbox, tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    rig = Rig(sandbox, tmp_path)
    try:
        rig.load(customers(3))  # all changed on DAY
        planned, _ = rig.sync(DAY, dry_run=True)  # the payloads and hashes a real run would send
        d = planned.diff
        assert d is not None and d.keys[1] == "email:user1@example.com"
        with rig.ledger() as ledger:  # an earlier run's request was refused (400) with this very content
            ledger.queue_failures(failures_to_queue([d.keys[1]], [d.parts[1]], [d.hashes[1]], ["rejected"],
                                                    ["Email: refused"], "run-0"))
        # The next day's run reads DAY again as its lookback: user1 held, the two others delivered.
        result, sent = rig.sync(NEXT, lookback=timedelta(days=1))
        assert [r["records"] for r in sent] == [2] and result.counts()["records_held"] == 1
        own, lookback = window_counts(result)
        assert (lookback["rows_read"], lookback["rows_delivered"], lookback["rows_dead_lettered"], lookback["rows_unchanged"],
                lookback["records_unchanged"]) == (3, 2, 1, 0, 0)
        assert closes(lookback) and (own["rows_read"], own["rows_dead_lettered"], own["rows_unchanged"]) == (0, 0, 0)
    finally:
        rig.client.close()


def test_a_window_the_gate_holds_back_counts_its_lookbacks_valid_rows_held_back_there(sandbox, tmp_path, monkeypatch):
    """The quarantine gate holds the whole run back (lookback included): each half's valid rows are
    its own rows held back, and each half closes."""
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    rig = Rig(sandbox, tmp_path)
    try:
        # The lookback (DAY): 10 clean customers. The window (NEXT): 40, 30 of them with a locale that
        # is no language tag: 30 of 50 rows quarantined, above the gate's 50% ceiling.
        bad = {f"c{i}": {"locale": "not a language tag at all"} for i in range(10, 40)}
        rig.load(customers(10) + customers(40, at=NEXT, first=10, **bad))
        result, sent = rig.sync(NEXT, lookback=timedelta(days=1))
        assert result.held_back and sent == []
        own, lookback = window_counts(result)
        assert (lookback["rows_read"], lookback["rows_valid"], lookback["rows_held_back"], lookback["rows_quarantined"],
                lookback["records_valid"]) == (10, 10, 10, 0, 10)
        assert (own["rows_read"], own["rows_valid"], own["rows_held_back"], own["rows_quarantined"]) == (40, 10, 10, 30)
        assert closes(lookback) and closes(own)
    finally:
        rig.client.close()
