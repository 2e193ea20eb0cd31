"""`replenit sync ENTITY (--partition KEY | --all)`: one partition's sync, or a reconciliation of the
whole source (issue 12), by the same code as the Dagster assets and the reconcile jobs
(lib/sync/run.py:sync_window, lib/sync/reconcile.py:reconcile). Heavy imports stay inside."""

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

SYNC_EPILOG_TEXT = """\
Credentials come from REPLENIT_BASE_URL, REPLENIT_TENANT_ID and REPLENIT_API_KEY (never printed);
the warehouse, mapping and state folder from REPLENIT_WAREHOUSE, REPLENIT_MAPPING and
REPLENIT_STATE_DIR, as for Dagster. The ledger in the state folder says what Replenit already holds:
a second run of an unchanged warehouse sends nothing.

--all reads the whole source table in chunks (rows with a NULL window column and rows older than
REPLENIT_PARTITIONS_START included): the initial load, and the periodic reconciliation. --mirror
also deletes what the ledger holds and no source row has. Deletes are refused (nothing at all is
sent) when the source is empty, or when they exceed --max-delete-share of the ledger (default
0.05) or --max-delete-count (default 1000); raise those for one run when the drop is real.

{exit_codes}"""


def sync_epilog() -> str:
    from replenit_pipelines.console.exits import exit_codes_text

    return SYNC_EPILOG_TEXT.format(exit_codes=exit_codes_text("sync"))


