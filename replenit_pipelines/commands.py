"""Subcommands beyond the sandbox. Heavy imports stay inside each command."""

import argparse
import json
import sys
from pathlib import Path


def _read_payload_file(path: Path) -> list[dict]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import polars as pl

        return pl.read_parquet(path).to_dicts()
    text = path.read_text(encoding="utf-8")
    if suffix in (".ndjson", ".jsonl"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON array of records, got {type(data).__name__}")
    return data


def _push(args: argparse.Namespace) -> int:
    from replenit_pipelines.lib.delivery import ReplenitStopError, client_from_env
    from replenit_pipelines.lib.sandbox.ratelimit import parse_limits

    records = _read_payload_file(Path(args.file))
    overrides = {}
    if args.batch_size:
        overrides["batch_sizes"] = {args.entity: args.batch_size}
    limits = parse_limits(args.limits) if args.limits is not None else None

    def progress(p):
        if not args.json:
            print(f"  {p.records_done}/{p.records_total} records, {p.batches_done}/{p.batches_total} batches, "
                  f"ETA {p.eta_s:.0f}s", file=sys.stderr)

    with client_from_env(limits=limits, **overrides) as client:
        try:
            report = client.deliver(args.entity, records, progress)
            code = 0 if not report.failed else 1
        except ReplenitStopError as exc:
            print(f"replenit push: {exc}", file=sys.stderr)
            report, code = exc.report, 3  # type: ignore[attr-defined]
    summary = report.summary()
    if args.json:
        print(json.dumps({**summary, "rejected_records": {str(k): v for k, v in sorted(report.rejected.items())}}))
    else:
        width = max(len(k) for k in summary)
        for k, v in summary.items():
            print(f"{k:<{width}}  {v}")
        for i, reasons in sorted(report.rejected.items())[:20]:
            print(f"rejected record {i}: {'; '.join(reasons)}")
    return code


def register(sub: "argparse._SubParsersAction") -> None:
    push = sub.add_parser("push", help="send a file of payload records (JSON array, NDJSON or Parquet)",
                          description="Credentials come from REPLENIT_BASE_URL, REPLENIT_TENANT_ID, REPLENIT_API_KEY.")
    push.add_argument("entity", choices=["customers", "orders", "products"])
    push.add_argument("file")
    push.add_argument("--json", action="store_true", help="print the outcome as one JSON object")
    push.add_argument("--limits", default=None, help="REQUESTS/SECONDS windows, e.g. 100/0.6,5000/36 for a time-scaled sandbox")
    push.add_argument("--batch-size", type=int, default=None)
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

    return run_ui(_workdir(), args.customers, args.seed)


def _state(args: argparse.Namespace) -> int:
    import os

    import polars as pl

    from replenit_pipelines.lib.sync import StateStore

    base = Path(os.environ.get("REPLENIT_STATE_DIR") or Path.cwd() / ".replenit" / "demo" / "state")
    path = base / "state.duckdb"
    if not path.exists():
        raise ValueError(f"no state store at {path}: set REPLENIT_STATE_DIR to the folder your syncs write to")
    with pl.Config(tbl_rows=args.rows, tbl_cols=-1, fmt_str_lengths=60, tbl_width_chars=200):
        print(StateStore(path).query(args.sql))
    return 0


def register_more(sub: "argparse._SubParsersAction") -> None:
    st = sub.add_parser("state", help="query the state store (tables quarantine, dead_letters, sync_runs) with SQL")
    st.add_argument("sql", nargs="?", default="SELECT entity, rule, field, count(*) AS rows FROM quarantine GROUP BY ALL ORDER BY rows DESC")
    st.add_argument("--rows", type=int, default=40)
    st.set_defaults(func=_state)

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
    ui.set_defaults(func=_ui)
