"""`replenit state`: the full quarantine and dead letters where the deployment runs, with a
one-line error that says what to fix (issue 14's browsable quarantine)."""

import polars as pl

from replenit_pipelines import cli
from replenit_pipelines.lib.state import DuckDBStateStore


def test_a_missing_state_store_says_which_folder_to_set(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPLENIT_STATE_DIR", str(tmp_path / "nowhere"))
    assert cli.main(["state"]) != 0
    err = capsys.readouterr().err
    assert "no state store at" in err and "REPLENIT_STATE_DIR" in err and "Traceback" not in err


def test_bad_sql_names_the_tables_and_good_sql_shows_the_rows(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPLENIT_STATE_DIR", str(tmp_path / "state"))
    quarantine = pl.DataFrame({"record_id": ["c3"], "source_row": [2], "rule": ["email_format"], "field": ["Email"],
                               "value": ["not-an-email"]}, schema_overrides={"source_row": pl.UInt32})
    dead = pl.DataFrame(schema={"record_id": pl.String, "status": pl.String, "reasons": pl.List(pl.String), "payload": pl.String})
    DuckDBStateStore(tmp_path / "state" / "state.duckdb").record("r1", "2026-11-26", "customers", quarantine, dead, {})
    assert cli.main(["state", "SELEC rule FROM quarantine"]) != 0
    err = capsys.readouterr().err
    assert "the SQL did not run" in err and "tables: quarantine, dead_letters, sync_runs" in err and "Traceback" not in err
    assert cli.main(["state", "SELECT rule, value FROM quarantine WHERE run_id = 'r1'"]) == 0
    assert "not-an-email" in capsys.readouterr().out  # the full value, where the deployment runs
