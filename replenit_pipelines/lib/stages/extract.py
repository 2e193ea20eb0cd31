"""The extract stage: one window's rows of one entity from the warehouse (lib/warehouse/reader.py, frames.py)."""

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from replenit_pipelines.lib.contract import formats
from replenit_pipelines.lib.contract.identity import DEFAULT_CUSTOMER_PRIORITY, identifier_accepted_expr
from replenit_pipelines.lib.warehouse import EntityMapping, Warehouse
from replenit_pipelines.lib.warehouse.customer_chunks import identity_columns_whole
from replenit_pipelines.lib.warehouse.frames import window_counts
from replenit_pipelines.lib.warehouse.keys import read_key_column
from replenit_pipelines.lib.warehouse.sample import read_sample


@dataclass(frozen=True)
class Extracted:
    rows: pl.DataFrame  # every row of each record the window touches
    rows_without_window_value: int  # in the whole source, read by no window (not part of rows read)
    # Likewise read by no window: their window value does not parse (a text or epoch column).
    rows_unparsable_window_value: int = 0
    unparsable_window_examples: list[str] = field(default_factory=list)  # a few such values, as the source has them


def extract(mapping: EntityMapping, warehouse: Warehouse, start: datetime, end: datetime,
            customer_priority: str = DEFAULT_CUSTOMER_PRIORITY) -> Extracted:
    # The window-value counts first: a failure there costs no quota and reads no window.
    if mapping.read_by_frames:
        without, unparsable, examples = window_counts(warehouse, mapping)
        rows = with_shared_emails(mapping, warehouse, warehouse.read(mapping, start, end), customer_priority)
        return Extracted(rows, without, unparsable, examples)
    without_window_value = warehouse.rows_without_window_value(mapping)
    return Extracted(with_shared_emails(mapping, warehouse, warehouse.read(mapping, start, end), customer_priority),
                     without_window_value)


def with_shared_emails(mapping: EntityMapping, warehouse: Warehouse, rows: pl.DataFrame, customer_priority: str) -> pl.DataFrame:
    """A window's customers with every other customer (CustomerId) that shares one of their emails,
    each read whole. Under the `email` priority those are one customer to the tenant, and only the
    newest row of the address may be sent (prepare merges the others): a window that read only an
    older customer of the address would send it over the newer one the tenant holds (a re-run or
    a backfill of an older day). Costs one read of the identity columns of the whole source; the
    rows are read again only for the customers found."""
    key = read_key_column(mapping)
    email = next((f for f in mapping.fields if f.target == "Email"), None)
    if mapping.entity != "customers" or customer_priority == "customerid" or key is None or email is None or not rows.height:
        return rows

    def by_email(frame: pl.DataFrame) -> pl.DataFrame:
        text = email.expression().cast(pl.String).str.strip_chars(formats.WHITESPACE)
        return frame.select(pl.col(key).cast(pl.String).alias("__k"), text.alias("__e")).filter(
            pl.col("__k").is_not_null() & pl.col("__e").is_not_null() & (pl.col("__e") != "")).filter(
            identifier_accepted_expr("Email", pl.col("__e"))).with_columns(pl.col("__e").str.to_lowercase())

    read_keys = set(rows.get_column(key).cast(pl.String).drop_nulls().to_list())
    emails = set(by_email(rows).get_column("__e").to_list())
    if not emails:
        return rows
    whole = by_email(identity_columns_whole(warehouse, mapping))
    keys: set[str] = set()
    while True:  # a customer found may have an older row with another address: follow it (a few rounds)
        found = set(whole.filter(pl.col("__e").is_in(list(emails))).get_column("__k").to_list())
        if found <= keys:
            break
        keys |= found
        emails |= set(whole.filter(pl.col("__k").is_in(list(keys))).get_column("__e").to_list())
    extra = sorted(keys - read_keys)
    if not extra:
        return rows
    return pl.concat([rows, read_sample(warehouse, mapping, identities=extra).rows], how="diagonal_relaxed")
