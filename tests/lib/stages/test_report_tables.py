"""The Markdown tables a run's metadata shows (the quarantine's top reasons, merges, a plan's rows):
lib/stages/report.py markdown_table, plain text in and out, as the Dagster UI renders it."""

from replenit_pipelines.lib.stages.report import markdown_table


def test_a_markdown_table_is_a_header_a_rule_and_one_line_per_row_with_pipes_escaped():
    table = markdown_table(["rule", "field", "rows"], [["format", "Email", 3], ["choice", "a|b", None]])
    assert table.splitlines() == [
        "| rule | field | rows |",
        "|---|---|---|",
        "| format | Email | 3 |",
        "| choice | a\\|b | None |",  # a pipe in a value would end its cell: escaped
    ]


def test_a_markdown_table_without_rows_is_its_header_and_rule():
    assert markdown_table(["identity"], []) == "| identity |\n|---|"
