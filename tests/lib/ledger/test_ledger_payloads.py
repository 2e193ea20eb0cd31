"""Kept payloads (REPLENIT_LEDGER_KEEP_PAYLOADS, issue 27 item 7) on both backends: written with the
acknowledgement, compressed, read back whole, stale ones never shown; and the field diff."""

import sqlite3

import orjson
import pytest
import zstandard

from replenit_pipelines.lib.ledger import SqliteLedger, open_ledger
from replenit_pipelines.lib.ledger.payloads import changed_fields, keep_payloads_from_env

SANDBOX, TENANT = "http://127.0.0.1:8765", "3F2504E0-4F89-11D3-9A0C-0305E82C3301"


def h(text: str) -> bytes:
    return text.encode().ljust(16, b"\0")[:16]


def body(**fields) -> bytes:
    return orjson.dumps({"CustomerId": "c1", **fields})


def test_a_kept_payload_is_read_back_and_a_stale_one_is_not(tmp_path, state_backend, monkeypatch):
    monkeypatch.setenv("REPLENIT_LEDGER_KEEP_PAYLOADS", "1")
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        ledger.acknowledge(["customerid:c1", "customerid:c2"], [h("a1"), h("b1")], "run-1",
                           payloads=[body(Name="Ada" * 50), body(Name="Bo")])
        assert ledger.kept_payloads(["customerid:c1", "customerid:c2", "customerid:c3"]) == {
            "customerid:c1": body(Name="Ada" * 50), "customerid:c2": body(Name="Bo")}
        ledger.compact()
        ledger.acknowledge(["customerid:c1"], [h("a2")], "run-2", payloads=[body(Name="Ada L")])
        assert ledger.kept_payloads(["customerid:c1"]) == {"customerid:c1": body(Name="Ada L")}  # the newest
    # Acknowledged again while keeping is off: the kept payload is stale, never shown as the old value.
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers", keep_payloads=False) as ledger:
        ledger.acknowledge(["customerid:c2"], [h("b2")], "run-3", payloads=[body(Name="Bob")])
        assert ledger.kept_payloads(["customerid:c1", "customerid:c2"]) == {"customerid:c1": body(Name="Ada L")}
        ledger.forget(["customerid:c1"])
        assert ledger.kept_payloads(["customerid:c1"]) == {}
        entries = ledger.entries(["customerid:c2", "customerid:nobody"])
        assert entries.rows() == [("customerid:c2", h("b2"), entries["acked_at"][0], "run-3")]


