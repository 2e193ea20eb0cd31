"""The ledger's tables as `create_tables` writes them for each database (lib/ledger/sql.py), run
against a real one: on SQLite the keyed tables are their key's B-tree (WITHOUT ROWID) and the log
numbers its acknowledgements itself; on Postgres every table carries the ledger's id, in its key."""

import sqlite3

import psycopg

from replenit_pipelines.lib.ledger.sql import POSTGRES, SQLITE, create_tables


def test_sqlite_tables_number_the_log_and_store_the_keyed_tables_by_their_key(tmp_path):
    con = sqlite3.connect(tmp_path / "ledger.sqlite")
    for statement in create_tables(SQLITE):
        con.execute(statement)
    con.executemany("INSERT INTO acks (identity, idkey, hash, acked_at) VALUES (?, 1, x'00', 1)", [("a",), ("b",)])
    assert con.execute("SELECT seq, identity FROM acks ORDER BY seq").fetchall() == [(1, "a"), (2, "b")]
    ddl = dict(con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
    con.close()
    assert {name for name, sql in ddl.items() if sql.endswith(" WITHOUT ROWID")} == {
        "ledger",
        "retries",
        "ack_runs",
        "payloads",
        "payload_dicts",
    }


def test_postgres_tables_are_scoped_by_the_ledger_id(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as con:
        for statement in create_tables(POSTGRES):
            con.execute(statement)
        con.execute(
            "INSERT INTO ledger_entries (ledger_id, identity, idkey, hash, acked_at) VALUES (1, 'a', 1, '\\x00', 1), "
            "(2, 'a', 1, '\\x00', 1)"
        )
        keys = con.execute(
            "SELECT tc.table_name, string_agg(k.column_name, ', ' ORDER BY k.ordinal_position) "
            "FROM information_schema.table_constraints tc JOIN information_schema.key_column_usage k "
            "USING (constraint_name, table_name) WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_name LIKE 'ledger%' GROUP BY tc.table_name"
        ).fetchall()
    assert dict(keys) == {
        "ledger_entries": "ledger_id, identity",
        "ledger_retries": "ledger_id, identity",
        "ledger_ack_runs": "ledger_id, run_id",
        "ledger_payloads": "ledger_id, identity",
        "ledger_payload_dicts": "ledger_id, dict_id",
    }
