"""The delete stage (issue 12): records Replenit holds that the warehouse no longer has, deleted
through the API's DELETE endpoints, one request each, after the run's upserts.

Two causes, both found against the acknowledged-state ledger (only what Replenit was sent and
acknowledged is ever deleted, so no request is spent on what it never held; `full_refresh`
deletes soft-deleted records the ledger does not know too, a 404 being done):
- a soft-delete column (`source: {deleted_column: deleted_at}` in the mapping): a record whose rows
  say deleted is deleted, not upserted, in partitioned runs and reconciliations alike;
- absence, in a mirror reconciliation only: identities in the ledger and in no row of the source.

Guards, before anything is sent (no upserts either): none of it when the source returned no rows,
nor beyond `DeleteGuard.max_share` of the ledger or `max_count` in one run, unless the run allows it.
A run whose quarantine gate tripped deletes nothing. An acknowledged delete (200, or 404: already
gone) forgets the identity in the ledger.

A product whose variant disappeared is not a delete: the product is upserted with the variants it
has left (the API replaces `ProductVariants` whole), as an order line removed upserts the order.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from replenit_pipelines.lib.contract.identity import identity_fields, record_key
from replenit_pipelines.lib.delivery import BatchProgress, ReplenitClient, ReplenitStopError
from replenit_pipelines.lib.delivery.report import DeleteReport
from replenit_pipelines.lib.errors import ReplenitError
from replenit_pipelines.lib.ledger import Ledger
from replenit_pipelines.lib.ledger.hashing import identity_keys
from replenit_pipelines.lib.privacy import mask_identity
from replenit_pipelines.lib.stages.acknowledge import DEAD_LETTER_SCHEMA
from replenit_pipelines.lib.stages.diff import Diff
from replenit_pipelines.lib.validation.prepare import Prepared
from replenit_pipelines.lib.warehouse import EntityMapping

DELETED_SCHEMA = {"identity": pl.String, "api_id": pl.String, "rows": pl.Int64}
SAMPLE = 5  # identities named in a refusal


class DeletesRefused(ReplenitError, ValueError):
    """A guard stopped the run before it sent anything; the message says what and how to allow it."""


@dataclass(frozen=True)
class DeleteGuard:
    """At most this share of the ledger, and this many records, deleted in one run."""

    max_share: float = 0.05
    max_count: int = 1_000

    def __post_init__(self) -> None:
        if not 0 <= self.max_share <= 1:
            raise ValueError(f"max_delete_share must be between 0 and 1, not {self.max_share}")
        if self.max_count < 0:
            raise ValueError(f"max_delete_count must be 0 or more, not {self.max_count}")


@dataclass
class Split:
    """A window's or chunk's rows, soft-deleted records taken out."""

    live: pl.DataFrame  # the rows to validate and upsert
    deleted: pl.DataFrame  # DELETED_SCHEMA: one row per soft-deleted record
    rows_deleted: int  # source rows of soft-deleted records, and rows flagged deleted inside live records


def deleted_flag(column: str, dtype: pl.DataType) -> pl.Expr:
    """True when a row says deleted: a true boolean, a non-zero number, any other value set."""
    c = pl.col(column)
    if dtype == pl.Boolean:
        return c.fill_null(False)
    if dtype.is_numeric():
        return c.fill_null(0) != 0
    if dtype == pl.String:  # 'true'/'1'/'yes' or a timestamp as text: set; blank, 'false', '0', 'no': not
        text = c.str.strip_chars().str.to_lowercase()
        return c.is_not_null() & ~text.is_in(["", "false", "f", "0", "no", "n"])
    return c.is_not_null()


def identities(mapping: EntityMapping, rows: pl.DataFrame, customer_priority: str) -> pl.DataFrame:
    """Each row's identity (as the tenant matches records: lib/contract/identity.py) and the id a
    DELETE takes (CustomerId, OrderId, ProductId), computed from the mapping's fields alone."""
    wanted = identity_fields(mapping.entity)
    fields = [f for f in mapping.fields if f.target in wanted]
    mapped = rows.select([f.expression().cast(pl.String) for f in fields]) if fields else pl.DataFrame(height=rows.height)
    key = record_key(mapping.entity, [f.target for f in fields], customer_priority)
    api = "CustomerId" if mapping.entity == "customers" else mapping.spec.key_field
    api_expr = pl.col(api).str.strip_chars() if api in mapped.columns else pl.lit(None, pl.String)
    return mapped.select(key.alias("identity"), pl.when(api_expr != "").then(api_expr).alias("api_id"))