def _sync(args: argparse.Namespace) -> int:
    import uuid
    from contextlib import closing, nullcontext

    from replenit_pipelines.console.progress import Bars, batch_reporter, is_tty, reconcile_reporter
    from replenit_pipelines.lib.contract.api import parse_limits
    from replenit_pipelines.lib.contract.entities import check_entity_name
    from replenit_pipelines.lib.delivery import ReplenitStopError, client_from_env
    from replenit_pipelines.lib.delivery.config import batch_sizes_for
    from replenit_pipelines.lib.ledger import open_ledger
    from replenit_pipelines.lib.settings import Settings
    from replenit_pipelines.lib.stages.delete import DeleteGuard
    from replenit_pipelines.lib.sync import open_state_store
    from replenit_pipelines.lib.validation.gate import GatePolicy
    from replenit_pipelines.lib.warehouse import Warehouse, load_mapping

    if args.diff and not args.dry_run:
        raise ValueError("--diff compares what a run would send with what Replenit holds: use it with --dry-run")
    if args.diff and args.all:
        raise ValueError("--diff lists the changed records of one partition or a sample: use it with --partition, "
                         "--sample or --identity (a whole source's changes are counted by `--all --dry-run`)")
    check_numbers(args)
    if args.sample is not None or args.identity:
        from replenit_pipelines.commands_sample import sample_sync

        return sample_sync(args)
    check_entity_name(args.entity, "sync")
    if args.mirror and not args.all:
        raise ValueError("--mirror deletes what is absent from the WHOLE source: use it with --all")
    if args.chunk_rows is not None and not args.all:
        raise ValueError("--chunk-rows is how many source rows --all reads at once: use it with --all")
    settings = Settings.from_env()
    mapping = load_mapping(settings.mapping_path)
    if args.entity not in mapping:
        raise ValueError(f"{settings.mapping_path} has no '{args.entity}' section: add one to sync {args.entity}")
    entity_mapping = mapping[args.entity]
    # Checked before the state folder or the API is touched: a key outside the partitions is bad input (exit 2).
    window = None if args.all else partition_window(args.entity, args.partition, settings.partitions_start)
    # --all is bulk work: the API's hard maximum per request unless --batch-size says (docs/cli.md; a size
    # above the maximum is capped by the client), and the bulk lane: it takes what the key's fresh syncs leave.
    overrides: dict = {"batch_sizes": batch_sizes_for(args.entity, args.batch_size, bulk=args.all),
                       "lane": "bulk" if args.all else "fresh"}
    limits = parse_limits(args.limits) if args.limits is not None else (parse_limits(settings.limits) if settings.limits else None)
    guard = DeleteGuard(max_share=args.max_delete_share, max_count=args.max_delete_count)
    # The fixed gate at the share given (docs/operating.md: re-run once above a share that is right); else the
    # requests' default, the baseline gate (for --all too: a first load's steady dirt flows under its ceiling).
    gate: dict[str, Any] = {} if args.max_quarantine_share is None else {"gate": GatePolicy(mode="fixed", max_quarantine_share=args.max_quarantine_share)}
    allow = "--max-delete-share {share:.2f} --max-delete-count {count}"
    run_id = f"cli-{uuid.uuid4()}"

    bars = Bars() if is_tty() else None  # progress bars on a terminal; plain lines in logs, CI and Dagster

    def log(line: str) -> None:
        if bars is not None:
            bars.progress.console.print(line, markup=False, highlight=False)  # above the bars
        else:
            print(line, file=sys.stderr, flush=True)

    progress = batch_reporter(args.entity, bars, log)  # a window's batches: a bar, or a line at most every 30 s
    reconcile_progress = reconcile_reporter(f"{args.entity} --all", bars) if bars is not None else None

    store = None if args.dry_run else open_state_store(settings.state_store_path)
    stopped = None
    before = None
    result: Any = None  # a ReconcileResult (--all) or a SyncResult (--partition): the same counts()
    with client_from_env(limits=limits, settings=settings, **overrides) as client, closing(open_ledger(
            settings.state_dir, client.config.base_url, client.config.tenant_id, args.entity)) as ledger, \
            bars if bars is not None else nullcontext():
        try:
            if args.dry_run:
                before = quota_now(client)  # the plan's ETA counts from what the key has spent now
            if args.all:
                from replenit_pipelines.lib.sync.reconcile import ReconcileRequest, reconcile

                result = reconcile(ReconcileRequest(
                    mapping=entity_mapping, warehouse=Warehouse(settings.warehouse_path), client=client, ledger=ledger,
                    store=store, run_id=run_id, mirror=args.mirror, dry_run=args.dry_run, full_refresh=args.full_refresh,
                    guard=guard, customer_priority=settings.customer_priority, log=log, how_to_allow=allow, progress=reconcile_progress,
                    retry_max_attempts=settings.retry_max_attempts, **gate,
                    **({"chunk_rows": args.chunk_rows} if args.chunk_rows is not None else {})))
            else:
                from replenit_pipelines.lib.sync import SyncRequest, sync_window

                assert window is not None
                start, end = window
                result = sync_window(SyncRequest(
                    mapping=entity_mapping, warehouse=Warehouse(settings.warehouse_path), client=client, store=store,
                    start=start, end=end, partition_key=args.partition, run_id=run_id, customer_priority=settings.customer_priority,
                    progress=progress, ledger=ledger, full_refresh=args.full_refresh, dry_run=args.dry_run,
                    retry_max_attempts=settings.retry_max_attempts, lookback=entity_mapping_lookback(entity_mapping),
                    delete_guard=guard, how_to_allow_deletes=allow, **gate))
        except ReplenitStopError as exc:
            stopped = exc
            result = getattr(exc, "result", None)  # what was done before the stop, shown below
        if result is not None and args.diff:
            from replenit_pipelines.commands_sample import changed_records

            args.changes = changed_records(result, ledger, args.diff_records)
    if result is None:
        print(f"replenit sync: stopped: {stopped}", file=sys.stderr)
        return 3
    return _print_result(args, result, stopped, run_id, before, settings, log, store)


