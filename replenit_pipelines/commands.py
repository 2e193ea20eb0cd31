"""Subcommands beyond the sandbox. Heavy imports stay inside each command."""

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from replenit_pipelines.commands_quota import register as register_quota
from replenit_pipelines.console.exits import exit_codes_text
from replenit_pipelines.console.tables import add_output_flags

if TYPE_CHECKING:  # annotations only: each command imports what it runs when it runs (start-up speed)
    from replenit_pipelines.lib.delivery.push_scan import Scan
    from replenit_pipelines.lib.delivery.report import BatchProgress
    from replenit_pipelines.lib.settings import Settings
    from replenit_pipelines.lib.state import StateStore


PUSH_EPILOG = """\
Credentials come from REPLENIT_BASE_URL, REPLENIT_TENANT_ID and REPLENIT_API_KEY.

The file is read twice, never whole into memory: once to check it is a list of JSON objects and
find the last version of each identity (customers by the tenant's customer priority, orders by
OrderId, products by ProductId), once to send. Only the last version of an identity is sent
(earlier ones are counted as superseded: batches in flight land in any order). Records the API
would refuse, NaN and Infinity included, are refused before sending, with the record and field
named. Refused records go to the state store's quarantine table, rejected and failed ones to
dead_letters ($REPLENIT_STATE_DIR/state.duckdb; see `replenit state`).

{exit_codes}"""


