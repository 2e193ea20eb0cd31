"""The package's one base error: `except ReplenitError` catches every error this package raises on
purpose (bad configuration, bad input, a refused key), and nothing else."""


import difflib
from collections.abc import Iterable


class ReplenitError(Exception):
    """Base of every error replenit_pipelines raises on purpose; its message says what to fix."""


def close_names(name: str, candidates: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """The names a mistyped `name` most likely meant: the same name in another case first, else the
    most similar ones (difflib, case ignored). The one did-you-mean of every error message."""
    ordered = sorted(set(candidates))
    same = [c for c in ordered if c.lower() == name.lower()]
    if same:
        return same[:n]
    lowered = {c.lower(): c for c in ordered}
    return [lowered[c] for c in difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=cutoff)]

