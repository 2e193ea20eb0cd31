"""Peak memory and time of `replenit push` on large files (issue 9: at most 300 MB for 10M records).

Writes NDJSON and JSON-array files of small customer records (about 70 bytes each, as in the
issue), pushes each with the real command in a child process against the real sandbox with its
limits off, and prints the child's peak RSS and wall time. A plain loop that reads the file and
posts 500-record bodies is measured beside it for reference.

    ./dev bench push_memory                 # 300k and 3M records
    ./dev bench push_memory 300000          # chosen sizes
    ./dev bench push_memory 10000000 --ndjson-only
"""

import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import httpx
from _common import start_sandbox, stop_sandbox

WRAPPER = """
import resource, sys, time
from replenit_pipelines import cli
started = time.monotonic()
code = cli.main(sys.argv[1:])
print(f"BENCH {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} {time.monotonic() - started:.1f} {code}", file=sys.stderr)
"""

PLAIN_LOOP = """
import json, resource, sys, time, httpx
url, tenant, key, path = sys.argv[1:5]
started = time.monotonic()
with httpx.Client(base_url=url, headers={"x-replenit-auth-key": key}, timeout=60) as http, open(path, "rb") as f:
    batch = []
    for line in f:
        batch.append(json.loads(line))
        if len(batch) == 500:
            http.post(f"/customers/{tenant}", json=batch).raise_for_status(); batch = []
    if batch:
        http.post(f"/customers/{tenant}", json=batch).raise_for_status()
print(f"BENCH {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} {time.monotonic() - started:.1f} 0", file=sys.stderr)
"""


def write_files(folder: Path, n: int) -> tuple[Path, Path]:
    ndjson, array = folder / f"customers_{n}.ndjson", folder / f"customers_{n}.json"
    with ndjson.open("w") as nd, array.open("w") as arr:
        arr.write("[\n")
        for i in range(n):
            line = json.dumps({"CustomerId": f"c{i}", "Email": f"user{i}@example.com", "Name": "Ada"})
            nd.write(line + "\n")
            arr.write(line + (",\n" if i < n - 1 else "\n"))
        arr.write("]\n")
    return ndjson, array


def new_tenant(url: str) -> tuple[str, str]:
    """A tenant per run, so that each starts from an empty store."""
    tenant, key = str(uuid.uuid4()), "bench-" + uuid.uuid4().hex
    httpx.post(f"{url}/_sandbox/tenants", json={"tenant_id": tenant, "key": key}, timeout=10).raise_for_status()
    return tenant, key


def run(argv: list[str], env: dict) -> tuple[float, float, int]:
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600)
    line = [x for x in out.stderr.splitlines() if x.startswith("BENCH ")]
    if not line:
        raise RuntimeError(out.stderr[-2000:])
    rss, wall, code = line[-1].split()[1:]
    return float(rss), float(wall), int(code)


def main() -> None:
    args = sys.argv[1:]
    formats = ("NDJSON", "JSON array")
    if "--ndjson-only" in args:  # the 10M figure: half the time
        args.remove("--ndjson-only")
        formats = ("NDJSON",)
    sizes = [int(x) for x in args] or [300_000, 3_000_000]
    proc, url = start_sandbox("--limits", "off")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for n in sizes:
                ndjson, array = write_files(folder, n)
                mb = ndjson.stat().st_size / 1e6
                for label, path in [(f, p) for f, p in (("NDJSON", ndjson), ("JSON array", array)) if f in formats]:
                    tenant, key = new_tenant(url)
                    env = {**os.environ, "REPLENIT_BASE_URL": url, "REPLENIT_TENANT_ID": tenant, "REPLENIT_API_KEY": key,
                           "REPLENIT_STATE_DIR": str(folder / "state")}
                    rss, wall, code = run([sys.executable, "-c", WRAPPER, "push", "customers", str(path), "--json",
                                           "--limits", "off"], env)
                    print(f"push {label:10} {n:>10,} records ({mb:,.0f} MB): peak RSS {rss:,.0f} MB, {wall:,.1f} s, "
                          f"{n / wall:,.0f} records/s, exit {code}", flush=True)
                tenant, key = new_tenant(url)
                rss, wall, _ = run([sys.executable, "-c", PLAIN_LOOP, url, tenant, key, str(ndjson)], dict(os.environ))
                print(f"plain read-and-post loop {n:>10,} records: peak RSS {rss:,.0f} MB, {wall:,.1f} s (reference)", flush=True)
                ndjson.unlink()
                array.unlink()
                httpx.post(f"{url}/_sandbox/reset", timeout=60).raise_for_status()  # frees the sandbox's records
    finally:
        stop_sandbox(proc)


if __name__ == "__main__":
    main()