def identity_columns(mapping: EntityMapping) -> list[str]:
    """The source columns `identities` and `split_deleted` read (a cheap pass over the whole source)."""
    wanted = identity_fields(mapping.entity)
    # A source without a window column (window_column: null) is read whole: none to read.
    cols = {mapping.source.window_column} if mapping.source.window_column else set()
    for f in mapping.fields:
        if f.target in wanted:
            cols |= f.source_columns()
    if mapping.source.deleted_column:
        cols.add(mapping.source.deleted_column)
    return sorted(cols)


def split_deleted(mapping: EntityMapping, rows: pl.DataFrame, customer_priority: str) -> Split:
    """Take soft-deleted records out of `rows`. A customer (one row per version) is deleted when
    its newest row says so; an order or product when every one of its rows does (a flagged line
    or variant beside live ones is dropped: the record is upserted without it). Rows without an
    identity stay live (validation quarantines them)."""
    column = mapping.source.deleted_column
    if column is None or rows.height == 0:
        return Split(rows, pl.DataFrame(schema=DELETED_SCHEMA), 0)
    ids = identities(mapping, rows, customer_priority)
    # A source read by frames carries the window column as text (iso8601, epoch_s/epoch_ms) and the
    # parsed time beside it, under the name as_read() gives the window column: order by that, never
    # by the text ("999999999" sorts after "1000000000").
    ts = mapping.as_read().source.time_column
    frame = pl.concat([rows.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("__pos"),
                                   deleted_flag(column, rows.schema[column]).alias("__flag"),
                                   pl.col(ts).alias("__ts")), ids], how="horizontal")
    keyed = frame.filter(pl.col("identity").is_not_null())
    if mapping.entity == "customers":
        # Each account (CustomerId) is deleted by its own newest row. Under the `email` priority one
        # identity may hold several accounts (Spree frees a soft-deleted user's email for a new
        # account): a deleted account's rows leave the identity, which is deleted only when no live
        # account is left in it, so one account's deletion never deletes another's customer, nor
        # makes a deleted account a "merge" of the live one.
        # An account lives in the identity of its newest row only: an older row under another email (the
        # account changed it) keeps no live account there. An identity whose newest row is of a deleted
        # account goes too, though that row says nothing itself: Stripe lists a deleted customer as a
        # stub (id, deleted; no email), so the account's deleting row falls back to `customerid:` while
        # the address Replenit holds it under has only live-looking older rows.
        ordered = keyed.sort("__ts", nulls_last=False, maintain_order=True)
        dead = ordered.filter(pl.col("api_id").is_not_null()).group_by("api_id", maintain_order=True).agg(
            pl.col("__flag").last().alias("__dead"), pl.col("identity").last().alias("__home"))
        keyed = ordered.join(dead, on="api_id", how="left", maintain_order="left").with_columns(
            pl.when(pl.col("api_id").is_null()).then(pl.col("__flag")).otherwise(pl.col("__dead")).alias("__dead"))
        newest = keyed.group_by("identity", maintain_order=True).agg(
            ((pl.col("__flag") | pl.col("__dead")).last() & (pl.col("__dead") | pl.col("api_id").is_null()
                                        | (pl.col("__home") != pl.col("identity"))).all()).alias("__gone"),
            pl.col("api_id").last(), pl.len().cast(pl.Int64).alias("rows"))
        dead_rows = keyed.filter(pl.col("__dead"))["__pos"]
    else:
        newest = keyed.group_by("identity", maintain_order=True).agg(
            pl.col("__flag").all().alias("__gone"), pl.col("api_id").first(), pl.len().cast(pl.Int64).alias("rows"))
        dead_rows = keyed.filter(pl.col("__flag"))["__pos"]  # a flagged line or variant beside live ones
    gone = newest.filter("__gone").select(list(DELETED_SCHEMA))
    drop = frame.filter(pl.col("identity").is_in(gone["identity"].implode()) | pl.col("__pos").is_in(dead_rows.implode()))
    live = rows.filter(~pl.int_range(pl.len(), dtype=pl.UInt32).is_in(drop["__pos"].implode()))
    return Split(live, gone, drop.height)


