"""The send-time check (lib/stages/acknowledge.py send_check) as the retry stage calls it, with its
default: a queued payload whose very content another run has since stored is not sent again
(stored elsewhere), unless a full refresh is asked for. A real ledger file."""

from contextlib import closing

from replenit_pipelines.lib.ledger import content_hash, open_ledger
from replenit_pipelines.lib.ledger.base import now_ms
from replenit_pipelines.lib.stages.acknowledge import STORED_ELSEWHERE, send_check

BASE_URL, TENANT = "http://127.0.0.1:8765", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
IDENTITY = "customerid:c1"


def test_content_another_run_stored_is_not_sent_again_unless_refreshing(tmp_path, monkeypatch):
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    payload = b'{"CustomerId":"c1","Email":"ada@example.com"}'
    with closing(open_ledger(tmp_path, BASE_URL, TENANT, "customers")) as ledger:
        ledger.acknowledge([IDENTITY], [content_hash(payload)], "run-1")
        read_later = now_ms() + 60_000  # this run read the warehouse after run-1's version: not older
        default = send_check(ledger, [IDENTITY], [content_hash(payload)], "run-2", read_later)
        refresh = send_check(ledger, [IDENTITY], [content_hash(payload)], "run-2", read_later, full_refresh=True)
        assert default is not None and refresh is not None
        assert (default([0]), refresh([0])) == ({0: STORED_ELSEWHERE}, {})


def test_a_unit_whose_read_time_is_not_known_gets_only_the_same_content_test(tmp_path, monkeypatch):
    """read_at=None for the whole unit: another run's newer read cannot be judged, so a changed
    payload is sent; the same content is still not sent again."""
    monkeypatch.delenv("REPLENIT_STATE_URL", raising=False)
    stored, changed = b'{"CustomerId":"c1","Email":"ada@example.com"}', b'{"CustomerId":"c1","Email":"ada@example.org"}'
    with closing(open_ledger(tmp_path, BASE_URL, TENANT, "customers")) as ledger:
        ledger.acknowledge([IDENTITY], [content_hash(stored)], "run-1")
        same, other = (send_check(ledger, [IDENTITY], [content_hash(p)], "run-2", None) for p in (stored, changed))
        assert same is not None and other is not None
        assert (same([0]), other([0])) == ({0: STORED_ELSEWHERE}, {})
