"""The exit codes of `replenit sync`, `push` and `replay`: one table, one rule (docs/cli.md).

A load of a warehouse with ordinary dirt (a few percent of bad rows, every one quarantined with its
reason and every valid row delivered) is a good load and exits 0: a cron job or CI step that fails
on it teaches people to ignore exit codes. Quarantine is a failure only when the quarantine gate
calls it abnormal (it then holds rows back: exit 1) or with --strict.
"""

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_STOPPED = 3

EXIT_CODES_TEXT = """\
exit codes (the same for sync, push and replay; docs/cli.md):
  0  every valid record was delivered or is unchanged; quarantined rows (within what the
     quarantine gate calls normal) are reported, not failed
  1  records failed or were dead-lettered, the quarantine gate held rows back, or the state
     database (REPLENIT_STATE_URL) failed under the run: run again once it is back{strict}
  2  bad input or settings (an argument, a setting, the mapping, the file, a delete guard): nothing was sent
  3  stopped: the API refused the key or tenant (401/403/404), or could not be reached
A dry run exits 0 unless it cannot plan (then 2 or 3).
"""

# What --strict adds to exit 1, per command. replay has no --strict: it re-sends payloads that were
# validated when first sent, so it has nothing to quarantine (a record rejected again exits 1 anyway).
STRICT_TEXT = {"sync": ";\n     with --strict, also any quarantined row",
               "push": ";\n     with --strict, also any record refused before sending",
               "replay": ""}


def exit_codes_text(command: str) -> str:
    """The exit codes' table for a command's --help: only the flags it has."""
    return EXIT_CODES_TEXT.format(strict=STRICT_TEXT[command])


@dataclass(frozen=True)
class RunOutcome:
    """What decides a run's exit code, whatever the command."""

    stopped: bool = False  # the API refused the key or tenant, or could not be reached
    failed: int = 0  # records or rows rejected, failed after retries, dead-lettered, or not attempted
    held_back: int = 0  # valid rows the quarantine gate held back (or 1: it tripped with none to hold)
    quarantined: int = 0  # invalid rows or records, refused before sending
    balanced: bool = True  # the run's row accounting closes
    dry_run: bool = False


def exit_code(outcome: RunOutcome, strict: bool = False) -> int:
    if outcome.stopped:
        return EXIT_STOPPED
    if outcome.dry_run:
        return EXIT_OK  # it planned: what it found is in its summary
    if not outcome.balanced or outcome.failed or outcome.held_back:
        return EXIT_FAILED
    if strict and outcome.quarantined:
        return EXIT_FAILED
    return EXIT_OK


def sync_outcome(counts: dict, stopped: bool, balanced: bool) -> RunOutcome:
    """A sync's or a reconciliation's counts (SyncResult / ReconcileResult .counts())."""
    failed = (counts.get("rows_dead_lettered", 0) + counts.get("rows_not_attempted", 0)
              + counts.get("records_retry_failed", 0) + counts.get("records_delete_failed", 0)
              + counts.get("records_not_deletable", 0))
    # A tripped gate fails the run even with no valid row to hold back (every row quarantined).
    held_back = counts.get("rows_held_back", 0) or counts.get("gate_tripped", 0)
    return RunOutcome(stopped=stopped, failed=failed, held_back=held_back,
                      quarantined=counts.get("rows_quarantined", 0), balanced=balanced, dry_run=bool(counts.get("dry_run")))
