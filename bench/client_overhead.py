"""Client overhead per 500-record customer batch: serialization, batching, the quota ledger
and bookkeeping, with the network answered by httpx's MockTransport (only the wire is faked).
Goal (issue 3): under 2 ms per batch."""

import tempfile
import time
import uuid

import httpx

from replenit_pipelines.lib.delivery import ClientConfig, ReplenitClient


def main() -> None:
    batches = 400
    records = [
        {"CustomerId": f"c{i}", "Email": f"user{i}@example.com", "Name": "Ada", "Surname": "Lovelace",
         "Phone": "+447911123456", "GdprOptin": True, "Language": "en-GB"}
        for i in range(500 * batches)
    ]
    ok = httpx.Response(200, json={"success": True, "message": "Customers saved.", "data": {"count": 500}},
                        headers={"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "99", "X-RateLimit-Reset": "0"})
    transport = httpx.MockTransport(lambda request: ok)
    with tempfile.TemporaryDirectory() as tmp:
        for limits, label in (((), "no windows"), (((10**9, 60.0), (10**9, 3600.0)), "two windows in the ledger")):
            client = ReplenitClient(ClientConfig(base_url="https://api.replen.it", tenant_id=str(uuid.uuid4()),
                                                 api_key="bench", limits=limits, quota_dir=tmp, max_in_flight=1),
                                    transport=transport)
            runs = []
            for _ in range(3):
                started = time.perf_counter()
                report = client.deliver("customers", records)
                runs.append((time.perf_counter() - started) / report.counters.requests * 1000)
            per_batch_ms = sorted(runs)[1]  # the median of three
            assert len(report.accepted) == len(records)
            print(f"client overhead ({label}): {per_batch_ms:.2f} ms per 500-record batch over {report.counters.requests} "
                  f"batches (median of 3; runs {', '.join(f'{r:.2f}' for r in runs)}); goal < 2 ms: {'PASS' if per_batch_ms < 2 else 'FAIL'}")


if __name__ == "__main__":
    main()
