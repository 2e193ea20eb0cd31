"""A reconciliation's dry run (`replenit sync ENTITY --all --dry-run`, a first load's rehearsal)
says why rows would be quarantined: it records nothing in the state store, so its summary printed
`quarantined 2,998 rows (100.0%)` with no reason at all (theLook's `Status: status`, every
'Complete' refused by the contract's choices). Its reasons are the chunks' own, summed. Real
sandbox, real DuckDB warehouse, real SQLite ledger."""

from test_ledger_sync import customers
from test_reconcile import Rig

from replenit_pipelines.commands_sync import quarantine_reasons
from replenit_pipelines.lib.plan.summary import reconcile_summary


def test_a_dry_run_of_the_whole_source_gives_its_quarantines_reasons_summed_over_the_chunks(sandbox, tmp_path):
    rig = Rig(sandbox, tmp_path)
    try:
        rows = customers(30)
        for i in (2, 12, 22, 25):  # in each of the three chunks of 10
            rows[i]["locale"] = "zzz"
        rows[15]["email"] = "jane.doe at example.com"
        rig.load(rows)
        result, sent = rig.reconcile(dry_run=True, chunk_rows=10)
        assert result.chunks == 3 and sent == [] and result.counts()["rows_quarantined"] == 5
        assert [(r.rule, r.field, r.rows) for r in quarantine_reasons(result, None, result.run_id)] == [
            ("language", "Language", 4), ("email", "Email", 1)]
        top = reconcile_summary(result)["quarantine_top_reasons"]
        assert [(r["rule"], r["field"], r["rows"]) for r in top] == [("language", "Language", 4), ("email", "Email", 1)]
        assert top[1]["example"] == "j*** a*** e***"  # masked: a plan lands in Dagster's event log
    finally:
        rig.client.close()