def check_numbers(args: argparse.Namespace) -> None:
    """The numbers given as flags, each refused by its flag's name before anything is read or sent
    (exit 2): `--chunk-rows 0` took the default silently, and the delete guard's own check said
    `max_delete_share`, a name the user never typed."""
    from replenit_pipelines.lib.delivery.config import check_batch_size

    check_batch_size(args.batch_size, "--batch-size")
    if args.chunk_rows is not None and args.chunk_rows < 1:
        raise ValueError(f"--chunk-rows must be at least 1, not {args.chunk_rows}")
    for flag, share, of in (("--max-quarantine-share", args.max_quarantine_share, "the rows"),
                            ("--max-delete-share", args.max_delete_share, "the records Replenit holds")):
        if share is not None and not 0 <= share <= 1:
            raise ValueError(f"{flag} is a share of {of}, from 0 to 1 (0.1 for 10%), not {share:g}")
    if args.max_delete_count < 0:
        raise ValueError(f"--max-delete-count must be 0 or more, not {args.max_delete_count}")
    if args.diff_records < 0:
        raise ValueError(f"--diff-records must be 0 or more, not {args.diff_records}")


def _print_result(args: argparse.Namespace, result: Any, stopped: Exception | None, run_id: str, before: Any,
                  settings: Any, log: Callable[[str], None], store: Any) -> int:
    """The run's summary in words (with --verbose, also every counter; with --json, the counters
    as one JSON object instead), its warnings, and the exit code (console/exits.py)."""
    from replenit_pipelines.console.exits import exit_code, sync_outcome
    from replenit_pipelines.console.summary import SyncSummary, counter_lines, sync_summary
    from replenit_pipelines.lib.stages.report import merge_warning, newer_elsewhere_note, tie_warning

    counts = result.counts()
    counts = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in counts.items()}
    notes = []
    if getattr(result, "refused", ""):
        counts["deletes_refused"] = result.refused
        notes.append(f"deletes refused: {result.refused}")
    plan_text = None
    if args.dry_run:
        counts.update(plan_eta(args.entity, counts, before, settings, "bulk" if args.all else "fresh"))
        plan_text = counts.pop("eta_text")
        if args.json:
            log(plan_text)
    scope = "--all" if args.all else f"partition {args.partition}"
    merged = merge_warning(f"{args.entity} {'--all' if args.all else args.partition}", counts.get("records_merged", 0),
                           counts.get("rows_merged", 0), merges_of(result))
    if merged:
        log(f"warning: {merged}")
    tied = tie_warning(f"{args.entity} {'--all' if args.all else args.partition}", counts.get("rows_tied", 0), tied_examples_of(result))
    if tied:
        log(f"warning: {tied}")
    if (newer := newer_elsewhere_note(counts)) is not None:
        notes.append(newer)
    balanced = result.balanced()
    changes = getattr(args, "changes", None)  # --diff: the changed records' fields
    if args.json:
        from replenit_pipelines.console.sample import diff_json

        print(json.dumps({"entity": args.entity, "run_id": run_id, **counts,
                          **({"diff": diff_json(*changes)} if changes is not None else {})}, default=str))
    else:
        if changes is not None:
            from replenit_pipelines.console.sample import diff_lines

            print("\n".join(diff_lines(*changes)) + "\n")
        if args.verbose:
            print("\n".join(counter_lines(counts)))
        for line in sync_summary(SyncSummary(args.entity, scope, run_id, counts, quarantine_reasons(result, store, run_id),
                                             str(stopped) if stopped is not None else None, plan_text, notes)):
            print(line)
    if stopped is not None:
        print(f"replenit sync: stopped: {stopped}", file=sys.stderr)
    elif not balanced:
        print(f"replenit sync: the row accounting does not close: {counts}", file=sys.stderr)
    return exit_code(sync_outcome(counts, stopped is not None, balanced), strict=args.strict)