@dataclass
class DeletePlan:
    """What a run would delete, and why."""

    entity: str
    identities: list[str] = field(default_factory=list)
    api_ids: list[str | None] = field(default_factory=list)  # None: the API cannot be told (no id recorded)
    reasons: list[str] = field(default_factory=list)  # "absent" or "flagged"
    ledger_size: int = 0
    # A customer whose CustomerId a live customer of another address has too (it changed email):
    # identity -> that address. Its api_id is None: a DELETE by that id would delete both.
    shared: dict[str, str] = field(default_factory=dict)
    # A deleted customer's older addresses under its CustomerId (it changed email): identity -> those
    # identities. Its DELETE takes them too, and the ledger forgets them with it.
    gone_with: dict[str, list[str]] = field(default_factory=dict)

    def add(self, frame: pl.DataFrame, reason: str) -> None:
        self.identities += frame["identity"].to_list()
        self.api_ids += frame["api_id"].to_list()
        self.reasons += [reason] * frame.height

    @property
    def count(self) -> int:
        return len(self.identities)

    def by(self, reason: str) -> int:
        return self.reasons.count(reason)


def delete_ids(prepared: Prepared, changes: Diff) -> list[str | None]:
    """The id each sent record's DELETE will take, aligned with the diff's parts (recorded in the
    ledger at acknowledgement): an order's OrderId and a product's ProductId (their identities),
    a customer's CustomerId. `DELETE /customers/{tenant}/{customerId}` takes nothing else, so a
    customer sent without a CustomerId (matched by its email) gets None: the API cannot be told
    to delete it, and a later delete of it is dead-lettered as such, never sent to a made-up id."""
    if prepared.entity != "customers":
        return list(changes.keys)
    if "CustomerId" not in prepared.records.columns or not changes.to_send:
        return [None] * len(changes.to_send)
    return prepared.records["CustomerId"].cast(pl.String).gather(changes.to_send).to_list()


def absent_from_source(ledger: Ledger, seen_keys: pl.Series) -> pl.DataFrame:
    """Identities the ledger holds whose identity key no row of the source has (`seen_keys`:
    hashing.identity_keys of every identity read). A 64-bit collision can only hide an absence
    (a delete not made), never invent one."""
    seen = seen_keys.unique().implode()
    gone = [chunk.to_frame().filter(~identity_keys(chunk).is_in(seen)) for chunk in ledger.all_identities()]
    return pl.concat(gone) if gone else pl.DataFrame(schema={"identity": pl.String})


def plan_deletes(ledger: Ledger, flagged: pl.DataFrame, absent: pl.DataFrame, full_refresh: bool = False) -> DeletePlan:
    """The deletes of one run: flagged records the ledger holds (all of them with `full_refresh`)
    and absent ones. The id each DELETE takes is the ledger's (written at acknowledgement), else
    the source row's, else the identity itself for orders, products and `customerid:` customers."""
    plan = DeletePlan(ledger.entity, ledger_size=ledger.size())
    flagged = flagged.unique("identity", keep="last", maintain_order=True)
    recorded = ledger.api_ids(flagged["identity"].to_list() + absent["identity"].to_list())
    if not full_refresh:
        flagged = flagged.filter(pl.col("identity").is_in(list(recorded)))

    def api_id(identity: str, given: str | None) -> str | None:
        if recorded.get(identity):
            return recorded[identity]
        if given:
            return given
        if ledger.entity != "customers":
            return identity
        return identity.removeprefix("customerid:") if identity.startswith("customerid:") else None

    plan.add(flagged.select("identity", pl.struct("identity", "api_id").map_elements(
        lambda r: api_id(r["identity"], r["api_id"]), return_dtype=pl.String).alias("api_id")), "flagged")
    absent = absent.filter(~pl.col("identity").is_in(flagged["identity"].implode()))
    plan.add(absent.select("identity", pl.col("identity").map_elements(lambda i: api_id(i, None), return_dtype=pl.String)
                           .alias("api_id")), "absent")
    return plan


def _keep_live_holders(ledger: Ledger, plan: DeletePlan) -> None:
    """`DELETE /customers/{tenant}/{customerId}` deletes by CustomerId. A customer who changed email
    left its old address in the ledger under the CustomerId its new address has too: deleting the
    old one would delete the live one with it, and the ledger would still say Replenit holds it. Such
    a delete is not sent (not deletable: dead-lettered, named with the address that keeps the id).
    Live is a holder not planned for deletion and acknowledged no earlier than the newest planned
    one: when the customer itself is deleted (its new address flagged), its old addresses are older
    than it, not live; the DELETE takes them too, and the ledger forgets them with it (`plan.gone_with`)."""
    planned = set(plan.identities)
    held = ledger.holders([a for a in dict.fromkeys(plan.api_ids) if a])
    if not held:
        return
    entries = ledger.entries([h for holders in held.values() for h in holders])
    acked: dict[str, int] = dict(zip(entries["identity"].to_list(), entries["acked_at"].to_list(), strict=True))
    for api_id, holders in held.items():
        others = [h for h in holders if h not in planned]
        if not others:
            continue
        newest_planned = max((acked.get(h, 0) for h in holders if h in planned), default=-1)
        live = sorted((h for h in others if acked.get(h, 0) >= newest_planned), key=lambda h: -acked.get(h, 0))
        for i, (identity, given) in enumerate(zip(plan.identities, plan.api_ids, strict=True)):
            if given != api_id:
                continue
            if live:
                plan.api_ids[i] = None
                plan.shared[identity] = live[0]
            else:
                plan.gone_with[identity] = others


