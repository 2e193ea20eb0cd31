"""TPC-DS (or TPC-H) at a real scale factor through the examples' mapping (issue 22): generation
time, `replenit sync ENTITY --all` into the real sandbox process for each entity, the requests
used against the minimum ⌈records sent ÷ batch size⌉, an unchanged re-run (goal: 0 requests),
and every stored record compared with the independent SQL reference (tests/world/reference.py).

    ./dev bench tpc_conformance                 # TPC-DS sf=1 (about 100k customers, 18k item rows,
                                                #   720k web-sales lines; generated once, ~1 min)
    ./dev bench tpc_conformance --kind tpch --sf 0.1
    ./dev bench tpc_conformance --regenerate    # time a fresh generation (into a temp folder)

Goals: 100% of stored records equal to the reference; requests = the minimum; 0 on the re-run.
Prints one line per step and a JSON summary at the end.
"""

import argparse
import contextlib
import io
import json
import math
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "examples"), str(ROOT / "tests" / "world")]

import reference  # noqa: E402 - tests/world is put on the path above
import tpcgen  # noqa: E402 - examples/ is put on the path above


def sync(entity: str) -> tuple[int, dict, float]:
    from replenit_pipelines.cli import main

    out = io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["sync", entity, "--all", "--json"])
    return code, json.loads(out.getvalue()), time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=["tpcds", "tpch"], default="tpcds")
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--regenerate", action="store_true", help="generate afresh (timed) instead of the cache")
    args = parser.parse_args()

    import httpx
    from _common import start_sandbox, stop_sandbox

    from replenit_pipelines.lib.contract.entities import ENTITIES

    summary: dict = {"kind": args.kind, "sf": args.sf}
    tmp = tempfile.TemporaryDirectory(prefix="tpc-bench-")
    cached = Path(tmp.name) / "gen" if args.regenerate else None
    started = time.monotonic()
    path = tpcgen.warehouse(args.kind, args.sf, cache_dir=cached)
    summary["generation_s"] = round(time.monotonic() - started, 1)
    print(f"{args.kind} sf={args.sf:g}: {path} ({summary['generation_s']} s{'' if args.regenerate else ', 0 if cached'})", flush=True)
    started = time.monotonic()
    expected = getattr(reference, args.kind)(str(path))
    print(f"reference computed in {time.monotonic() - started:.1f} s", flush=True)

    tenant, key = str(uuid.uuid4()), "YmVuY2gta2V5"
    proc, url = start_sandbox("--tenant", f"{tenant}:{key}", "--limits", "off")
    os.environ.update(REPLENIT_BASE_URL=url, REPLENIT_TENANT_ID=tenant, REPLENIT_API_KEY=key, REPLENIT_LIMITS="off",
                      REPLENIT_WAREHOUSE=str(path), REPLENIT_MAPPING=str(ROOT / "examples" / args.kind / "mapping.yaml"),
                      REPLENIT_STATE_DIR=str(Path(tmp.name) / "state"), REPLENIT_KEY_NAME="bench")
    os.environ.pop("REPLENIT_STATE_URL", None)

    def requests() -> int:
        return sum(1 for r in httpx.get(f"{url}/_sandbox/requests", timeout=60).json() if tenant in r["path"])

    try:
        for entity in ("customers", "products", "orders"):
            before = requests()
            code, counts, took = sync(entity)
            used = requests() - before
            minimum = math.ceil(counts["records_sent"] / ENTITIES[entity].recommended_batch)
            before = requests()
            code2, again, took2 = sync(entity)
            rerun = requests() - before
            stored = {r["key"]: r["record"] for r in httpx.get(f"{url}/_sandbox/records/{tenant}/{entity}", timeout=300).json()}
            shared = expected.get("customers_merged", {}) if entity == "customers" else {}
            result = reference.compare({k: r for k, r in stored.items() if k not in shared}, expected[entity])
            line = {"rows_read": counts["rows_read"], "records_sent": counts["records_sent"],
                    "rows_quarantined": counts["rows_quarantined"], "rows_superseded": counts["rows_superseded"],
                    "exit": code, "sync_s": round(took, 1), "requests": used, "minimum": minimum,
                    "rerun_requests": rerun, "rerun_records_sent": again["records_sent"], "rerun_s": round(took2, 1),
                    "stored": len(stored), "expected": result["expected"], "equal": result["equal"],
                    "equal_pct": round(100 * result["equal"] / max(1, result["expected"]), 3),
                    "missing": result["missing_count"], "unexpected": result["unexpected_count"], "differ": result["differ_count"]}
            if entity == "customers" and expected.get("customers_merged"):
                # Several customers behind one identity (a shared email): the tenant holds one of them.
                merged = expected["customers_merged"]
                line["identities_shared"] = len(merged)
                line["shared_stored_as_a_candidate"] = sum(
                    1 for k, group in merged.items() if k in stored and any(reference.compare({k: stored[k]}, {k: c})["equal"]
                                                                            for c in group))
            if entity == "products" and expected.get("products_undated"):
                line["read_by_all_only_no_window_value"] = len(expected["products_undated"])
            summary[entity] = line
            print(f"{entity}: " + json.dumps(line), flush=True)
            if result["equal"] != result["expected"]:
                print(f"  first differences: {reference.summary({k: result[k] for k in ('missing', 'unexpected', 'differ')})[:1500]}",
                      flush=True)
    finally:
        stop_sandbox(proc)
        tmp.cleanup()
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
