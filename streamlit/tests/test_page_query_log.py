"""Query log page: statements run in the console are listed and searchable."""

from __future__ import annotations

from test_page_console import CONSOLE, run_sql

LOG = "pages/2_Query_Log.py"


def test_history_lists_and_searches_executed_statements(open_page):
    at = open_page(CONSOLE, name="carol")
    at = run_sql(at, "SELECT 'history-marker-ok' AS m; SELECT * FROM history_marker_missing")
    assert len(at.error) == 1

    at.switch_page(LOG).run()
    assert not at.exception, at.exception
    frame = at.dataframe[0].value
    assert {"executed_at", "user", "statement", "duration_ms", "rows_affected", "outcome", "error"} <= set(
        frame.columns
    )

    at.text_input(key="log_text").input("history").run()
    frame = at.dataframe[0].value
    assert frame["statement"].tolist() == [
        "SELECT * FROM history_marker_missing",
        "SELECT 'history-marker-ok' AS m",
    ]  # newest first
    assert frame["user"].tolist() == ["carol", "carol"]
    assert frame["outcome"].tolist() == ["error", "ok"]
    assert "doesn't exist" in frame["error"].tolist()[0]
    assert frame["rows_affected"].tolist()[1] == 1

    at.selectbox(key="log_outcome").select("error").run()
    assert at.dataframe[0].value["statement"].tolist() == ["SELECT * FROM history_marker_missing"]

    at.text_input(key="log_user").input("nobody-such").run()
    assert not at.dataframe
    assert [i.value for i in at.info] == ["No matching entries."]


def test_search_text_is_literal_not_a_pattern(open_page):
    at = open_page(CONSOLE)
    at = run_sql(at, "SELECT 'pct_literal' AS x")
    at.switch_page(LOG).run()
    at.text_input(key="log_text").input("pct\\_lit").run()  # a backslash and underscore, literally
    assert not at.dataframe
    at.text_input(key="log_text").input("'pct_literal'").run()
    assert at.dataframe[0].value["statement"].tolist() == ["SELECT 'pct_literal' AS x"]