def test_payloads_are_stored_compressed_in_their_own_table(tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    payload = orjson.dumps({"CustomerId": "c1", "Name": "x" * 2000})
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers", keep_payloads=True) as ledger:
        ledger.acknowledge(["customerid:c1"], [h("a")], "r", payloads=[payload])
        path = ledger.path
    with sqlite3.connect(path) as con:
        (stored,) = con.execute("SELECT payload FROM payloads").fetchone()
    assert stored[:4] == b"\x28\xb5\x2f\xfd" and len(stored) < len(payload) // 10  # a zstd frame


def test_payloads_are_not_kept_unless_asked(tmp_path, state_backend, monkeypatch):
    monkeypatch.delenv("REPLENIT_LEDGER_KEEP_PAYLOADS", raising=False)
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        ledger.acknowledge(["customerid:c1"], [h("a")], "r", payloads=[body()])
        assert ledger.kept_payloads(["customerid:c1"]) == {} and ledger.kept_payload_count() == 0


def test_the_setting_says_what_to_write():
    assert keep_payloads_from_env({"REPLENIT_LEDGER_KEEP_PAYLOADS": "yes"}) is True
    assert keep_payloads_from_env({}) is False
    with pytest.raises(ValueError, match="write 1"):
        keep_payloads_from_env({"REPLENIT_LEDGER_KEEP_PAYLOADS": "maybe"})


def test_changed_fields_of_a_record_and_its_children():
    old = {"OrderId": "o1", "Status": "open", "Currency": "EUR", "Note": None, "TotalRevenue": 20,
           "OrderItems": [{"ProductId": "p1", "Quantity": 1, "Price": 10.0}, {"ProductId": "p2", "Quantity": 1, "Price": 10.0}]}
    new = {"OrderId": "o1", "Status": "completed", "Currency": "EUR", "TotalRevenue": 20.0, "Channel": "web",
           "OrderItems": [{"ProductId": "p1", "Quantity": 2, "Price": 10.0}, {"ProductId": "p3", "Quantity": 1, "Price": 5.0}]}
    got = [(c.path, c.kind, c.old, c.new) for c in changed_fields(orjson.dumps(old), orjson.dumps(new))]
    assert got == [
        ("Status", "changed", "open", "completed"),
        ("Channel", "added", None, "web"),
        ("OrderItems[ProductId=p1].Quantity", "changed", 1, 2),
        ("OrderItems[ProductId=p3]", "added", None, {"ProductId": "p3", "Quantity": 1, "Price": 5.0}),
        ("OrderItems[ProductId=p2]", "removed", {"ProductId": "p2", "Quantity": 1, "Price": 10.0}, None),
    ]


def test_a_payload_that_cannot_be_kept_takes_its_acknowledgement_with_it(tmp_path, state_backend):
    """One transaction: when the payload's write fails, the batch is not acknowledged either (the
    sync then stops and the next run re-sends it), never acknowledged without its payload."""
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers", keep_payloads=True) as ledger:
        ledger.acknowledge(["customerid:c0"], [h("z")], "r0", payloads=[body()])
        if state_backend is None:
            with sqlite3.connect(ledger.path) as con:
                con.execute("DROP TABLE payloads")
        else:
            import psycopg

            with psycopg.connect(state_backend, autocommit=True) as con:
                con.execute("DROP TABLE ledger_payloads")
        with pytest.raises(Exception, match="payloads"):
            ledger.acknowledge(["customerid:c1"], [h("a")], "r1", payloads=[body(Name="Ada")])
        assert ledger.lookup(["customerid:c1"]).height == 0 and ledger.size() == 1


def test_a_large_batch_trains_the_ledgers_dictionary_and_every_frame_reads_back(tmp_path, state_backend):
    """Small JSON records compress poorly alone: the first batch of 100+ trains a dictionary, kept
    in the ledger; frames written before it (plain) and after it (naming it) both read back, in
    another process's ledger too (a new instance loads the dictionaries)."""
    few = {f"customerid:f{i}": body(CustomerId=f"f{i}", Email=f"f{i}@example.com") for i in range(3)}
    many = {f"customerid:m{i}": body(CustomerId=f"m{i}", Email=f"user.{i}@example.com", Name=f"Name {i % 17}",
                                     Language=["en-GB", "de-DE", "fr-FR"][i % 3]) for i in range(400)}
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers", keep_payloads=True) as ledger:
        ledger.acknowledge(list(few), [h(k) for k in few], "r1", payloads=list(few.values()))
        ledger.acknowledge(list(many), [h(k) for k in many], "r2", payloads=list(many.values()))
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers", keep_payloads=False) as reader:
        assert reader.kept_payloads([*few, *many]) == {**few, **many}
        assert len(reader.codec.dicts) == 1


def test_frames_written_once_the_dictionary_is_trained_name_it(tmp_path, monkeypatch):
    """The dictionary is what makes a small record's frame small: the batch that trains it and every
    later one are compressed with it (their frames name it), the frames written before are plain."""
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    few = {f"customerid:f{i}": body(CustomerId=f"f{i}", Email=f"f{i}@example.com") for i in range(3)}
    many = {f"customerid:m{i}": body(CustomerId=f"m{i}", Email=f"user.{i}@example.com", Name=f"Name {i % 17}")
            for i in range(400)}
    later = {"customerid:z1": body(CustomerId="z1", Email="user.z1@example.com", Name="Name 3")}
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers", keep_payloads=True) as ledger:
        for run, batch in (("r1", few), ("r2", many), ("r3", later)):
            ledger.acknowledge(list(batch), [h(k) for k in batch], run, payloads=list(batch.values()))
        path = ledger.path
    with sqlite3.connect(path) as con:
        [(dict_id,)] = con.execute("SELECT dict_id FROM payload_dicts").fetchall()
        named = {k: zstandard.get_frame_parameters(p).dict_id for k, p in con.execute("SELECT identity, payload FROM payloads")}
    assert dict_id != 0
    assert named == {**dict.fromkeys(few, 0), **dict.fromkeys([*many, *later], dict_id)}


def test_a_batch_of_exactly_the_training_size_trains_the_dictionary_and_one_less_does_not(tmp_path, monkeypatch):
    """TRAIN_MIN_RECORDS (100) is the least batch that trains: 99 records are compressed plain."""
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)

    def batch(prefix: str, n: int) -> dict[str, bytes]:
        return {f"customerid:{prefix}{i}": body(CustomerId=f"{prefix}{i}", Email=f"user.{i}@example.com", Name=f"Name {i % 17}")
                for i in range(n)}

    short, exact = batch("s", 99), batch("e", 100)
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers", keep_payloads=True) as ledger:
        ledger.acknowledge(list(short), [h(k) for k in short], "r1", payloads=list(short.values()))
        assert ledger.codec.dicts == {}
        ledger.acknowledge(list(exact), [h(k) for k in exact], "r2", payloads=list(exact.values()))
        path = ledger.path
    with sqlite3.connect(path) as con:
        [(dict_id,)] = con.execute("SELECT dict_id FROM payload_dicts").fetchall()
        named = {k: zstandard.get_frame_parameters(p).dict_id for k, p in con.execute("SELECT identity, payload FROM payloads")}
    assert named == {**dict.fromkeys(short, 0), **dict.fromkeys(exact, dict_id)}