def _push(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from replenit_pipelines.console.exits import RunOutcome, exit_code
    from replenit_pipelines.console.progress import Bars, eta_text, is_tty
    from replenit_pipelines.console.summary import counter_lines, push_summary
    from replenit_pipelines.lib.contract.api import parse_limits
    from replenit_pipelines.lib.contract.identity import check_customer_priority
    from replenit_pipelines.lib.delivery import client_from_env
    from replenit_pipelines.lib.delivery.config import batch_sizes_for, check_batch_size
    from replenit_pipelines.lib.delivery.push import push_file
    from replenit_pipelines.lib.settings import Settings

    check_batch_size(args.batch_size, "--batch-size")  # by the flag's name, not the client's setting's
    settings = Settings.from_env()

    def open_store() -> "StateStore":
        from replenit_pipelines.lib.state import open_state_store

        return open_state_store(settings.state_store_path, settings.state_url)

    priority = check_customer_priority(args.customer_priority) if args.customer_priority else settings.customer_priority
    # A push is bulk work: the API's hard maximum per request unless --batch-size says (docs/cli.md).
    overrides: dict = {"quota_dir": str(settings.quota_dir),
                       "batch_sizes": batch_sizes_for(args.entity, args.batch_size, bulk=True)}
    limits = parse_limits(args.limits) if args.limits is not None else None

    bars = Bars() if is_tty() else None  # a progress bar on a terminal; every batch's line in logs and CI

    def progress(p: "BatchProgress") -> None:
        if bars is not None:
            bars.update("records", f"push {args.entity} records", p.records_done, p.records_total,
                        f"batch {p.batches_done}/{p.batches_total}, {eta_text(p.eta_s)}")
        elif not args.json:
            print(f"  {p.records_done}/{p.records_total} records, {p.batches_done}/{p.batches_total} batches, "
                  f"ETA {p.eta_s:.0f}s", file=sys.stderr)

    def scanned(scan: "Scan") -> None:
        if scan.superseded and not args.json:
            print(f"  {scan.superseded} of {scan.records} records are older versions of a later record "
                  "with the same identity: only the last version of each is sent", file=sys.stderr)

    with client_from_env(limits=limits, settings=settings, **overrides) as client, bars if bars is not None else nullcontext():
        outcome = push_file(client, args.entity, Path(args.file), priority, open_store, progress, scanned)
    if outcome.stopped:
        print(f"replenit push: {outcome.stopped}", file=sys.stderr)
    summary = outcome.summary()
    if args.json:
        print(json.dumps({**summary, "not_accepted": [r.as_dict() for r in outcome.not_accepted]}))
    else:
        if args.verbose:
            print("\n".join(counter_lines(summary)))
        for r in outcome.not_accepted[:NOT_ACCEPTED_SHOWN]:
            print(r.text())
        if len(outcome.not_accepted) > NOT_ACCEPTED_SHOWN:
            print(f"... and {len(outcome.not_accepted) - NOT_ACCEPTED_SHOWN:,} more (all of them with --json, or in the state store)")
        for line in push_summary(summary, len(outcome.not_accepted), outcome.stopped, outcome.run_id):
            print(line)
    failed = summary.get("rejected", 0) + summary.get("failed", 0) + outcome.not_sent
    return exit_code(RunOutcome(stopped=bool(outcome.stopped), failed=failed, quarantined=outcome.refused), strict=args.strict)


NOT_ACCEPTED_SHOWN = 20  # records listed one per line before the summary; --json lists them all


def register(sub: "argparse._SubParsersAction") -> None:
    push = sub.add_parser("push", help="send a file of payload records (JSON array, NDJSON or Parquet)",
                          description="Send a file of payload records to the Replenit API.",
                          epilog=PUSH_EPILOG.format(exit_codes=exit_codes_text("push")), formatter_class=argparse.RawDescriptionHelpFormatter)
    push.add_argument("entity", choices=["customers", "orders", "products"])
    push.add_argument("file", help="a JSON array (.json), NDJSON (.ndjson, .jsonl) or Parquet (.parquet) file")
    push.add_argument("--json", action="store_true", help="print the outcome as one JSON object instead of the summary")
    push.add_argument("--verbose", action="store_true", help="print every counter before the summary")
    push.add_argument("--strict", action="store_true", help="exit 1 when any record is refused before sending")
    push.add_argument("--limits", default=None, help="REQUESTS/SECONDS windows, e.g. 100/0.6,5000/36 for a time-scaled sandbox "
                      "(default REPLENIT_LIMITS, else the documented quota)")
    push.add_argument("--batch-size", type=int, default=None, help="records per request (default: the API's hard maximum)")
    push.add_argument("--customer-priority", default=None, choices=["email", "customerid"],
                      help="how the tenant matches customers (default: REPLENIT_CUSTOMER_PRIORITY, else email)")
    push.set_defaults(func=_push)
    register_more(sub)


def _demo_warehouse(args: argparse.Namespace) -> int:
    from replenit_pipelines.lib.warehouse.demo import build_demo_warehouse

    counts = build_demo_warehouse(args.path, customers=args.customers, seed=args.seed, days=args.days,
                                  orders=args.orders, dirty_share=args.dirty_share)
    print(f"Wrote {args.path}: {counts.customers:,} customer rows, {counts.product_variants:,} product variant rows "
          f"({counts.products:,} products), {counts.order_lines:,} order lines ({counts.orders:,} orders)")
    return 0


def _workdir() -> Path:
    import os

    return Path(os.environ.get("REPLENIT_DEMO_DIR") or Path.cwd() / ".replenit")


def _demo(args: argparse.Namespace) -> int:
    from replenit_pipelines.demo import run_demo

    return run_demo(_workdir(), args.customers, args.days, args.seed, args.hours)


def _ui(args: argparse.Namespace) -> int:
    from replenit_pipelines.demo import run_ui

    return run_ui(_workdir(), args.customers, args.seed, args.port)


def no_state_error(path: Path) -> ValueError:
    return ValueError(f"no state store at {path}: nothing has been synced with this REPLENIT_STATE_DIR yet; "
                      "set REPLENIT_STATE_DIR to the folder your syncs write to (default ./.replenit)")


def require_state(path: Path) -> None:
    """The no-state error for a folder never synced to (no state store at `path`, no ledger beside
    it), where an empty retry queue would read as 'nothing failed'."""
    from replenit_pipelines.lib.ledger.status import ledger_files

    if not path.exists() and not ledger_files(path.parent):
        raise no_state_error(path)


def check_state_args(args: argparse.Namespace) -> None:
    from replenit_pipelines.lib.contract.entities import check_entity_name

    check_entity_name(args.retries, "state --retries")  # a typo would list an empty queue, as if nothing had failed
    if args.rows < 0:  # a frame's head(-1) is every row but the last
        raise ValueError(f"--rows must be 0 or more, not {args.rows}")


def _state(args: argparse.Namespace) -> int:
    """Tables for people (aligned, values cut at 40 characters unless --wide), --json or --csv for
    machines. With no SQL: the ledgers' summary, then the quarantine's reasons (--csv: the latter only)."""
    import os

    import duckdb

    from replenit_pipelines.console.tables import output_format, print_table
    from replenit_pipelines.lib.ledger.status import ledger_files, ledger_status, retry_queue
    from replenit_pipelines.lib.settings import Settings
    from replenit_pipelines.lib.state import DuckDBStateStore

    fmt = output_format(args)
    tables: dict[str, Any] = {}  # name -> frame, in the order printed
    check_state_args(args)

    def show() -> int:
        if fmt == "json":  # one JSON value: the rows of a query, or an object of the tables
            if len(tables) == 1:
                print_table(next(iter(tables.values())).head(args.rows), "json")
            else:
                import json as json_module

                from replenit_pipelines.console.tables import as_rows, json_value
                print(json_module.dumps({name: [{k: json_value(v) for k, v in r.items()} for r in as_rows(t.head(args.rows))[1]]
                                         for name, t in tables.items()}, default=str))
            return 0
        for name, frame in tables.items():
            if fmt == "csv" and name != list(tables)[-1]:
                continue  # CSV is one table: the last (the query's)
            shown = frame.head(args.rows)
            title = TITLES.get(name) if fmt == "table" and len(tables) > 1 else None
            print_table(shown, fmt, args.wide, title)
            if fmt == "table" and frame.height > shown.height:
                print(f"  ... {frame.height - shown.height:,} more rows (--rows N)")
        return 0

    state_url = Settings.from_env().state_url
    if state_url is not None:  # the state store and the ledgers are in Postgres (docs/deploying.md)
        from replenit_pipelines.lib.sync import open_state_store

        if args.retries:
            tables["retries"] = retry_queue("", args.retries, state_url)
            return show()
        if args.sql is None:
            tables["ledgers"] = ledger_status("", state_url=state_url)
        tables["result"] = open_state_store("", state_url).query(args.sql or DEFAULT_STATE_SQL)
        return show()
    path = Settings.from_env().state_store_path
    demo = _workdir() / "demo" / "state" / "state.duckdb"  # where `replenit demo` keeps its runs' state
    if not path.exists() and not os.environ.get("REPLENIT_STATE_DIR") and demo.exists():
        print(f"(no state store at {path}; reading the demo's, {demo}: set REPLENIT_STATE_DIR to choose)", file=sys.stderr)
        path = demo
    if args.retries:
        require_state(path)
        tables["retries"] = retry_queue(path.parent, args.retries)
        return show()
    if args.sql is None and ledger_files(path.parent):
        tables["ledgers"] = ledger_status(path.parent)
    if not path.exists():
        raise no_state_error(path)
    try:
        tables["result"] = DuckDBStateStore(path).query(args.sql or DEFAULT_STATE_SQL)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"state: the SQL did not run on {path}: {first} "
                         "(tables: quarantine, dead_letters, sync_runs)") from None
    return show()


