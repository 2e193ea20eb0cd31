"""`replenit push` refuses what the API would refuse and says which record, which field and what
value: the quarantine row holds the record's identity (Email for a customer without CustomerId),
the field's path (a child's index included) and its raw value (whole up to 200 characters)."""

import json

import duckdb

from replenit_pipelines import cli
from replenit_pipelines.lib.sandbox import Sandbox


def push_and_read_quarantine(capsys, tmp_path, entity: str, records: list[dict]) -> tuple[dict, list[tuple]]:
    path = tmp_path / f"{entity}.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in records))
    cli.main(["push", entity, str(path), "--json"])
    summary = json.loads(capsys.readouterr().out)
    with duckdb.connect(str(tmp_path / "state" / "state.duckdb"), read_only=True) as con:
        rows = con.sql("SELECT record_id, source_row, rule, field, value FROM quarantine WHERE run_id = ? "
                       "ORDER BY source_row, field", params=[summary["run_id"]]).fetchall()
    return summary, rows


def test_a_refused_customer_is_named_by_its_email_when_it_has_no_customer_id(push_env, capsys, tmp_path):
    with Sandbox(limits=[]) as sb:
        push_env(sb)
        summary, rows = push_and_read_quarantine(capsys, tmp_path, "customers", [
            {"CustomerId": "c1", "Email": "c1@example.com", "Name": "n" * 101},
            {"Email": "ada@example.com", "Name": "n" * 101},
        ])
    assert [(r["index"], r["id"], r["status"]) for r in summary["not_accepted"]] == [
        (0, "c1", "refused"), (1, "ada@example.com", "refused")]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("c1", 0, "max_length", "Name"), ("ada@example.com", 1, "max_length", "Name")]


def test_a_refused_child_field_keeps_its_raw_value_and_values_up_to_200_characters_whole(push_env, capsys, tmp_path):
    item = {"ProductId": "p1", "Quantity": 1, "Price": 2.5}
    order = {"OrderId": "o1", "CustomerId": "c1", "Currency": "EUR", "TotalRevenue": 2.5, "OrderItems": [item]}
    with Sandbox(limits=[]) as sb:
        push_env(sb)
        summary, rows = push_and_read_quarantine(capsys, tmp_path, "orders", [
            {**order, "OrderId": "zero-quantity", "OrderItems": [item, {**item, "ProductId": "p2", "Quantity": 0}]},
            {**order, "OrderId": "x" * 200},
            {**order, "OrderId": "y" * 201},
        ])
    assert summary["refused"] == 3 and summary["accepted"] == 0
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [
        (0, "range", "OrderItems[1].Quantity", "0"),
        (1, "max_length", "OrderId", "x" * 200),
        (2, "max_length", "OrderId", "y" * 197 + "..."),
    ]


def test_a_record_level_reason_is_listed_under_record_not_a_blank_field(push_env, capsys, tmp_path):
    # No CustomerId and no Email: the rule is the record's, not a field's; its reason says so.
    with Sandbox(limits=[]) as sb:
        push_env(sb)
        summary, rows = push_and_read_quarantine(capsys, tmp_path, "customers", [
            {"CustomerId": "c1", "Email": "c1@example.com"}, {"Name": "Ada"}])
    assert (summary["accepted"], summary["refused"]) == (1, 1)
    assert [(r["index"], r["reasons"]) for r in summary["not_accepted"]] == [
        (1, ["(record): At least one of the following properties must have a value: CustomerId, Email"])]
    assert [row[2:4] for row in rows] == [("one_of_required", "")]
