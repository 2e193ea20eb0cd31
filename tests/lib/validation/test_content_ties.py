"""content_ties (lib/validation/supersede.py): rows of one identity and one time that differ get a
content hash (`__tie`) that orders them; found the same with or without the shared identities."""

import polars as pl

from replenit_pipelines.lib.validation.supersede import content_ties, shared_identities
from tests.helpers import TS


def test_content_ties_without_shared_identities_hash_only_rows_of_one_time_that_differ():
    flat = pl.DataFrame({"__key": ["a", "a", "b", "c", "c"], "__ts": [TS, TS, TS, TS, TS], "Name": ["x", "y", "x", "z", "z"]})
    ties = content_ties(flat, [(["__key"], ["Name"])])
    assert [t != 0 for t in ties.to_list()] == [True, True, False, False, False]
    assert ties[0] != ties[1]
    assert ties.to_list() == content_ties(flat, [(["__key"], ["Name"])], shared_identities(flat, [["__key"]])).to_list()
