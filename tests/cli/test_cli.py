"""`replenit state` and the one state folder every entry point shares."""

from datetime import UTC, datetime

import polars as pl
import pytest

from replenit_pipelines import cli
from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient
from replenit_pipelines.lib.state import DuckDBStateStore
from replenit_pipelines.lib.sync.run import DEAD_LETTER_SCHEMA


@pytest.fixture
def no_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("REPLENIT_STATE_DIR", "REPLENIT_DEMO_DIR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _quarantine_row() -> pl.DataFrame:
    return pl.DataFrame({"record_id": ["c7"], "source_row": [3], "rule": ["email"], "field": ["Email"], "value": ["nope"]},
                        schema={"record_id": pl.String, "source_row": pl.UInt32, "rule": pl.String, "field": pl.String,
                                "value": pl.String})


def test_state_with_no_environment_finds_what_a_sync_wrote_with_no_environment(no_env, capsys):
    from replenit_pipelines.definitions import defs

    # The state store the Dagster definitions give a sync when nothing is set.
    store = defs().resources["state"].store()
    store.record("run-1", "2026-11-26", "customers", _quarantine_row(), pl.DataFrame(schema=DEAD_LETTER_SCHEMA),
                 {"outcome": "delivered", "rows_read": 1, "window_start": datetime(2026, 11, 26, tzinfo=UTC)})
    code = cli.main(["state", "SELECT run_id, record_id, rule FROM quarantine"])
    out = capsys.readouterr().out
    assert code == 0 and "run-1" in out and "c7" in out


def test_a_client_with_no_environment_spends_from_the_ledger_dagster_uses(no_env, sandbox, tenant):
    client = ReplenitClient(ClientConfig(base_url=sandbox.url, tenant_id=tenant[0], api_key=tenant[1]))
    assert client.quota.ledger.parent == no_env / ".replenit" / "quota"


def test_state_with_a_sql_typo_says_so_in_one_line(no_env, capsys, monkeypatch):
    monkeypatch.setenv("REPLENIT_STATE_DIR", str(no_env / "st"))

    DuckDBStateStore(no_env / "st" / "state.duckdb")
    code = cli.main(["state", "SELEC * FROM quarantine"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert 'syntax error at or near "SELEC"' in err and "quarantine, dead_letters, sync_runs" in err
    code = cli.main(["state", "SELECT * FROM quarantin"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "quarantin" in err


def test_state_without_a_store_names_the_folder_and_the_variable(no_env, capsys):
    code = cli.main(["state"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert str(no_env / ".replenit" / "state.duckdb") in err and "REPLENIT_STATE_DIR" in err


def test_state_retries_without_a_state_folder_says_there_is_no_state(no_env, capsys):
    """With REPLENIT_STATE_DIR unset (or mistyped) `state --retries customers` printed '(none)' and
    exited 0: an empty queue, as if nothing had failed, read from a folder no sync ever wrote."""
    code = cli.main(["state", "--retries", "customers"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert str(no_env / ".replenit" / "state.duckdb") in captured.err and "REPLENIT_STATE_DIR" in captured.err


def test_replay_without_a_state_folder_says_there_is_no_state_and_makes_none(no_env, sandbox, tenant, capsys, monkeypatch):
    """With REPLENIT_STATE_DIR unset (or mistyped) `replay customers` said 'nothing to do', exit 0, and
    made an empty state folder there, while the records waited in the folder the syncs write to."""
    tenant_id, key = tenant
    for name, value in {"REPLENIT_BASE_URL": sandbox.url, "REPLENIT_TENANT_ID": tenant_id, "REPLENIT_API_KEY": key}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    code = cli.main(["replay", "customers"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert str(no_env / ".replenit" / "state.duckdb") in captured.err and "REPLENIT_STATE_DIR" in captured.err
    assert not (no_env / ".replenit").exists()


def test_state_with_no_environment_reads_the_demo_store_when_there_is_no_other(no_env, capsys):

    DuckDBStateStore(no_env / ".replenit" / "demo" / "state" / "state.duckdb").record(
        "demo-run", "2026-11-26", "customers", _quarantine_row(), pl.DataFrame(schema=DEAD_LETTER_SCHEMA), {"outcome": "delivered"})
    code = cli.main(["state", "SELECT run_id FROM quarantine"])
    captured = capsys.readouterr()
    assert code == 0 and "demo-run" in captured.out and "reading the demo's" in captured.err