def check_guard(plan: DeletePlan, guard: DeleteGuard, source_rows: int, mirror: bool, how_to_allow: str) -> str | None:
    """Why these deletes may not run (None: they may). `how_to_allow` names the run's settings."""
    if plan.count == 0:
        return None
    # Identities are often emails: masked (lib/privacy.py), as the message reaches Dagster's event log.
    sample = ", ".join(mask_identity(i) or "" for i in plan.identities[:SAMPLE]) + (", ..." if plan.count > SAMPLE else "")
    what = (f"it would delete {plan.count:,} {plan.entity} ({plan.by('absent'):,} absent from the source, "
            f"{plan.by('flagged'):,} flagged deleted) of the {plan.ledger_size:,} the ledger holds, e.g. {sample}")
    if mirror and source_rows == 0:
        return (f"refused: the source returned no rows, and {what}. An empty source is almost always a broken "
                f"load, never a reason to empty the tenant; nothing was sent. Check the source table")
    share = plan.count / plan.ledger_size if plan.ledger_size else 1.0
    if plan.count > guard.max_count or share > guard.max_share:
        return (f"refused: {what} ({share:.1%}), over the guard of {guard.max_share:.0%} of the ledger or "
                f"{guard.max_count:,} records per run; nothing was sent. If the source is right, allow it for "
                f"this run with {how_to_allow.format(share=max(share, guard.max_share), count=max(plan.count, guard.max_count))}")
    return None


@dataclass
class Deleted:
    """The outcome of a run's deletes (record counts, and the rows of failed soft deletes)."""

    records_to_delete: int = 0
    records_deleted: int = 0  # 200
    records_already_gone: int = 0  # 404: counted as done
    records_delete_failed: int = 0  # stay in the ledger (dead-lettered): the next run that plans them tries again
    records_not_deletable: int = 0  # no id the API takes (a customer known by email only): dead-lettered, left in the ledger
    records_not_deletable_planned: int = 0  # a dry run's: of records_to_delete, those without an id (no DELETE planned)
    requests: int = 0
    skipped: str = ""  # why none were sent (the quarantine gate tripped, a dry run)
    failed_identities: list[str] = field(default_factory=list)
    failed_reasons: list[str] = field(default_factory=list)  # aligned with failed_identities
    not_deletable_identities: list[str] = field(default_factory=list)
    shared: dict[str, str] = field(default_factory=dict)  # DeletePlan.shared: not deletable, its id is a live customer's

    @property
    def not_deletable_sample(self) -> list[str]:
        return self.not_deletable_identities[:SAMPLE]

    @property
    def undone_identities(self) -> list[str]:
        """The records that were to be deleted and were not: their rows are dead-lettered."""
        return self.failed_identities + self.not_deletable_identities

    def dead_letters(self, entity: str) -> pl.DataFrame:
        """One dead letter (lib/stages/acknowledge.py DEAD_LETTER_SCHEMA) per delete failed or
        impossible, with why: the state store's dead_letters table shows them beside the upserts'."""
        by = "CustomerId" if entity == "customers" else "id"
        rows = [(i, "delete_failed", [f"delete failed after retries: {r}; the next run's deletes (this "
                                      f"partition's lookback, or a reconciliation) plan it again"], None)
                for i, r in zip(self.failed_identities, self.failed_reasons, strict=True)]
        rows += [(i, "not_deletable", [f"not deleted: its {by} is also the {by} of the live customer "
                                       f"{mask_identity(self.shared[i])} (an address changed), and Replenit deletes by "
                                       f"{by}: a DELETE would delete both; delete the old address in Replenit by hand"]
                  if i in self.shared else
                  [f"not deleted: no {by} to delete by (Replenit deletes a {entity[:-1]} by its "
                   f"{by}, and none was ever sent or is in the row); delete it in Replenit by hand, "
                   f"or give the row its {by}"], None)
                 for i in self.not_deletable_identities]
        return pl.DataFrame(rows, schema=DEAD_LETTER_SCHEMA, orient="row")

    def counts(self) -> dict[str, int]:
        return {"records_to_delete": self.records_to_delete, "records_deleted": self.records_deleted,
                "records_already_gone": self.records_already_gone, "records_delete_failed": self.records_delete_failed,
                "records_not_deletable": self.records_not_deletable,
                "records_not_deletable_planned": self.records_not_deletable_planned, "delete_requests": self.requests}