def quarantine_reasons(result: Any, store: Any, run_id: str) -> list:
    """The run's most frequent quarantine reasons: from the state store where the run recorded them,
    else (a dry run) from the run's own: a partition's quarantine frame, a reconciliation's chunks'
    reasons."""
    from replenit_pipelines.console.summary import TOP_REASONS, Reason

    if not result.counts().get("rows_quarantined"):
        return []
    if store is not None:
        with store.lock:
            rows = store.query("SELECT rule, field, count(*) AS n FROM quarantine WHERE run_id = ? "
                               "GROUP BY rule, field ORDER BY n DESC, rule, field LIMIT ?", [run_id, TOP_REASONS])
        return [Reason(str(rule), str(fld or ""), int(n)) for rule, fld, n in rows.iter_rows()]
    if not hasattr(result, "prepared"):  # a reconciliation (--all)
        return [Reason(str(rule), str(fld or ""), int(n)) for rule, fld, n, _ in result.top_reasons(TOP_REASONS).iter_rows()]
    quarantine = getattr(getattr(result, "prepared", None), "quarantine", None)
    if quarantine is None or not {"rule", "field"} <= set(quarantine.columns):
        return []
    top = quarantine.group_by("rule", "field").len().sort(["len", "rule", "field"], descending=[True, False, False]).head(TOP_REASONS)
    return [Reason(str(rule), str(fld or ""), int(n)) for rule, fld, n in top.iter_rows()]


def tied_examples_of(result: Any) -> list[str]:
    """A few records of the run with rows tied on time (a window's Prepared, or a reconciliation's)."""
    return result.prepared.tied_examples if hasattr(result, "prepared") else result.tied_examples


def merges_of(result: Any) -> Any:
    """The merged customers of a run: a window's (SyncResult.prepared) or a reconciliation's."""
    return result.prepared.merges if hasattr(result, "prepared") else result.merges


def quota_now(client: Any) -> Any:
    from replenit_pipelines.lib.plan import quota_snapshot

    return quota_snapshot(client.quota)


def plan_eta(entity: str, counts: dict, snapshot: Any, settings: Any, lane: str = "fresh") -> dict:
    """A dry run's requests (upserts, retries and deletes: one request each) and their ETA on the
    key's quota now, alone and with the schedules' expected load (docs/planning.md); `eta_s` is the
    one to plan by: with the fresh lane's load for bulk work (--all), alone for a partition."""
    from replenit_pipelines.commands_quota import code_location_schedules
    from replenit_pipelines.lib.plan import eta, expected_load, planned_requests, since
    from replenit_pipelines.lib.sync import open_state_store

    requests = planned_requests(counts)
    load = None
    if settings.state_url is not None or settings.state_store_path.exists():
        recent = open_state_store(settings.state_store_path).requests_since(since())
        load = expected_load(code_location_schedules(), recent)
    estimate = eta(requests, snapshot, expected_load=load, entity=entity, lead_s=float(counts.get("duration_s", 0.0)), lane=lane)
    return {"requests_needed": requests, "eta_s": round(estimate.expected_s, 1), "eta_lane": lane,
            "eta_with_load_s": round(estimate.with_load_s, 1) if estimate.with_load_s is not None else None,
            "eta_late": estimate.late, "eta_text": f"plan: {estimate.text()}"}  # `plan: 4 requests: 2.1 min ...`


# Customers are daily partitions, orders and products hourly (defs/partitions.py), all UTC.
HOURLY = {"orders", "products"}