TITLES = {"ledgers": "Ledgers (what Replenit acknowledged) and retry queues, per API + tenant and entity:",
          "result": "Quarantined rows by reason (tables quarantine, dead_letters, sync_runs: `replenit state \"SQL\"`):"}


DEFAULT_STATE_SQL = ("SELECT entity, rule, field, count(*) AS \"rows\" FROM quarantine "  # both backends
                     "GROUP BY entity, rule, field ORDER BY count(*) DESC")

REPLAY_EPILOG = """\
Re-sends queued records of ENTITY from the ledger's retry queue (see `replenit state --retries ENTITY`)
with the payload that failed, after you fixed what made the API refuse them (or it recovered). A
record the ledger acknowledged since it failed is dropped from the queue, never re-sent over newer
data. Credentials come from REPLENIT_BASE_URL, REPLENIT_TENANT_ID and REPLENIT_API_KEY.

{exit_codes}"""

def _replay(args: argparse.Namespace) -> int:
    import uuid
    from contextlib import closing, nullcontext

    from replenit_pipelines.console.exits import RunOutcome, exit_code
    from replenit_pipelines.console.progress import Bars, batch_reporter, is_tty
    from replenit_pipelines.console.summary import replay_summary
    from replenit_pipelines.lib.contract.entities import check_entity_name
    from replenit_pipelines.lib.delivery import client_from_env
    from replenit_pipelines.lib.ledger import open_ledger
    from replenit_pipelines.lib.settings import Settings
    from replenit_pipelines.lib.stages.retry import REPLAY_STATUSES, check_queued, retry

    check_entity_name(args.entity, "replay")
    settings = Settings.from_env()
    if settings.state_url is None:
        require_state(settings.state_store_path)  # a folder never synced to: no queue to replay, not 'nothing to do'
    bars = Bars() if is_tty() else None

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    with client_from_env(settings=settings) as client, closing(open_ledger(
            settings.state_dir, client.config.base_url, client.config.tenant_id, args.entity)) as ledger, \
            bars if bars is not None else nullcontext():
        if args.identity:
            check_queued(ledger, args.entity, args.identity, args.status)
        outcome, stop = retry(ledger, client, f"replay-{uuid.uuid4()}", None, replay=True,
                              statuses=REPLAY_STATUSES[args.status], identities=args.identity or None, dry_run=args.dry_run,
                              progress=batch_reporter(f"replay {args.entity}", bars, log))
    c = outcome.counts()
    if args.json:
        print(json.dumps({"entity": args.entity, "status": args.status, "dry_run": int(args.dry_run), **c}))
    else:
        for line in replay_summary(args.entity, args.status, c, args.dry_run, str(stop) if stop is not None else None):
            print(line)
    if stop is not None:
        print(f"stopped: {stop}", file=sys.stderr)
    failed = 0 if args.dry_run else c["records_retry_rejected"] + c["records_retry_failed"]
    return exit_code(RunOutcome(stopped=stop is not None, failed=failed, dry_run=args.dry_run))


