"""The one-line MappingError a run raises when a mapped field cannot be converted: which file and
field, and what to write instead, whole (a user copies the fix from it)."""

from datetime import datetime

import pytest
from helpers import TS, payloads, run

from replenit_pipelines.lib.warehouse import MappingError, entity_mapping_from_dict


def test_a_text_column_for_a_bool_field_says_the_cast_to_write_and_the_spellings_it_reads():
    mapping = entity_mapping_from_dict(
        "customers", {"source": {"table": "customers"}, "fields": {"CustomerId": "id", "GdprOptin": "consent"}}, origin="mappings/shop.yaml"
    )
    with pytest.raises(MappingError) as err:
        run(mapping, [{"id": "c1", "consent": "yes", "updated_at": TS}])
    message = str(err.value)
    assert message.startswith(
        "mappings/shop.yaml: customers.GdprOptin (column consent) is String, which GdprOptin (bool) cannot take ("
    )  # then Polars' reason, its wording Polars'
    assert message.endswith(
        "): write GdprOptin: {column: consent, cast: bool} (reads true/false, yes/no, y/n, t/f, 1/0; other spellings are quarantined)"
    )


def test_an_expr_failing_after_a_zoned_date_field_is_the_exprs_error():
    """Finding the failing field converts each field before it, a naive datetime in the mapping's
    timezone too: that one converts, and the error names the expr."""
    mapping = entity_mapping_from_dict(
        "orders",
        {
            "source": {"table": "order_lines", "window_column": "updated_at", "timezone": "Europe/Paris"},
            "fields": {
                "OrderId": "order_id",
                "Currency": "currency",
                "OrderDate": "ordered_at",
                "Status": {"expr": "CAST(status AS INTEGER)"},
            },
            "OrderItems": {"key": "line_id", "fields": {"ProductId": "product_id", "Quantity": "qty", "Price": "price"}},
        },
        origin="mappings/shop.yaml",
    )
    row = {
        "order_id": "o1",
        "currency": "EUR",
        "ordered_at": datetime(2026, 11, 26, 13),
        "status": "completed",
        "line_id": "o1-0",
        "product_id": "p1",
        "qty": 1,
        "price": 10.0,
        "updated_at": TS,
    }
    with pytest.raises(
        MappingError,
        match=r"^mappings/shop.yaml: orders.Status \(expr 'CAST\(status AS INTEGER\)'\) cannot be "
        r"evaluated: .*; fix the expr: it is Polars SQL over the source's columns$",
    ):
        run(mapping, [row])


@pytest.mark.parametrize("cast", [None, "string"])
@pytest.mark.parametrize(
    ("field", "value", "kind", "example"),
    [
        # A struct cast to text was its JSON-like rendering ('{"Ada"}'), sent as the customer's name.
        ("Name", {"first": "Ada", "last": "Lovelace"}, "string", 'Name: {expr: "profile.first"} (a struct\'s field by name)'),
        ("GdprOptin", {"email": True}, "bool", 'GdprOptin: {expr: "profile.email"} (a struct\'s field by name)'),
        ("Name", ["Ada", "Lovelace"], "string", 'Name: {expr: "profile[1]"} (a list\'s item by its place, from 1)'),
    ],
)
def test_a_struct_or_list_for_a_one_value_field_is_stopped_with_the_expr_that_picks_the_value(field, value, kind, example, cast):
    mapping = entity_mapping_from_dict(
        "customers",
        {
            "source": {"table": "customers"},
            "fields": {"CustomerId": "id", field: {"column": "profile", "cast": cast} if cast else "profile"},
        },
        origin="mappings/shop.yaml",
    )
    with pytest.raises(MappingError) as err:
        run(mapping, [{"id": "c1", "profile": value, "updated_at": TS}])
    message = str(err.value)
    assert message.startswith(f"mappings/shop.yaml: customers.{field} (column profile) is ")
    assert message.endswith(
        f", which {field} ({kind}) takes as one value: no cast picks one out of it; pick it with an expr, e.g. {example}"
    )


