"""`replenit fields` names each record's identity field, the way the tenant matches records."""

import json

from replenit_pipelines import cli


def test_fields_note_each_entitys_identity_and_the_customers_email_fallback(capsys):
    assert cli.main(["fields", "--json"]) == 0
    notes = {(r["entity"], r["field"]): r["note"] for r in json.loads(capsys.readouterr().out) if r["note"]}
    identities = {k: v for k, v in notes.items() if "identity" in v}
    assert identities == {
        ("customers", "CustomerId"): "the record's identity (or Email, by the tenant's priority)",
        ("orders", "OrderId"): "the record's identity",
        ("products", "ProductId"): "the record's identity",
        ("products", "ProductVariants.VariantId"): "the child's identity",
    }