def test_a_ledger_made_before_kept_payloads_gains_their_keyed_tables_when_opened(tmp_path, monkeypatch):
    """A SQLite ledger written before issue 27 has no payload tables: opening it adds them, keyed by
    identity (one kept payload per record, the newest), and its entries stay as they were."""
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        ledger.acknowledge(["customerid:c2"], [h("b")], "run-0")
        path = ledger.path
    with sqlite3.connect(path) as con:
        con.execute("DROP TABLE payloads")
        con.execute("DROP TABLE payload_dicts")
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers", keep_payloads=True) as ledger:
        ledger.acknowledge(["customerid:c1"], [h("a1")], "run-1", payloads=[body(Name="Ada")])
        ledger.compact()
        ledger.acknowledge(["customerid:c1"], [h("a2")], "run-2", payloads=[body(Name="Ada L")])
        assert ledger.kept_payloads(["customerid:c1", "customerid:c2"]) == {"customerid:c1": body(Name="Ada L")}
        assert ledger.entries(["customerid:c2"])["hash"].to_list() == [h("b")]
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT count(*) FROM payloads").fetchone() == (1,)


def test_a_sqlite_ledger_opened_directly_keeps_no_payloads_unless_asked(tmp_path, monkeypatch):
    """Kept payloads are personal data: opt-in on the class too, not only through open_ledger's setting."""
    monkeypatch.setenv("REPLENIT_LEDGER_KEEP_PAYLOADS", "1")  # the setting is open_ledger's; the class takes an argument
    with SqliteLedger.open(tmp_path, SANDBOX, TENANT, "customers") as ledger:
        ledger.acknowledge(["customerid:c1"], [h("a")], "r", payloads=[body()])
        assert ledger.kept_payloads(["customerid:c1"]) == {} and ledger.kept_payload_count() == 0


def test_changed_fields_tell_variants_of_one_product_apart_and_show_a_removed_fields_old_value():
    old = {"OrderId": "o1", "Email": "a@example.com",
           "OrderItems": [{"ProductId": "p1", "VariantId": "v1", "Quantity": 1}, {"ProductId": "p1", "VariantId": "v2", "Quantity": 1}]}
    new = {"OrderId": "o1",
           "OrderItems": [{"ProductId": "p1", "VariantId": "v1", "Quantity": 1}, {"ProductId": "p1", "VariantId": "v2", "Quantity": 3}]}
    got = [(c.path, c.kind, c.old, c.new) for c in changed_fields(old, new)]
    assert got == [
        ("OrderItems[ProductId=p1,VariantId=v2].Quantity", "changed", 1, 3),
        ("Email", "removed", "a@example.com", None),
    ]


def test_a_changed_list_of_text_is_one_changed_field_not_children():
    # Taxonomy (a product's list of text) is a value: changed whole, its old and new lists shown.
    old = {"ProductId": "p1", "Taxonomy": ["Shoes", "Running"]}
    new = {"ProductId": "p1", "Taxonomy": ["Shoes", "Trail"]}
    assert [(c.path, c.kind, c.old, c.new) for c in changed_fields(old, new)] == [
        ("Taxonomy", "changed", ["Shoes", "Running"], ["Shoes", "Trail"])]
    assert [(c.path, c.kind) for c in changed_fields({"ProductId": "p1"}, new)] == [("Taxonomy", "added")]


def test_payloads_not_aligned_with_the_identities_are_refused_and_nothing_is_acknowledged(tmp_path, state_backend):
    with open_ledger(tmp_path, SANDBOX, TENANT, "customers", keep_payloads=True) as ledger:
        with pytest.raises(ValueError) as refused:
            ledger.acknowledge(["customerid:c1", "customerid:c2"], [h("a"), h("b")], "r1", payloads=[body(Name="Ada")])
        assert str(refused.value) == "acknowledge: identities and payloads must have the same length"
        assert ledger.size() == 0 and ledger.kept_payloads(["customerid:c1"]) == {}