def test_the_expr_the_error_suggests_sends_the_picked_value():
    mapping = entity_mapping_from_dict(
        "customers",
        {
            "source": {"table": "customers"},
            "fields": {"CustomerId": "id", "Name": {"expr": "profile.first"}, "Phone": {"expr": "phones[1]"}},
        },
    )
    prepared = run(
        mapping, [{"id": "c1", "profile": {"first": "Ada", "last": "L"}, "phones": ["+441234567890", "+3312"], "updated_at": TS}]
    )
    assert payloads(prepared) == [{"CustomerId": "c1", "Name": "Ada", "Phone": "+441234567890"}]


def test_an_expr_that_fails_on_the_sources_types_is_a_mapping_error_naming_it():
    """Found when the plan is resolved, before any value is read: the same one-line error."""
    mapping = entity_mapping_from_dict(
        "customers", {"source": {"table": "customers"}, "fields": {"CustomerId": "id", "Name": {"expr": "profile.middle"}}}, origin="m.yaml"
    )
    with pytest.raises(MappingError) as err:
        run(mapping, [{"id": "c1", "profile": {"first": "Ada"}, "updated_at": TS}])
    assert str(err.value) == (
        "m.yaml: customers.Name (expr 'profile.middle') cannot be evaluated: middle; fix the expr: it is Polars SQL over the source's columns"
    )


NAME_JSON = '{"en_US": "Office Chair", "fr_BE": "Chaise de bureau"}'


def test_a_duckdb_json_column_for_a_one_value_field_is_stopped_with_the_query_that_picks_the_value(tmp_path):
    """Odoo 16+ keeps a translated name as JSONB, a DuckDB JSON column, which Polars reads as text: the
    run sent `"Name": "{\\"en_US\\": ...}"` (check and run silent), though a struct is refused."""
    import duckdb

    from replenit_pipelines.lib.validation.prepare import map_rows
    from replenit_pipelines.lib.warehouse import Warehouse

    path = tmp_path / "odoo.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE partners (id VARCHAR, name JSON, updated_at TIMESTAMP)")
        con.execute("INSERT INTO partners VALUES ('c1', ?, ?), ('c2', NULL, ?)", [NAME_JSON, TS.replace(tzinfo=None), TS.replace(tzinfo=None)])
    mapping = entity_mapping_from_dict("customers", {"source": {"table": "partners"}, "fields": {"CustomerId": "id", "Name": "name"}},
                                       origin="mappings/odoo.yaml")
    raw = Warehouse(path).read(mapping, datetime(2026, 11, 26, tzinfo=TS.tzinfo), datetime(2026, 11, 27, tzinfo=TS.tzinfo))
    with pytest.raises(MappingError) as err:
        map_rows(mapping, raw)
    assert str(err.value) == (
        "mappings/odoo.yaml: customers.Name (column name) holds JSON objects ('{\"en_US\": \"Office Chair\", \"fr_BE\": "
        "\"Chaise de bureau\"}'), which Name (string) takes as one value: their text would be sent. Pick the value in a "
        "query source, e.g. `name->>'en_US' AS name` (DuckDB), or in the warehouse")


@pytest.mark.parametrize("names", [[NAME_JSON, "Plain Chair"], ["{Special} Chair", "{Special}"], ['{"unclosed": 1']])
def test_text_that_is_not_json_objects_throughout_is_sent_as_it_is(names):
    mapping = entity_mapping_from_dict("customers", {"source": {"table": "partners"}, "fields": {"CustomerId": "id", "Name": "name"}})
    prepared = run(mapping, [{"id": f"c{i}", "name": n, "updated_at": TS} for i, n in enumerate(names)])
    assert sorted(p["Name"] for p in payloads(prepared)) == sorted(names)