def partition_window(entity: str, key: str, partitions_start: str) -> tuple[Any, Any]:
    """[start, end) of a partition key as Dagster names it: 2026-11-26 (daily), 2026-11-26-13:00 (hourly).
    A key before REPLENIT_PARTITIONS_START names no partition: Dagster refuses it, and so does this."""
    from datetime import UTC, datetime, timedelta

    from replenit_pipelines.lib.settings import partitions_start_day

    hourly = entity in HOURLY
    try:
        start = datetime.strptime(key, "%Y-%m-%d-%H:%M" if hourly else "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        example = "2026-11-26-13:00 (hourly)" if hourly else "2026-11-26 (daily)"
        raise ValueError(f"--partition {key!r} is not a partition key of {entity}; write it as {example}") from None
    if start < partitions_start_day(partitions_start):
        raise ValueError(f"--partition {key!r} is before REPLENIT_PARTITIONS_START ({partitions_start}): {entity} has no partition "
                         f"there; `replenit sync {entity} --all` sends rows older than that, or set REPLENIT_PARTITIONS_START earlier")
    return start, start + (timedelta(hours=1) if hourly else timedelta(days=1))


def entity_mapping_lookback(mapping: Any) -> Any:
    from datetime import timedelta

    return timedelta(hours=mapping.lookback_hours)


def register(sub: "argparse._SubParsersAction") -> None:
    sy = sub.add_parser("sync", help="sync one partition of an entity, or reconcile the whole source (--all)",
                        description="Sync one partition (as the Dagster asset does) or the whole source table "
                                    "(--all: the initial load and the reconciliation) to Replenit.",
                        epilog=sync_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    sy.add_argument("entity", help="customers, orders or products")
    which = sy.add_mutually_exclusive_group(required=True)
    which.add_argument("--partition", metavar="KEY", help="one partition, as Dagster names it (2026-11-26, or 2026-11-26-13:00 for hourly), from REPLENIT_PARTITIONS_START on")
    which.add_argument("--all", action="store_true", help="the whole source: initial load and reconciliation")
    which.add_argument("--sample", type=int, metavar="N", help="the first N records (by record key) of the whole source, each whole: "
                                                               "prints every request and answer and what the ledger holds")
    which.add_argument("--identity", nargs="+", metavar="ID", help="these records (the value of the column behind OrderId, "
                                                                   "ProductId, or a customer's CustomerId, else Email): as --sample")
    sy.add_argument("--mirror", action="store_true", help="with --all: delete what the ledger holds and the source no longer has")
    sy.add_argument("--dry-run", action="store_true", help="plan upserts and deletes; send nothing, write nothing")
    sy.add_argument("--diff", action="store_true", help="with --dry-run: the fields that changed, per changed record "
                                                        "(needs REPLENIT_LEDGER_KEEP_PAYLOADS=1 when they were sent)")
    sy.add_argument("--diff-records", type=int, default=20, metavar="K", help="changed records --diff shows (default 20; the rest counted)")
    sy.add_argument("--full-refresh", action="store_true", help="send every valid record even if Replenit holds it (a sample: "
                                                                "send unchanged records anyway)")
    sy.add_argument("--json", action="store_true", help="print every counter as one JSON object instead of the summary")
    sy.add_argument("--verbose", action="store_true", help="print every counter before the summary")
    sy.add_argument("--strict", action="store_true", help="exit 1 when any row is quarantined (default: only when rows failed or were held back)")
    sy.add_argument("--batch-size", type=int, default=None, help="records per request (default: the API's hard maximum with --all, "
                                                                  "the recommended size for a partition; capped at the maximum)")
    sy.add_argument("--chunk-rows", type=int, default=None, help="with --all: source rows read at once (default 250000)")
    sy.add_argument("--max-quarantine-share", type=float, default=None, metavar="SHARE",
                    help="hold back a window (or a chunk of --all) whose quarantined share is above this (0..1): the fixed gate "
                         "(default: the baseline gate, the entity's recent runs, only its 50%% ceiling before it has 3)")
    sy.add_argument("--max-delete-share", type=float, default=0.05, help="refuse deletes above this share of the ledger (default 0.05)")
    sy.add_argument("--max-delete-count", type=int, default=1000, help="refuse more deletes than this in one run (default 1000)")
    sy.add_argument("--limits", default=None, help="REQUESTS/SECONDS windows (default REPLENIT_LIMITS, else the documented quota)")
    sy.set_defaults(func=_sync)
