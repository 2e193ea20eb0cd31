"""The identity a record is upserted under: how the tenant matches what it receives.

Customers are matched by the tenant's identifier priority ([docs]: `email`, the default, or
`customerid`), falling back to the other identifier when the preferred one is absent; emails match
case-insensitively. Orders are matched by `OrderId`, products by `ProductId`. The sandbox stores
records under this identity, and the pipeline supersedes, diffs and acknowledges by it, so that two
records the API would merge are never both sent.

A value the contract refuses is no identity: an Email that is no address (`@example.com`) or a
CustomerId over its length counts as absent, so rows of different customers never meet under it
(a window's 80 customers with the email `@example.com` are 80 records, each quarantined with its
own reason, not one).
"""

from collections.abc import Callable

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


def identifier_accepted(name: str, value: object) -> bool:
    """A customer identifier (`Email`, `CustomerId`) the contract accepts: an address for Email,
    at most the field's length (in UTF-16 units) for both. `value` is present (has_value)."""
    text = str(value).strip() if name == "Email" else str(value)
    limit = entity_spec("customers").field(name).max_length
    if limit is not None and formats.utf16_length(text) > limit:
        return False
    return formats.is_email(text) if name == "Email" else True


def identifier_accepted_expr(name: str, text: pl.Expr) -> pl.Expr:
    """`identifier_accepted` over a column of present (non-null) identifiers as text: the same
    pattern and length checks the validation schema runs on the field."""
    limit = entity_spec("customers").field(name).max_length
    ok = text.map_batches(_within(limit), return_dtype=pl.Boolean, is_elementwise=True) if limit is not None else pl.lit(True)
    return ok & text.str.contains(formats.EMAIL_PATTERN) if name == "Email" else ok


def _within(limit: int) -> Callable[[pl.Series], pl.Series]:
    """Values of at most `limit` UTF-16 units. UTF-8 never takes fewer bytes than UTF-16 takes
    units: only the values longer than `limit` bytes (few) are counted exactly, so the astral
    regex does not run over a million ids."""
    def check(values: pl.Series) -> pl.Series:
        ok = values.str.len_bytes() <= limit
        longer = (~ok.fill_null(True)).arg_true()
        if longer.len():
            units = pl.select(formats.utf16_units(pl.lit(values.gather(longer)))).to_series()
            ok = ok.scatter(longer, units <= limit)
        return ok
    return check


def refused_customer_id(columns: list[str]) -> pl.Expr:
    """True where a mapped customer row carries a CustomerId the contract refuses. record_key
    counts it absent and falls back to the row's email, which the row does not own: another
    customer known by that email alone would meet it. Such a row has no identity to share (it
    supersedes none, none supersedes it by identity); it is quarantined on its own. (A refused
    Email needs no flag: the CustomerId it falls back to names one customer, whatever the rows.)"""
    if "CustomerId" not in columns:
        return pl.lit(False)
    cid = pl.col("CustomerId")
    return cid.is_not_null() & ~identifier_accepted_expr("CustomerId", cid.cast(pl.String))


def identity_fields(entity: str) -> list[str]:
    """The fields a record's identity is read from: `Email` and `CustomerId` for customers (by the
    tenant's priority), the entity's key field otherwise."""
    if entity == "customers":
        return ["Email", "CustomerId"]
    return [entity_spec(entity).key_field or ""]


def record_identity(entity: str, record: dict, customer_priority: str = DEFAULT_CUSTOMER_PRIORITY) -> str | None:
    """`email:<lowercased email>` or `customerid:<id>` for customers, the id for orders and
    products; None when the record has no identifier at all. A customer identifier the contract
    refuses counts as absent."""
    if entity == "customers":
        email, cid = record.get("Email"), record.get("CustomerId")
        by_email = f"email:{str(email).strip().lower()}" \
            if has_value(email) and identifier_accepted("Email", email) else None
        by_id = f"customerid:{cid}" if has_value(cid) and identifier_accepted("CustomerId", cid) else None
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
    to the other identifier; the id for orders and products; null when there is none. A customer
    identifier the contract refuses counts as absent. The namespaces keep an id that looks like
    an email from merging with an email. `normalized`: the
    rows have been normalized (blanks are null, emails trimmed), so neither is done again."""

    def text(c: pl.Expr) -> pl.Expr:
        return c if normalized else c.str.strip_chars(formats.WHITESPACE)

    def present(c: pl.Expr) -> pl.Expr:
        return c.is_not_null() if normalized else c.is_not_null() & (text(c) != "")

    if entity == "customers":
        email, cid = pl.col("Email").cast(pl.String), pl.col("CustomerId").cast(pl.String)
        by_email = pl.when(present(email) & identifier_accepted_expr("Email", text(email))).then(
            pl.concat_str(pl.lit("email:"), text(email).str.to_lowercase()))
        by_id = pl.when(present(cid) & identifier_accepted_expr("CustomerId", cid)).then(pl.concat_str(pl.lit("customerid:"), cid))
        ordered = [("CustomerId", by_id), ("Email", by_email)]
        if customer_priority != "customerid":
            ordered.reverse()
        parts = [e for name, e in ordered if name in columns]
        return pl.coalesce(parts) if parts else pl.lit(None, pl.String)
    key = pl.col(entity_spec(entity).key_field or "").cast(pl.String)
    return pl.when(present(key)).then(key)
