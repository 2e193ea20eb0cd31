"""The package's one base error: `except ReplenitError` catches every error this package raises on
purpose (bad configuration, bad input, a refused key), and nothing else."""


class ReplenitError(Exception):
    """Base of every error replenit_pipelines raises on purpose; its message says what to fix."""
