"""SQL console page against the real master: results, several statements, server errors, log."""

from __future__ import annotations

import pymysql

from conftest import DB_PASSWORD, DB_USER

CONSOLE = "pages/1_SQL_Console.py"


def run_sql(at, sql: str, database: str | None = None):
    if database is not None:
        at.selectbox(key="console_db").select(database)
    at.text_area(key="console_sql").input(sql)
    at.button(key="console_run").click()
    return at.run()


def log_rows(master, statement_like: str) -> list[tuple]:
    return master.query(
        "SELECT user, statement, duration_ms, rows_affected, outcome, error FROM starsync.query_log"
        " WHERE statement LIKE %s ORDER BY id",
        (statement_like,),
    )


def test_query_runs_and_its_result_renders(open_page, master):
    at = open_page(CONSOLE, name="alice")
    at = run_sql(at, "SELECT id, name, balance FROM MOST.customers ORDER BY id")
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]

    frame = at.dataframe[0].value
    assert list(frame.columns) == ["id", "name", "balance"]
    assert frame["name"].tolist() == ["Ada", "Grace", "Linus"]
    assert frame["balance"].tolist()[:2] == ["10.50", "20.00"]
    captions = [c.value for c in at.caption]
    assert any(c.startswith("3 rows · ") and c.endswith(" ms") for c in captions), captions
    assert any(c.startswith("1 statement(s) in ") for c in captions), captions

    rows = log_rows(master, "SELECT id, name, balance FROM MOST.customers%")
    assert rows, "the statement was not written to starsync.query_log"
    user, _, duration, count, outcome, error = rows[-1]
    assert (user, count, outcome, error) == ("alice", 3, "ok", None)
    assert duration >= 0


def test_several_statements_share_a_session_and_each_shows(open_page, master):
    at = open_page(CONSOLE)
    script = """
        -- comments and quotes with semicolons must not split: ';' "x;y" `a;b`
        CREATE TABLE MOST.console_multi (id INT PRIMARY KEY, note VARCHAR(20));
        INSERT INTO MOST.console_multi VALUES (1, 'a;b'), (2, 'it''s');
        SET @n := 41;
        SELECT @n + 1 AS answer;
        SELECT note FROM MOST.console_multi ORDER BY id;
        DROP TABLE MOST.console_multi
    """
    at = run_sql(at, script)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.dataframe[0].value["answer"].tolist() == [42]
    assert at.dataframe[1].value["note"].tolist() == ["a;b", "it's"]
    successes = [s.value for s in at.success]
    assert any(s.startswith("OK, 2 row(s) affected") for s in successes), successes
    assert any(c.value.startswith("6 statement(s) in ") for c in at.caption)

    logged = master.execute(
        "SELECT statement, rows_affected, outcome FROM starsync.query_log"
        " WHERE statement LIKE '%console_multi%' ORDER BY id"
    )
    assert [(s.split()[0], r, o) for s, r, o in logged] == [
        ("--", 0, "ok"),  # the CREATE keeps the comment that precedes it
        ("INSERT", 2, "ok"),
        ("SELECT", 2, "ok"),
        ("DROP", 0, "ok"),
    ]


def test_syntax_error_shows_the_servers_message_and_stops(open_page, master):
    at = open_page(CONSOLE)
    at = run_sql(at, "SELECT 1 AS first;\nSELEC broken FROM nowhere;\nSELECT 3 AS never")
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1, errors
    assert '(1064, "You have an error in your SQL syntax;' in errors[0]
    assert "near 'SELEC broken FROM nowhere'" in errors[0]
    assert "line 2" in errors[0]
    assert at.dataframe[0].value["first"].tolist() == [1]
    assert len(at.dataframe) == 1, "execution must stop at the error"
    assert any("1 later statement(s) were not run" in i.value for i in at.info)

    rows = log_rows(master, "SELEC broken FROM nowhere")
    assert len(rows) == 1
    _, _, _, count, outcome, error = rows[0]
    assert outcome == "error" and count is None
    assert error.startswith("(1064, ")
    assert log_rows(master, "SELECT 3 AS never") == []


def test_continue_after_error_runs_the_rest(open_page):
    at = open_page(CONSOLE)
    at.checkbox(key="console_continue").check()
    at = run_sql(at, "SELECT * FROM MOST.no_such_table; SELECT 7 AS after")
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "(1146, \"Table 'MOST.no_such_table' doesn't exist\")" in errors[0]
    assert at.dataframe[0].value["after"].tolist() == [7]


def test_default_database_and_truncated_results(open_page, master, monkeypatch):
    master.execute(
        "CREATE TABLE IF NOT EXISTS MOST.console_many (id INT PRIMARY KEY)",
        "INSERT IGNORE INTO MOST.console_many SELECT seq FROM seq_1_to_25",
        database="MOST",
    )
    config = master.base / "gui-small.toml"
    config.write_text("[gui]\nmax_rows = 10\n")
    monkeypatch.setenv("STARSYNC_GUI_CONFIG", str(config))
    at = open_page(CONSOLE)
    at = run_sql(at, "SELECT id FROM console_many ORDER BY id", database="MOST")
    assert not at.error, [e.value for e in at.error]
    assert len(at.dataframe[0].value) == 10
    assert any(c.value.startswith("25 rows (showing the first 10)") for c in at.caption)


def test_unterminated_quote_is_refused_before_anything_runs(open_page, master):
    at = open_page(CONSOLE)
    at = run_sql(at, "INSERT INTO MOST.customers VALUES (99, 'oops, 1)")
    assert [e.value for e in at.error] == ["Cannot split the script: line 1: ' is never closed"]
    assert master.execute("SELECT COUNT(*) FROM MOST.customers WHERE id = 99") == [(0,)]


def test_log_entries_survive_a_rolled_back_transaction(open_page, master):
    at = open_page(CONSOLE)
    at = run_sql(at, "BEGIN; INSERT INTO MOST.customers VALUES (50, 'temp', 1); ROLLBACK")
    assert not at.error, [e.value for e in at.error]
    assert master.execute("SELECT COUNT(*) FROM MOST.customers WHERE id = 50") == [(0,)]
    assert [r[4] for r in log_rows(master, "INSERT INTO MOST.customers VALUES (50,%")] == ["ok"]


def test_query_log_writes_stay_out_of_the_binlog(open_page, master):
    """The log is local bookkeeping: with the privilege, its writes are not binlogged."""
    before = master.execute("SELECT @@gtid_binlog_pos")[0][0]
    at = open_page(CONSOLE)
    at = run_sql(at, "SELECT 'no binlog' AS probe")
    assert at.dataframe[0].value["probe"].tolist() == ["no binlog"]
    assert log_rows(master, "SELECT 'no binlog' AS probe")
    assert master.execute("SELECT @@gtid_binlog_pos")[0][0] == before


def test_dba_account_is_what_the_gui_uses(master):
    """Sanity check of the fixture: the DBA account works over TCP with its odd password."""
    conn = pymysql.connect(host="127.0.0.1", port=master.port, user=DB_USER, password=DB_PASSWORD)
    conn.close()