CHECK_EPILOG = """\
exit codes:
  0  the mapping will run: every column is there and every field can be produced (warnings may remain)
  1  the mapping has errors, or a setting is invalid: each is listed with what to write instead
"""


def _settings_in_force(settings: "Settings") -> tuple[list[tuple[str, str]], list[str]]:
    """(name, value) of each setting a run uses, and the errors among them. Never the key."""
    from replenit_pipelines.lib.contract.identity import check_customer_priority
    from replenit_pipelines.lib.delivery.config import check_base_url, check_tenant_id
    from replenit_pipelines.lib.settings import partitions_start_day

    errors: list[str] = []

    def checked(name: str, check: Callable[[str], object], value: str) -> str:
        try:
            check(value)
        except ValueError as exc:
            errors.append(f"{name}: {exc}")
        return value

    tenant = settings.tenant_id
    start = settings.partitions_start
    try:
        partitions_start_day(start)
    except ValueError as exc:
        errors.append(str(exc))
    priority = settings.customer_priority_text
    rows = [
        ("mapping (REPLENIT_MAPPING)", str(settings.mapping_path)),
        ("warehouse (REPLENIT_WAREHOUSE)", settings.warehouse_path),
        ("base URL (REPLENIT_BASE_URL)", checked("REPLENIT_BASE_URL", check_base_url, settings.base_url) if settings.base_url_set
         # Dagster runs default to the local sandbox; the commands that send refuse to guess where the key goes.
         else f"not set: Dagster runs use the local sandbox ({settings.base_url}); replenit sync, push and replay "
              "refuse to run until it is set"),
        ("tenant (REPLENIT_TENANT_ID)", checked("REPLENIT_TENANT_ID", check_tenant_id, tenant) if tenant else "not set: runs will fail"),
        ("API key (REPLENIT_API_KEY)", ("set" if settings.api_key_set else "not set: runs will fail")
         + f", label {settings.key_label!r} (REPLENIT_KEY_NAME; in Dagster {settings.pool_name})"),
        ("customer priority (REPLENIT_CUSTOMER_PRIORITY)", checked("REPLENIT_CUSTOMER_PRIORITY", check_customer_priority, priority)
         if settings.customer_priority_set else "email (default)"),
        ("partitions (REPLENIT_PARTITIONS_START)", f"customers daily from {start}, orders and products hourly from "
         f"{start} 00:00 UTC; a partition before {start} does not exist"),
        ("state folder (REPLENIT_STATE_DIR)", str(settings.state_dir)),
        ("kept payloads (REPLENIT_LEDGER_KEEP_PAYLOADS)", _keep_payloads_text(errors)),
        ("state store, ledgers, quota (REPLENIT_STATE_URL)",
         f"Postgres at {settings.state_url.masked}" if settings.state_url else "files in the state folder"),
    ]
    return rows, errors


