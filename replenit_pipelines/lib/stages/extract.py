"""The extract stage: one window's rows of one entity from the warehouse (lib/warehouse/reader.py, frames.py)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import polars as pl

from replenit_pipelines.lib.contract import formats
from replenit_pipelines.lib.contract.identity import DEFAULT_CUSTOMER_PRIORITY, identifier_accepted_expr
from replenit_pipelines.lib.warehouse import EntityMapping, Warehouse
from replenit_pipelines.lib.warehouse.customer_chunks import FrameT, identity_rows
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
    a backfill of an older day). Passes over the source's identity columns, streamed and filtered
    to the rows of the addresses and customers found so far (one pass when no other customer shares
    them; memory is what they match, not the source); the rows are read again only for the
    customers found."""
    key = read_key_column(mapping)
    email = next((f for f in mapping.fields if f.target == "Email"), None)
    if mapping.entity != "customers" or customer_priority == "customerid" or key is None or email is None or not rows.height:
        return rows
    # The Email field's columns are read below: a missing one is named with its mapping file here, as
    # prepare names it, not as a Polars trace.
    mapping.check_columns(rows.columns)

    text, key_column = email.expression().cast(pl.String).str.strip_chars(formats.WHITESPACE).str.to_lowercase(), key

    def identities(frame: FrameT) -> FrameT:  # (key, address as the identity compares it), rows with both
        return frame.select(pl.col(key_column).cast(pl.String).alias("__k"), text.alias("__e")).filter(
            pl.col("__k").is_not_null() & pl.col("__e").is_not_null() & (pl.col("__e") != ""))

    def accepted(pairs: pl.DataFrame) -> pl.DataFrame:  # only an address the contract takes is an identity
        return pairs.filter(identifier_accepted_expr("Email", pl.col("__e")))

    read_keys = rows.get_column(key).cast(pl.String).drop_nulls().unique()
    emails, keys = accepted(identities(rows)).get_column("__e").unique(), read_keys
    if not emails.len():
        return rows
    while True:  # the rows of the addresses and customers known: a customer found may have a row of another address
        pairs = identity_rows(warehouse, mapping, [key], partial(_of, identities, emails, keys))
        known = pl.col("__e").is_in(emails.implode())
        found_keys = pl.concat([keys, pairs.filter(known).get_column("__k")]).unique()
        # A known customer's other addresses; the contract's check runs on the new ones only (few).
        found_emails = pl.concat([emails, accepted(pairs.filter(~known & pl.col("__k").is_in(keys.implode()))).get_column("__e")]).unique()
        if found_keys.len() == keys.len() and found_emails.len() == emails.len():
            break
        keys, emails = found_keys, found_emails
    extra = keys.filter(~keys.is_in(read_keys.implode())).sort().to_list()
    if not extra:
        return rows
    return pl.concat([rows, read_sample(warehouse, mapping, identities=extra).rows], how="diagonal_relaxed")


def _of(identities: Callable[[Any], Any], emails: pl.Series, keys: pl.Series, frame: Any) -> Any:
    """The identity rows of `frame` (a DataFrame or LazyFrame) whose address is one of `emails` or whose
    key is one of `keys` (semi-joins: a fourth of is_in's time over a million of them)."""
    rows = identities(frame)
    lazy = isinstance(rows, pl.LazyFrame)
    by_e, by_k = emails.alias("__e").to_frame(), keys.alias("__k").to_frame()
    return pl.concat([rows.join(by_e.lazy() if lazy else by_e, on="__e", how="semi"),
                      rows.join(by_k.lazy() if lazy else by_k, on="__k", how="semi")])