def send_deletes(client: ReplenitClient, ledger: Ledger, plan: DeletePlan,
                 progress: Callable[[BatchProgress], None] | None = None) -> tuple[Deleted, ReplenitStopError | None]:
    """Send the planned deletes; each done one (200 or 404) is forgotten by the ledger at once."""
    sendable = [i for i, a in enumerate(plan.api_ids) if a]
    unsendable = [plan.identities[i] for i, a in enumerate(plan.api_ids) if not a]
    out = Deleted(records_to_delete=plan.count, records_not_deletable=len(unsendable), not_deletable_identities=unsendable,
                  shared={i: plan.shared[i] for i in unsendable if i in plan.shared})
    if not sendable:
        return out, None
    ids = [plan.identities[i] for i in sendable]

    def forget(i: int) -> None:
        ledger.forget([ids[i], *plan.gone_with.get(ids[i], ())])

    stop: ReplenitStopError | None = None
    report: DeleteReport | None
    try:
        report = client.delete_records(plan.entity, [a for a in plan.api_ids if a], progress, forget)
    except ReplenitStopError as exc:
        report, stop = (exc.report if isinstance(exc.report, DeleteReport) else None), exc
    if report is not None:
        out.records_deleted, out.records_already_gone = len(report.deleted), len(report.already_gone)
        out.records_delete_failed = len(report.failed)
        out.failed_identities = [ids[i] for i in sorted(report.failed)]
        out.failed_reasons = [str(report.failed[i]) for i in sorted(report.failed)]
        out.requests = report.counters.requests
    return out, stop


@dataclass(frozen=True)
class DeletesDone:
    """The delete stage's outcome for a window or a whole reconciliation: the deletes, and the
    soft-deleted rows deleted (or, in a dry run, to be deleted), held back or dead-lettered."""

    deleted: Deleted
    rows_deleted: int
    rows_held: int
    rows_failed: int


def finish_deletes(client: ReplenitClient, ledger: Ledger | None, plan: DeletePlan | None, flagged_rows: pl.DataFrame,
                   rows_soft: int, held_back: bool, stop: ReplenitStopError | None, dry_run: bool,
                   progress: Callable[[BatchProgress], None] | None = None) -> tuple[DeletesDone, ReplenitStopError | None]:
    """Send the planned deletes after the upserts: never when a quarantine gate tripped or the run
    stopped (their soft-deleted rows are held back), nor in a dry run (they count as planned).
    `flagged_rows` (identity, rows): the source rows of each soft-deleted record, so that a failed
    delete dead-letters its rows."""
    deleted = Deleted(records_to_delete=plan.count if plan is not None else 0)
    if plan is not None and ledger is not None and plan.entity == "customers":  # on the final plan (a
        _keep_live_holders(ledger, plan)  # reconciliation drops the absent ones its chunks found present)
    if held_back:
        deleted.skipped = "the quarantine gate tripped in this run: nothing is deleted"
        return DeletesDone(deleted, 0, rows_soft, 0), stop
    if stop is not None:
        deleted.skipped = f"the run stopped: {stop}"
        return DeletesDone(deleted, 0, rows_soft, 0), stop
    if dry_run:  # the plan as the run would send it: a DELETE for each id the API takes, no more
        deleted.skipped = "dry run"
        if plan is not None:
            deleted.records_not_deletable_planned = sum(1 for a in plan.api_ids if not a)
        return DeletesDone(deleted, rows_soft, 0, 0), None
    if plan is None or plan.count == 0 or ledger is None:
        return DeletesDone(deleted, rows_soft, 0, 0), None
    deleted, stop = send_deletes(client, ledger, plan, progress)
    failed = deleted.undone_identities  # failed, or no id the API takes: dead-lettered, not deleted
    rows_failed = int(flagged_rows.filter(pl.col("identity").is_in(failed))["rows"].sum()) if failed else 0
    return DeletesDone(deleted, rows_soft - rows_failed, 0, rows_failed), stop
