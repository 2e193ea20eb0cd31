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
