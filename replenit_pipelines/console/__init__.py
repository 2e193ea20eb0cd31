"""What the command line shows people: exit codes, run summaries, tables and progress bars
(docs/cli.md). Plain Python over lib/ results; no Dagster import."""
