"""`replenit`: the command line. Each subcommand imports only what it needs."""

import argparse
import signal
import sys
import threading
from typing import cast


def _sandbox(args: argparse.Namespace) -> int:
    from replenit_pipelines.lib.sandbox import FaultConfig, Sandbox, parse_limits

    faults = FaultConfig(
        seed=args.seed,
        latency_ms=cast(tuple[float, float], tuple(float(x) for x in args.latency_ms.split(":"))) if args.latency_ms else (0.0, 0.0),
        p500=args.p500, p503=args.p503, p429=args.p429, p_hang=args.p_hang, p_drop=args.p_drop,
        hang_seconds=args.hang_seconds, unindexed_object_errors=args.unindexed_object_errors,
    )
    sandbox = Sandbox(args.host, args.port, parse_limits(args.limits), faults, args.store)
    if args.tenant:
        for spec in args.tenant:
            parts = spec.split(":")
            if len(parts) < 2:
                raise SystemExit(f"--tenant {spec!r}: write GUID:KEY[:email|customerid[:productid|sku]]")
            sandbox.add_tenant(parts[0], parts[1], **dict(zip(("customer_priority", "product_priority"), parts[2:4], strict=False)))
    else:
        tenant, key = sandbox.add_tenant()
        print(f"Demo tenant: {tenant}")
        print(f"Demo key:    {key}")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    sandbox.start()
    print(f"Replenit sandbox listening on {sandbox.url}", flush=True)
    stop.wait()
    sandbox.stop()
    print("Replenit sandbox stopped.", flush=True)
    return 0


def _state_database_failed(exc: BaseException) -> bool:
    """A PostgresError (lib/postgres.py, its URL masked), told without importing that module at start-up:
    raised, it is loaded."""
    module = sys.modules.get("replenit_pipelines.lib.postgres")
    return module is not None and isinstance(exc, module.PostgresError)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="replenit", description="Keep a Replenit tenant in step with a warehouse.")
    sub = parser.add_subparsers(dest="command", required=True)

    sb = sub.add_parser("sandbox", help="run the local Replenit API sandbox")
    sb.add_argument("--host", default="127.0.0.1")
    sb.add_argument("--port", type=int, default=8765)
    sb.add_argument("--tenant", action="append", metavar="GUID:KEY[:CUSTOMER_PRIORITY[:PRODUCT_PRIORITY]]",
                    help="a tenant and a key authorised for it (repeat; a key may serve several tenants)")
    sb.add_argument("--limits", default="100/60,5000/3600", help="REQUESTS/SECONDS windows, or 'off'")
    sb.add_argument("--seed", type=int, default=0, help="seed of the fault and latency draws")
    sb.add_argument("--latency-ms", default="", metavar="LOW:HIGH", help="uniform latency per API request")
    sb.add_argument("--p500", type=float, default=0.0)
    sb.add_argument("--p503", type=float, default=0.0)
    sb.add_argument("--p429", type=float, default=0.0, help="probability of a spurious 429")
    sb.add_argument("--p-hang", type=float, default=0.0, help="probability of hanging past the client's timeout")
    sb.add_argument("--p-drop", type=float, default=0.0, help="probability of dropping the connection")
    sb.add_argument("--hang-seconds", type=float, default=30.0)
    sb.add_argument("--unindexed-object-errors", action="store_true",
                    help='report object-level errors under "" (as the v1.1 docs show) instead of "[i]"')
    sb.add_argument("--store", default=None, help="SQLite file to keep what was received (default: memory)")
    sb.set_defaults(func=_sandbox)

    from replenit_pipelines import commands

    commands.register(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:
        print(f"replenit: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: one line and 128 + SIGINT, not a traceback
        print("replenit: interrupted: the requests in flight ended, nothing more was sent. The same command again is safe "
              "(upserts are idempotent; a sync skips what its ledger says Replenit holds)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `replenit state | head`: the reader left; not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if not _state_database_failed(exc):
            raise
        # The state database went away mid-run (a crash, a restart): one line that says what to do, not a traceback.
        print(f"replenit: the state database failed: {exc}. The same command again is safe once the server is back: "
              "records delivered but not acknowledged are sent again", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