def _keep_payloads_text(errors: list[str]) -> str:
    from replenit_pipelines.lib.ledger.payloads import keep_payloads_from_env

    try:
        keep = keep_payloads_from_env()
    except ValueError as exc:
        errors.append(str(exc))
        return "invalid"
    return ("yes: each acknowledged payload is kept, compressed, for `sync --dry-run --diff`" if keep
            else "no (default): `sync --dry-run --diff` names changed records, not their fields")


def _check(args: argparse.Namespace) -> int:
    import os

    from replenit_pipelines.console.tables import output_format, print_table
    from replenit_pipelines.lib.delivery.report import plural
    from replenit_pipelines.lib.settings import Settings
    from replenit_pipelines.lib.warehouse import MappingError, Warehouse, load_mapping
    from replenit_pipelines.lib.warehouse.check import check_mapping

    # The settings shown are the ones checked: --mapping and --warehouse over the environment's, for this
    # call only (the process's environment is left as it was: `cli.main` may run inside a caller's process).
    given = {"REPLENIT_MAPPING": args.mapping, "REPLENIT_WAREHOUSE": args.warehouse}
    settings = Settings.from_env({**os.environ, **{k: v for k, v in given.items() if v}})
    rows, errors = _settings_in_force(settings)
    fmt = output_format(args)
    settings_rows = [{"setting": name, "value": value} for name, value in rows]
    findings: list[dict] = [{"level": "error", "entity": "", "where": "settings", "message": m} for m in errors]
    try:
        mappings = load_mapping(settings.mapping_path)
    except MappingError as exc:
        mappings = {}
        findings.append({"level": "error", "entity": "", "where": "mapping", "message": str(exc)})
    else:
        findings += [{"level": f.level, "entity": f.entity, "where": f.where, "message": f.message}
                     for f in check_mapping(mappings, Warehouse(settings.warehouse_path))]
    findings.sort(key=lambda f: LEVELS.index(f["level"]) if f["level"] in LEVELS else len(LEVELS))
    n_errors = sum(f["level"] == "error" for f in findings)
    n_warnings = sum(f["level"] == "warning" for f in findings)
    entities = ", ".join(mappings)
    entities = f" ({entities})" if entities else ""  # none when the mapping did not load
    if n_errors:
        verdict = (f"{plural(n_errors, 'error')}, {plural(n_warnings, 'warning')} in {settings.mapping_path}{entities}: "
                   "the mapping will not run as it is")
    else:
        verdict = (f"OK: {settings.mapping_path}{entities} will run against {settings.warehouse_path}"
                   + (f"; {plural(n_warnings, 'warning')}" if n_warnings else ""))
    if fmt == "json":
        print(json.dumps({"settings": settings_rows, "findings": findings, "errors": n_errors, "warnings": n_warnings,
                          "ok": not n_errors, "verdict": verdict}))
    elif fmt == "csv":
        print_table(findings, "csv") if findings else print("level,entity,where,message")
    else:
        # Messages are sentences saying what to write instead: never cut them unless asked (--wide is the default here).
        print_table(settings_rows, "table", True, "Settings in force:")
        print()
        for f in findings:  # sentences that say what to write instead: one a line, whole, aligned by level
            where = f"{f['entity']}.{f['where']}" if f["entity"] else f["where"]
            print(f"{f['level'].upper():7} {where}: {f['message']}")
        print(verdict)
    return 1 if n_errors else 0


LEVELS = ["error", "warning", "note"]


def _fields(args: argparse.Namespace) -> int:
    from replenit_pipelines.console.tables import output_format, print_table
    from replenit_pipelines.lib.contract.catalog import field_rows
    from replenit_pipelines.lib.contract.entities import ENTITIES, check_entity_name

    check_entity_name(args.entity, "fields")
    rows = field_rows(args.entity)
    fmt = output_format(args)
    if fmt != "table":
        print_table(rows, fmt)
        return 0
    for name in ENTITIES if args.entity is None else [args.entity]:
        spec = ENTITIES[name]
        print_table([{k: v for k, v in r.items() if k != "entity"} for r in rows if r["entity"] == name], "table", args.wide,
                    f"{name}: up to {spec.hard_max:,} a request (recommended {spec.recommended_batch:,}); "
                    f"in the mapping's '{name}' section:")
    return 0


