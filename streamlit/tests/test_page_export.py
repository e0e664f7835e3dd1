"""Export page: the dump downloads, and imports cleanly into an empty server."""

from __future__ import annotations

import subprocess

EXPORT = "pages/5_Export.py"


def checksum(server, table: str) -> list[tuple]:
    return server.execute(f"CHECKSUM TABLE {table} EXTENDED")


def test_export_imports_cleanly_into_an_empty_server(open_page, master, empty_server):
    master.execute(
        "CREATE TABLE IF NOT EXISTS MOST.export_kinds (id INT PRIMARY KEY, t TEXT, b BLOB, j JSON, d DATETIME(6))",
        "REPLACE INTO MOST.export_kinds VALUES (1, 'quote '' and ; semicolon', 0x00ff10, '{\"a\": [1, 2]}',"
        " '2026-11-26 14:00:00.123456'), (2, 'ünïcødé ⭐', NULL, NULL, NULL)",
        "CREATE OR REPLACE VIEW MOST.rich AS SELECT id, name FROM MOST.customers WHERE balance > 15",
        "CREATE OR REPLACE TRIGGER MOST.kinds_bi BEFORE INSERT ON MOST.export_kinds"
        " FOR EACH ROW SET NEW.t = TRIM(NEW.t)",
        "CREATE OR REPLACE PROCEDURE MOST.count_customers() SELECT COUNT(*) FROM MOST.customers",
    )
    at = open_page(EXPORT)
    assert not at.exception, at.exception
    assert at.selectbox(key="export_db").value == "MOST"
    assert "starsync" not in at.selectbox(key="export_db").options
    at.button(key="export_prepare").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    download = at.download_button(key="export_download")
    assert download.label == "Download MOST.sql"
    assert any(s.value.startswith("MOST.sql: ") and "--single-transaction" in s.value for s in at.success)

    dump = at.session_state["export_dump"].data
    assert b"-- MariaDB dump" in dump[:200], dump[:200]
    assert b"CREATE DATABASE" in dump and b"-- Dump completed" in dump

    assert empty_server.execute("SHOW DATABASES LIKE 'MOST'") == []
    imported = subprocess.run(
        ["mariadb", "--no-defaults", f"--socket={empty_server.socket}", "-uroot", "--batch"],
        input=dump,
        capture_output=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr.decode(errors="replace")
    assert imported.stderr == b"", imported.stderr.decode(errors="replace")

    for table in ("MOST.customers", "MOST.export_kinds"):
        theirs, ours = checksum(empty_server, table), checksum(master, table)
        assert theirs == ours and theirs[0][1] is not None, (table, theirs, ours)
    assert empty_server.execute("SELECT name FROM MOST.rich ORDER BY id") == [("Grace",)]
    assert empty_server.execute("SHOW TRIGGERS FROM MOST")[0][0] == "kinds_bi"
    assert empty_server.execute("CALL MOST.count_customers()") == master.execute(
        "CALL MOST.count_customers()"
    )
    empty_server.execute("DROP DATABASE MOST")


def test_missing_mariadb_dump_is_a_clear_error(open_page, monkeypatch, tmp_path):
    config = tmp_path / "gui.ini"
    config.write_text("[export]\nmariadb_dump = no-such-mariadb-dump\n")
    monkeypatch.setenv("STARSYNC_GUI_CONFIG", str(config))
    at = open_page(EXPORT)
    at.button(key="export_prepare").click().run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1
    assert "'no-such-mariadb-dump' was not found on PATH" in errors[0]
    assert "apt-get install mariadb-client" in errors[0]
    assert not at.download_button


def test_dump_errors_carry_the_servers_message(gui_env):
    from starsync_gui import config, export

    settings = config.load_settings()
    try:
        export.dump_database(settings.db, settings.export, "export_no_such_db")
    except export.ExportError as e:
        message = str(e)
    else:
        raise AssertionError("dumping a missing database must fail")
    assert message.startswith("mariadb-dump failed for export_no_such_db (dba@127.0.0.1:")
    assert "Unknown database 'export_no_such_db'" in message
