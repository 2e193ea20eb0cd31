"""The bugs issue 17 found surviving the suite, planted one at a time: each must fail a test.

    ./dev bench planted_bugs          # all of them
    ./dev bench planted_bugs 3 7      # by number

Each bug is a one-line edit of the production code, made in a throwaway git worktree of HEAD
(never in this working tree), followed by the tests meant to catch it. Prints KILLED (with the
first failing test) or SURVIVED per bug. An edit whose line is gone (the code moved) is reported
as such: update its pattern. Complements bench/mutation.py, whose mutants are generated.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
R = "replenit_pipelines/"

# (what the bug is, file, original text, planted text, tests that must catch it)
BUGS = [
  ("client: no end-of-window guard", R+"lib/delivery/quota.py", "if (idx + 1) * seconds - now < guard:", "if False:", "tests/lib/delivery/test_quota_clock.py"),
  ("client: 413 not halved", R+"lib/delivery/client.py", "if resp.status_code not in (400, 413):", "if resp.status_code not in (400,):", "tests/lib/delivery/test_client_faults.py"),
  ("client: other 4xx halved instead of rejected", R+"lib/delivery/client.py", "if resp.status_code not in (400, 413):", "if False:", "tests/lib/delivery/test_client_faults.py"),
  ("client: Retry-After HTTP date read as 0", R+"lib/delivery/session.py", "parsedate_to_datetime(value).timestamp() - Session.server_now(resp))", "0 * parsedate_to_datetime(value).timestamp())", "tests/lib/delivery/test_client_faults.py tests/lib/delivery/test_delivery_client.py -k retry_after"),
  ("client: backoff not exponential", R+"lib/delivery/client.py", "self.config.backoff_base_s * 2 ** (failures - 1)", "self.config.backoff_base_s", "tests/lib/delivery/test_quota_clock.py tests/lib/delivery/test_client_faults.py"),
  ("client: no cap on 429s", R+"lib/delivery/client.py", "if rate_limited > self.config.max_rate_limited:", "if False:", "tests/lib/delivery/test_client_faults.py"),
  ("client: 502/504 not retried", R+"lib/delivery/client.py", "RETRYABLE_STATUS = {500, 502, 503, 504}", "RETRYABLE_STATUS = {500, 503}", "tests/lib/delivery/test_client_faults.py"),
  ("sandbox: 429s not counted in the windows", R+"lib/sandbox/ratelimit.py", "            # Report the tighter window", "            if blocked_until:\n                self._count = [c - 1 for c in self._count]\n            # Report the tighter window", "tests/lib/delivery/test_quota_clock.py tests/lib/sandbox/test_sandbox_quota_faults.py -k 'refused or 429s_count'"),
  ("checks: delivery_complete always passing", R+"component/checks.py", "passed=bad == 0 and not result.held_back,", "passed=True,", "tests/component/test_dagster_failures.py"),
  ("checks: row_count_in_range always passing", R+"component/checks.py", "passed = low <= rows <= high", "passed = True", "tests/component/test_dagster_failures.py"),
  ("checks: balance check switched off", R+"component/sync_asset.py", "if not result.balanced():", "if False:", "tests/component/test_dagster_failures.py"),
  ("accounting: dead-lettered rows forced to 0", R+"lib/stages/acknowledge.py", "dead = int(row_counts.gather(dead_idx).sum()) if dead_idx else 0", "dead = 0", "tests/component/test_dagster_failures.py"),
  ("gate: > turned into >= (fixed rule)", R+"lib/validation/gate.py", "held = share > threshold and not few\n        why = f\"{share:.1%} quarantined, fixed", "held = share >= threshold and not few\n        why = f\"{share:.1%} quarantined, fixed", "tests/lib/validation/test_gate_boundaries.py"),
  ("gate: > turned into >= (baseline rule)", R+"lib/validation/gate.py", "held = share > threshold and not few\n    why", "held = share >= threshold and not few\n    why", "tests/lib/validation/test_gate_boundaries.py"),
  ("gate: share computed over superseded rows too", R+"lib/validation/gate.py", "considered = rows_read - rows_superseded", "considered = rows_read", "tests/lib/validation/test_gate_boundaries.py"),
  ("gate: baseline pooled over superseded rows too", R+"lib/validation/gate.py", "considered = sum(r.rows_read - r.rows_superseded for r in history)", "considered = sum(r.rows_read for r in history)", "tests/lib/validation/test_gate_boundaries.py"),
  ("windows: inclusive end (DuckDB table)", R+"lib/warehouse/reader.py", 'in_window = f"{col} >= $start AND {col} < $end"', 'in_window = f"{col} >= $start AND {col} <= $end"', "tests/lib/warehouse/test_windows.py"),
  ("windows: inclusive end (files)", R+"lib/warehouse/reader.py", "in_window = (col >= lo) & (col < hi)", "in_window = (col >= lo) & (col <= hi)", "tests/lib/warehouse/test_windows.py"),
  ("windows: naive bounds always UTC", R+"lib/warehouse/windows.py", "tz = ZoneInfo(source.timezone)", "tz = ZoneInfo('UTC')", "tests/lib/warehouse/test_windows.py"),
  ("contract: XPT missing from the non-money list", R+"lib/contract/formats.py", '"XPD", "XPT", "XDR"', '"XPD", "XDR"', "tests/lib/contract/test_contract_oracle.py"),
  ("contract: script subtags not Titlecased", R+"lib/contract/formats.py", "expected = sub.title()", "expected = sub", "tests/lib/contract/test_contract_oracle.py"),
  ("pipeline: required_with passes when the target is unmapped (the bug fixed here)", R+"lib/validation/schemas.py", "present = pl.col(target).is_not_null() if target in cols else pl.lit(False)", "present = pl.col(target).is_not_null() if target in cols else pl.lit(True)", "tests/lib/contract/test_contract_oracle.py"),
  # issue 21 items 5 and 8
  ("identity: a refused email is an identity (80 customers at @example.com become one)", R+"lib/contract/identity.py", "return ok & text.str.contains(formats.EMAIL_PATTERN) if name == \"Email\" else ok", "return ok", "tests/lib/validation/test_identity_merges.py"),
  ("identity: a refused CustomerId's row groups with strangers by its email", R+"lib/validation/prepare.py", "pl.when(refused).then(None).otherwise(pl.col(\"__key\")).alias(\"__key\")", "pl.col(\"__key\")", "tests/lib/validation/test_identity_merges.py -k over_long"),
  ("merges: customers merged by a shared email not counted", R+"lib/validation/prepare.py", "    if by_id and stale[-1].len():", "    if False:", "tests/lib/validation/test_identity_merges.py"),
  ("privacy: record_id masked as free text only", R+"lib/privacy.py", "\"record_id\": [mask_identity(v) for v in", "\"record_id\": [mask_email(v) for v in", "tests/component/test_dagster_ui.py -k raw_personal_data"),
  # an independent emulator of the contract (w3s7-emu)
  ("client: Retry-After HTTP date read on our clock, not the server's Date", R+"lib/delivery/session.py", "parsedate_to_datetime(value).timestamp() - Session.server_now(resp))", "parsedate_to_datetime(value).timestamp() - time.time())", "tests/lib/delivery/test_delivery_client.py -k retry_after_date"),
  ("push/replay: REPLENIT_LIMITS ignored", R+"lib/delivery/client.py", "    if limits is None and settings.limits:", "    if False:", "tests/lib/delivery/test_push.py -k paces_by_replenit_limits"),
  ("deletes: an id of dots sent as a URL dot segment", R+"lib/delivery/session.py", 'return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted', "return quoted", "tests/lib/delivery/test_delivery_client.py -k dots"),
  ("privacy: identities in free text left whole", R+"lib/privacy.py", "    text = _IDENTITY.sub(_identity_in_text, text)\n", "", "tests/lib/test_privacy.py"),
]


def main() -> None:
    only = {int(a) for a in sys.argv[1:]}
    work = Path(tempfile.mkdtemp(prefix="replenit-planted-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(work), "HEAD"], cwd=ROOT, check=True)
    killed = survived = 0
    try:
        for n, (name, path, old, new, tests) in enumerate(BUGS):
            if only and n not in only:
                continue
            f = work / path
            text = f.read_text()
            if text.count(old) != 1:
                print(f"[{n}] PATTERN NOT FOUND ({text.count(old)} matches) {name}: update it", flush=True)
                continue
            f.write_text(text.replace(old, new))
            try:
                out = subprocess.run(
                    f"{sys.executable} -m pytest -q -x -p no:logging -p no:cacheprovider {tests}",
                    shell=True, cwd=work, capture_output=True, text=True, timeout=600,
                    env={**__import__("os").environ, "PYTHONPATH": str(work)},
                ).stdout
            except subprocess.TimeoutExpired:
                out = "FAILED (timed out)"
            finally:
                f.write_text(text)
            failed = [ln for ln in out.splitlines() if ln.startswith(("FAILED", "ERROR"))]
            if failed or "timed out" in out:
                killed += 1
                print(f"[{n}] KILLED   {name}: {(failed or [out])[0][:150]}", flush=True)
            else:
                survived += 1
                print(f"[{n}] SURVIVED {name}: {out.strip().splitlines()[-1] if out.strip() else ''}", flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(work)], cwd=ROOT)
    print(f"{killed} killed, {survived} survived")


if __name__ == "__main__":
    main()
