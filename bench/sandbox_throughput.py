"""How many full 500-record customer batches a second the sandbox accepts, limits off.

Goal (issue 2): at least 100 requests/s on this 2-core machine, so the sandbox is never the
bottleneck of a bench. The load comes from a separate process (this one) over loopback.
"""

import argparse
import threading
import time
import uuid

import httpx
import orjson
from _common import start_sandbox, stop_sandbox


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=4)
    args = ap.parse_args()
    tenant, key = str(uuid.uuid4()), "YmVuY2gta2V5"
    proc, url = start_sandbox("--tenant", f"{tenant}:{key}", "--limits", "off")
    bodies = [
        orjson.dumps([
            {"CustomerId": f"c{b}-{i}", "Email": f"user{b}.{i}@example.com", "Name": "Ada", "Surname": "Lovelace",
             "Phone": "+447911123456", "GdprOptin": True, "EmailOptin": False, "Language": "en-GB"}
            for i in range(500)
        ])
        for b in range(50)
    ]
    counts = {"ok": 0, "other": 0}
    lock = threading.Lock()
    stop_at = time.monotonic() + args.seconds

    def worker(n: int) -> None:
        with httpx.Client(base_url=url, headers={"x-replenit-auth-key": key, "Content-Type": "application/json"}) as c:
            j = n
            while time.monotonic() < stop_at:
                r = c.post(f"/customers/{tenant}", content=bodies[j % len(bodies)])
                with lock:
                    counts["ok" if r.status_code == 200 else "other"] += 1
                j += args.threads

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.threads)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    elapsed = time.monotonic() - started
    stop_sandbox(proc)
    rate = counts["ok"] / elapsed
    print(f"sandbox throughput: {rate:.0f} requests/s of 500-record customer batches "
          f"({rate * 500:,.0f} records/s; {counts['ok']} accepted, {counts['other']} other, {elapsed:.1f} s, "
          f"{args.threads} client threads); goal >= 100 requests/s: {'PASS' if rate >= 100 else 'FAIL'}")


if __name__ == "__main__":
    main()
