"""`replenit sync ENTITY --sample N` / `--identity ID ...` (issue 27 item 6): the whole flow of a
sync (read -> validate -> diff -> plan -> deliver -> acknowledge) on a few real warehouse records,
printing each request and answer as it went over the wire and what the ledger now holds for them;
and `--dry-run --diff` (item 7): the fields that changed, from the ledger's kept payloads.

The sample is one unit of the same stages a window runs (lib/sync/sequence.py), over the records
lib/warehouse/sample.py reads, on the fresh lane at the recommended batch size: 5 customers are
one request. The retry queue is left alone (a sample re-sends nothing of earlier runs) and nothing
is recorded in the state store (it is a try-out, not a run of the schedule); the ledger is
advanced, since Replenit now holds what was accepted. Heavy imports stay inside."""

import argparse
import json
import sys
import uuid
from typing import Any

DIFF_RECORDS = 20  # changed records a --diff shows by default


def sample_sync(args: argparse.Namespace) -> int:
    from contextlib import closing
    from datetime import UTC, datetime

    from replenit_pipelines.console.sample import exchange_lines, ledger_rows
    from replenit_pipelines.console.summary import SyncSummary, sync_summary
    from replenit_pipelines.console.tables import print_table
    from replenit_pipelines.lib.contract.api import parse_limits
    from replenit_pipelines.lib.contract.entities import check_entity_name
    from replenit_pipelines.lib.delivery import client_from_env
    from replenit_pipelines.lib.delivery.config import batch_sizes_for
    from replenit_pipelines.lib.delivery.exchanges import ExchangeLog
    from replenit_pipelines.lib.ledger import open_ledger
    from replenit_pipelines.lib.settings import Settings
    from replenit_pipelines.lib.stages.delete import DeleteGuard
    from replenit_pipelines.lib.stages.extract import Extracted, with_shared_emails
    from replenit_pipelines.lib.stages.report import Window
    from replenit_pipelines.lib.stages.retry import Retried
    from replenit_pipelines.lib.sync.sequence import SoftDeletes, Unit, run_unit
    from replenit_pipelines.lib.validation.gate import GatePolicy
    from replenit_pipelines.lib.warehouse import Warehouse, load_mapping
    from replenit_pipelines.lib.warehouse.sample import read_sample

    check_entity_name(args.entity, "sync")  # its numbers were checked by the sync command (commands_sync.check_numbers)
    if args.sample is not None and args.sample < 1:
        raise ValueError(f"--sample must be at least 1, not {args.sample}")
    settings = Settings.from_env()
    mapping = load_mapping(settings.mapping_path)
    if args.entity not in mapping:
        raise ValueError(f"{settings.mapping_path} has no '{args.entity}' section: add one to sync {args.entity}")
    entity_mapping = mapping[args.entity]
    warehouse = Warehouse(settings.warehouse_path)
    sampled = read_sample(warehouse, entity_mapping, n=args.sample, identities=args.identity)
    if sampled.missing:  # before any request: nothing is sent when one asked record is not there
        raise ValueError(f"--identity: the source has no {args.entity} record whose {sampled.key_column} is "
                         f"{', '.join(repr(m) for m in sampled.missing)}; nothing was sent (give the value as the column holds it)")
    if not sampled.keys:
        raise ValueError(f"the {args.entity} source has no record with a {sampled.key_column}: nothing to sample")
    limits = parse_limits(args.limits) if args.limits is not None else (parse_limits(settings.limits) if settings.limits else None)
    run_id = f"cli-sample-{uuid.uuid4()}"
    now = datetime.now(UTC)
    overrides: dict = {"batch_sizes": batch_sizes_for(args.entity, args.batch_size, bulk=False), "lane": "fresh"}
    with client_from_env(limits=limits, settings=settings, **overrides) as client, closing(open_ledger(
            settings.state_dir, client.config.base_url, client.config.tenant_id, args.entity)) as ledger:
        wire = ExchangeLog(client.session.http)  # every request and answer, as sent and received
        try:
            result, stop = run_unit(Unit(
                window=Window(args.entity, "sample", run_id, now, now), mapping=entity_mapping, client=client,
                read=lambda: Extracted(with_shared_emails(entity_mapping, warehouse, sampled.rows, settings.customer_priority), 0), gate=GatePolicy(), history=(),
                customer_priority=settings.customer_priority, ledger=ledger, store=None, full_refresh=args.full_refresh,
                dry_run=args.dry_run, retried=Retried(),
                soft_deletes=SoftDeletes(DeleteGuard(max_share=args.max_delete_share, max_count=args.max_delete_count),
                                         "--max-delete-share {share:.2f} --max-delete-count {count}")))
        finally:
            wire.close()
        identities = [k for k in result.prepared.records["__key"].to_list() if k is not None]
        entries = ledger.entries(identities)
        diff = changed_records(result, ledger, args.diff_records) if args.diff else None
        exchanges = wire.ordered() or (planned_exchanges(client, result) if args.dry_run else [])
        secret = client.config.api_key.reveal()
        tenant = client.config.tenant_id
    counts = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in result.counts().items()}
    records = record_outcomes(result)
    held = ledger_rows(entries, identities)
    if args.json:
        from replenit_pipelines.console.sample import diff_json, redact

        doc = {"entity": args.entity, "run_id": run_id, "sample": sampled.keys, "key_column": sampled.key_column,
               "exchanges": [exchange_json(e) for e in exchanges], "records": records, "ledger": held,
               **({"diff": diff_json(*diff)} if diff is not None else {}), **counts}
        print(redact(json.dumps(doc, default=str), secret))
    else:
        scope = f"sample of {len(sampled.keys):,} by {sampled.key_column}" if args.sample else f"{len(sampled.keys):,} by {sampled.key_column}"
        print(f"{args.entity} {scope}: {', '.join(sampled.keys[:10])}{' …' if len(sampled.keys) > 10 else ''}")
        print(f"tenant {tenant}; the records below are your warehouse's own data, personal data included, shown on "
              "this terminal only; the API key is never printed")
        print()
        if exchanges:
            for line in exchange_lines(exchanges, secret):
                print(line)
        elif args.dry_run:
            print("dry run: no request sent")
        else:
            print("no request sent: every sampled record is unchanged or was refused before sending "
                  "(--full-refresh sends unchanged ones anyway)")
        print()
        print_table(records, "table", True, "The sampled records:")
        print()
        print_table(held, "table", True, "What the ledger now holds for them:" if not args.dry_run else "What the ledger holds for them:")
        if diff is not None:
            from replenit_pipelines.console.sample import diff_lines

            print()
            for line in diff_lines(*diff):
                print(line)
        print()
        for line in sync_summary(SyncSummary(args.entity, scope, run_id, counts, (), str(stop) if stop is not None else None,
                                             "dry run: nothing sent" if args.dry_run else None)):
            if not line.startswith("next: see each quarantined row"):  # not in the state store: listed above instead
                print(line)
    if stop is not None:
        print(f"replenit sync: stopped: {stop}", file=sys.stderr)
    from replenit_pipelines.console.exits import exit_code, sync_outcome

    return exit_code(sync_outcome(counts, stop is not None, result.balanced()), strict=args.strict)