def register_more(sub: "argparse._SubParsersAction") -> None:
    ck = sub.add_parser("check", help="check the mapping against the warehouse's real columns and types, and show the settings",
                        description="Load the mapping, read each source's schema (no rows), and report unknown columns, "
                                    "type mismatches, fields a cast cannot produce and windows that cannot be evaluated.",
                        epilog=CHECK_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ck.add_argument("--mapping", default=None, help="the mapping file (default: REPLENIT_MAPPING, else the demo mapping)")
    ck.add_argument("--warehouse", default=None, help="the DuckDB warehouse (default: REPLENIT_WAREHOUSE)")
    add_output_flags(ck)
    ck.set_defaults(func=_check)

    fl = sub.add_parser("fields", help="every field of the API's contract: type, limits, required, as the mapping names it",
                        description="The fields a mapping may fill, per entity (children as OrderItems.Price), from the "
                                    "contract the pipeline validates against (lib/contract/entities.py).")
    fl.add_argument("entity", nargs="?", default=None, help="customers, orders or products (default: all)")
    add_output_flags(fl)
    fl.set_defaults(func=_fields)

    st = sub.add_parser("state", help="the ledgers and retry queues, and the state store (tables quarantine, "
                                      "dead_letters, sync_runs) queried with SQL")
    st.add_argument("sql", nargs="?", default=None, help=f"default: {DEFAULT_STATE_SQL}, after the ledgers' summary")
    st.add_argument("--rows", type=int, default=40, help="rows shown of each table (default 40)")
    add_output_flags(st)
    st.add_argument("--retries", metavar="ENTITY", default=None, help="list the retry queue of ENTITY")
    st.set_defaults(func=_state)

    rp = sub.add_parser("replay", help="re-send an entity's rejected or failed records from the retry queue after a fix",
                        epilog=REPLAY_EPILOG.format(exit_codes=exit_codes_text("replay")), formatter_class=argparse.RawDescriptionHelpFormatter)
    rp.add_argument("entity", help="customers, orders or products")
    rp.add_argument("--status", choices=["all", "failed", "needs_attention", "rejected"], default="all", help="which queued records (default: all)")
    rp.add_argument("--identity", action="append", default=[], help="only this identity (as `state --retries` shows it); repeatable")
    rp.add_argument("--dry-run", action="store_true", help="say what would be re-sent; send nothing, change nothing")
    rp.add_argument("--json", action="store_true", help="print the counts as one JSON object instead of the summary")
    rp.set_defaults(func=_replay)

    dw = sub.add_parser("demo-warehouse", help="write a demo warehouse (DuckDB) with realistic, partly dirty data")
    dw.add_argument("path")
    dw.add_argument("--customers", type=int, default=10_000)
    dw.add_argument("--seed", type=int, default=42)
    dw.add_argument("--days", type=int, default=7, help="updated_at spreads over the last DAYS days (UTC)")
    dw.add_argument("--orders", type=int, default=None, help="default: half the customers")
    dw.add_argument("--dirty-share", type=float, default=0.02)
    dw.set_defaults(func=_demo_warehouse)

    demo = sub.add_parser("demo", help="the demo sync: warehouse -> Dagster -> sandbox, for yesterday (UTC)")
    demo.add_argument("--customers", type=int, default=20_000)
    demo.add_argument("--days", type=int, default=3)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--hours", type=int, default=24, help="hourly partitions of the day to run (24: all)")
    demo.set_defaults(func=_demo)

    ui = sub.add_parser("ui", help="the Dagster UI with the demo warehouse and a sandbox on port 8765")
    ui.add_argument("--customers", type=int, default=20_000)
    ui.add_argument("--seed", type=int, default=42)
    ui.add_argument("--port", type=int, default=3000, help="the Dagster UI's port (default 3000)")
    ui.set_defaults(func=_ui)
    register_quota(sub)
    __import__("replenit_pipelines.commands_sync").commands_sync.register(sub)
