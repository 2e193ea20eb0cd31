"""The identity a record is upserted under: how the tenant matches what it receives.

Customers are matched by the tenant's identifier priority ([docs]: `email`, the default, or
`customerid`), falling back to the other identifier when the preferred one is absent; emails match
case-insensitively. Orders are matched by `OrderId`, products by `ProductId`. The sandbox stores
records under this identity, and the pipeline supersedes, diffs and acknowledges by it, so that two
records the API would merge are never both sent.
"""

import polars as pl

from replenit_pipelines.lib.contract import formats
from replenit_pipelines.lib.contract.entities import entity as entity_spec
from replenit_pipelines.lib.contract.records import has_value

CUSTOMER_PRIORITIES = ("email", "customerid")
DEFAULT_CUSTOMER_PRIORITY = "email"


def check_customer_priority(priority: str) -> str:
    value = (priority or "").strip().lower()
    if value not in CUSTOMER_PRIORITIES:
        raise ValueError(
            f"customer priority {priority!r} is not one of {', '.join(CUSTOMER_PRIORITIES)}: set "
            "REPLENIT_CUSTOMER_PRIORITY to the identifier your Replenit tenant matches customers by"
        )
    return value


def identity_fields(entity: str) -> list[str]:
    """The fields a record's identity is read from: `Email` and `CustomerId` for customers (by the
    tenant's priority), the entity's key field otherwise."""
    if entity == "customers":
        return ["Email", "CustomerId"]
    return [entity_spec(entity).key_field or ""]


def record_identity(entity: str, record: dict, customer_priority: str = DEFAULT_CUSTOMER_PRIORITY) -> str | None:
    """`email:<lowercased email>` or `customerid:<id>` for customers, the id for orders and
    products; None when the record has no identifier at all."""
    if entity == "customers":
        email, cid = record.get("Email"), record.get("CustomerId")
        by_email = f"email:{str(email).strip().lower()}" if has_value(email) else None
        by_id = f"customerid:{cid}" if has_value(cid) else None
        if customer_priority == "customerid":
            return by_id or by_email
        return by_email or by_id
    key = record.get(entity_spec(entity).key_field or "")
    return str(key) if has_value(key) else None


def record_key(
    entity: str, columns: list[str], customer_priority: str = DEFAULT_CUSTOMER_PRIORITY, normalized: bool = False
) -> pl.Expr:
    """`contract.identity.record_identity` as a Polars expression over mapped rows: for customers
    `email:<trimmed, lowercased email>` or `customerid:<id>` by the tenant's priority, falling back
    to the other identifier; the id for orders and products; null when there is none. The
    namespaces keep an id that looks like an email from merging with an email. `normalized`: the
    rows have been normalized (blanks are null, emails trimmed), so neither is done again."""

    def text(c: pl.Expr) -> pl.Expr:
        return c if normalized else c.str.strip_chars(formats.WHITESPACE)

    def present(c: pl.Expr) -> pl.Expr:
        return c.is_not_null() if normalized else c.is_not_null() & (text(c) != "")

    if entity == "customers":
        email, cid = pl.col("Email"), pl.col("CustomerId")
        by_email = pl.when(present(email)).then(pl.concat_str(pl.lit("email:"), text(email).str.to_lowercase()))
        by_id = pl.when(present(cid)).then(pl.concat_str(pl.lit("customerid:"), cid))
        ordered = [("CustomerId", by_id), ("Email", by_email)]
        if customer_priority != "customerid":
            ordered.reverse()
        parts = [e for name, e in ordered if name in columns]
        return pl.coalesce(parts) if parts else pl.lit(None, pl.String)
    key = pl.col(entity_spec(entity).key_field or "").cast(pl.String)
    return pl.when(present(key)).then(key)