def planned_exchanges(client: Any, result: Any) -> list:
    """A dry run's requests, as they would go (status 0: not sent), from the run's own plan."""
    from replenit_pipelines.lib.contract.entities import entity as entity_spec
    from replenit_pipelines.lib.delivery import batching
    from replenit_pipelines.lib.delivery.exchanges import Exchange

    d = result.diff
    if d is None or not d.parts:
        return []
    path = client.session.path(entity_spec(result.entity).path, client.config.tenant_id)
    return [Exchange(i + 1, "POST", path, batching.join(d.parts, batch), 0, b"", 0.0)
            for i, batch in enumerate(client.plan(result.entity, d.parts))]


def exchange_json(e: Any) -> dict:
    def parsed(body: bytes) -> Any:
        try:
            return json.loads(body) if body else None
        except ValueError:
            return body.decode("utf-8", "replace")

    return {"method": e.method, "path": e.path, "status": e.status, "elapsed_ms": round(e.elapsed_s * 1000, 1),
            "request": parsed(e.request_body), "response": parsed(e.response_body)}


def record_outcomes(result: Any) -> list[dict]:
    """Each sampled record once: delivered, rejected (the API's reasons), failed, unchanged, held,
    planned (a dry run), or quarantined (its rules); by identity."""
    prepared, d, report = result.prepared, result.diff, result.report
    outcome: dict[str, str] = {}
    for key in prepared.records["__key"].to_list():
        outcome[str(key)] = "unchanged: Replenit holds it as it is, not sent"
    if d is not None:
        for i, key in enumerate(d.keys):
            outcome[str(key)] = "planned (dry run)" if result.dry_run else "not sent"
            if report is not None:
                if i in report.rejected:
                    outcome[str(key)] = "rejected: " + "; ".join(report.rejected[i])
                elif i in report.failed:
                    outcome[str(key)] = "failed: " + report.failed[i]
                elif i in set(report.accepted):
                    outcome[str(key)] = "delivered (200)"
        for key in d.held["__key"].to_list():
            outcome[str(key)] = "held: the API rejected this same content before"
    q = prepared.quarantine
    if q.height:
        for (record_id,), rules in q.group_by("record_id", maintain_order=True):
            reasons = "; ".join(f"{r['rule']} ({r['field']}: {r['value']!r})" if r["field"] else str(r["rule"])
                                for r in rules.iter_rows(named=True))
            outcome[str(record_id)] = f"quarantined, not sent: {reasons}"
    return [{"identity": k, "outcome": v} for k, v in outcome.items()]


def changed_records(result: Any, ledger: Any, limit: int) -> tuple[list[dict], int, int]:
    """(the first `limit` changed records: identity, kept, fields; how many more; how many new) of a
    run's diff: a record to send whose content hash is not the ledger's is changed, one the ledger
    lacks is new. Fields come from the ledger's kept payload (lib/ledger/payloads.py)."""
    from replenit_pipelines.lib.ledger.payloads import changed_fields

    d = result.diff
    if d is None or not d.keys:
        return [], 0, 0
    keyed = [(k, h, p) for k, h, p in zip(d.keys, d.hashes, d.parts, strict=True) if k is not None]
    acked = ledger.lookup([k for k, _, _ in keyed])
    known = dict(zip(acked["identity"].to_list(), acked["hash"].to_list(), strict=True))
    changed = [(k, p) for k, h, p in keyed if k in known and known[k] != h]
    new = len(d.keys) - sum(k in known for k, _, _ in keyed)
    shown = changed[:max(0, limit)]
    kept = ledger.kept_payloads([k for k, _ in shown])
    items = [{"identity": k, "kept": k in kept, "fields": changed_fields(kept[k], p) if k in kept else []} for k, p in shown]
    return items, len(changed) - len(shown), new
