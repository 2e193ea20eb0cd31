"""prepare judges a window's rows on a thread of its own (lib/validation/prepare.py `_on_a_thread`)
while the superseded rows are found: a daemon thread, so a process stopped while a window is being
judged (Ctrl-C, an error elsewhere) exits without waiting for the judgement to end, and its failures
reach the caller."""

import importlib
import threading

import polars as pl
from helpers import CUSTOMER_MAPPING

from replenit_pipelines.lib.validation import prepare

prepare_module = importlib.import_module("replenit_pipelines.lib.validation.prepare")  # the package's `prepare` is the function


def test_the_rows_are_judged_on_a_daemon_thread_and_its_failures_are_the_windows(monkeypatch):
    judged_on: list[threading.Thread] = []
    judge = prepare_module._failures

    def spy(*args):
        judged_on.append(threading.current_thread())
        return judge(*args)

    monkeypatch.setattr(prepare_module, "_failures", spy)
    frame = pl.DataFrame({"id": ["c1", "c2"], "email": ["a@example.com", "not an email"], "name": ["A", "B"], "phone": [None, None],
                          "locale": ["en-GB", "en-GB"], "gdpr": [True, True]},
                         schema_overrides={"phone": pl.String}).with_columns(updated_at=pl.lit(None, pl.Datetime("us", "UTC")))
    prepared = prepare(CUSTOMER_MAPPING, frame)
    (thread,) = judged_on
    assert thread is not threading.main_thread() and thread.name == "replenit-judge" and thread.daemon
    assert (prepared.records_valid, prepared.quarantine["record_id"].to_list()) == (1, ["customerid:c2"])
