"""Subcommands beyond the sandbox (filled in as the stages land)."""

import argparse


def register(sub: "argparse._SubParsersAction") -> None:
    pass
