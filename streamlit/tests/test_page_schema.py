"""Schema page against the real master: browse, create database/table, drop behind confirmation."""

from __future__ import annotations

SCHEMA = "pages/3_Schema.py"


def tables_of(master, database: str) -> list[str]:
    return [
        r[0]
        for r in master.query(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s ORDER BY 1", (database,)
        )
    ]


def logged(master, like: str) -> list[tuple]:
    return master.query(
        "SELECT user, statement, outcome FROM starsync.query_log WHERE statement LIKE %s ORDER BY id", (like,)
    )


def test_browse_shows_databases_tables_columns_and_row_estimates(open_page, master):
    master.execute("ANALYZE TABLE MOST.customers")
    at = open_page(SCHEMA)
    assert not at.error, [e.value for e in at.error]
    databases = at.dataframe[0].value
    most = databases[databases["name"] == "MOST"].iloc[0]
    assert most["tables"] >= 1 and not most["system"]
    assert databases[databases["name"] == "mysql"].iloc[0]["system"]

    assert at.selectbox(key="browse_db").value == "MOST"
    tables = at.dataframe[1].value
    row = tables[tables["name"] == "customers"].iloc[0]
    assert row["rows_estimate"] == 3 and row["has_primary_key"]

    at.selectbox(key="browse_table").select("customers").run()
    columns = at.dataframe[2].value
    assert columns["name"].tolist() == ["id", "name", "balance"]
    assert columns["type"].tolist() == ["int(11)", "varchar(64)", "decimal(10,2)"]


def test_create_and_drop_a_table(open_page, master):
    at = open_page(SCHEMA, name="dora")

    # Create: the form's first column defaults to an auto-increment primary key.
    at.text_input(key="new_table_name").input("gui_made")
    at.number_input(key="new_table_cols").set_value(2).run()
    at.text_input(key="col_name_1").input("label")
    at.text_input(key="col_type_1").input("VARCHAR(40)")
    at.checkbox(key="col_null_1").uncheck()
    at.text_input(key="col_default_1").input("'none'")
    at.run()
    preview = [c.value for c in at.code if c.value.startswith("CREATE TABLE")][0]
    assert preview == (
        "CREATE TABLE `MOST`.`gui_made` (\n"
        "  `id` BIGINT NOT NULL AUTO_INCREMENT,\n"
        "  `label` VARCHAR(40) NOT NULL DEFAULT 'none',\n"
        "  PRIMARY KEY (`id`)\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    )
    assert not [w for w in at.warning if "no primary key" in w.value]
    at.button(key="create_table").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert "gui_made" in tables_of(master, "MOST")
    assert [s.value for s in at.success if s.value.startswith("OK")], "the result of the DDL is shown"
    # The listing drawn after the action already has the new table.
    assert "gui_made" in at.dataframe[1].value["name"].tolist()
    master.execute("INSERT INTO MOST.gui_made (label) VALUES ('x')")

    # Drop: refused until the exact name is typed.
    at.selectbox(key="drop_table_db").select("MOST").run()
    at.selectbox(key="drop_table_name").select("gui_made").run()
    assert at.button(key="drop_table").disabled
    at.text_input(key="drop_table_confirm").input("gui_made").run()  # not qualified: not enough
    assert at.button(key="drop_table").disabled  # AppTest, like a browser, cannot click it
    assert "gui_made" in tables_of(master, "MOST")

    at.text_input(key="drop_table_confirm").input("MOST.gui_made").run()
    assert not at.button(key="drop_table").disabled
    at.button(key="drop_table").click().run()
    assert not at.exception, at.exception
    assert "gui_made" not in tables_of(master, "MOST")
    assert at.text_input(key="drop_table_confirm").value == "", "the confirmation is reset"

    assert logged(master, "%`MOST`.`gui_made`%") == [
        ("dora", preview, "ok"),
        ("dora", "DROP TABLE `MOST`.`gui_made`", "ok"),
    ]


def test_table_without_primary_key_warns_and_needs_acknowledgement(open_page, master):
    at = open_page(SCHEMA)
    at.text_input(key="new_table_name").input("no_pk_table")
    at.checkbox(key="col_pk_0").uncheck()
    at.checkbox(key="col_ai_0").uncheck()
    at.run()
    assert any("This table has no primary key" in w.value for w in at.warning)
    at.button(key="create_table").click().run()
    assert "no_pk_table" not in tables_of(master, "MOST")
    assert any("without a primary key anyway" in e.value for e in at.error)

    at.checkbox(key="new_table_no_pk_ok").check().run()
    at.button(key="create_table").click().run()
    assert not at.error, [e.value for e in at.error]
    assert "no_pk_table" in tables_of(master, "MOST")
    # Browsing now flags the table.
    assert any("no_pk_table" in w.value and "Without a primary key" in w.value for w in at.warning)
    master.execute("DROP TABLE MOST.no_pk_table")


def test_create_table_error_is_the_servers(open_page, master):
    at = open_page(SCHEMA)
    at.text_input(key="new_table_name").input("customers")  # exists already
    at.run()
    at.button(key="create_table").click().run()
    assert any("(1050, \"Table 'customers' already exists\")" in e.value for e in at.error)


def test_create_and_drop_a_database(open_page, master):
    at = open_page(SCHEMA)
    at.text_input(key="new_db_name").input("gui_db")
    at.button(key="create_db").click().run()
    assert not at.error, [e.value for e in at.error]
    assert master.execute("SHOW DATABASES LIKE 'gui_db'") == [("gui_db",)]

    at.selectbox(key="drop_db_name").select("gui_db").run()
    at.text_input(key="drop_db_confirm").input("gui_db").run()
    at.button(key="drop_db").click().run()
    assert not at.error, [e.value for e in at.error]
    assert master.execute("SHOW DATABASES LIKE 'gui_db'") == []
    statements = [s for _, s, _ in logged(master, "%`gui_db`%")]
    assert statements == ["CREATE DATABASE `gui_db` CHARACTER SET utf8mb4", "DROP DATABASE `gui_db`"]


def test_system_schemas_are_never_offered_for_drop(open_page, master):
    at = open_page(SCHEMA)
    offered = set(at.selectbox(key="drop_db_name").options) | set(at.selectbox(key="drop_table_db").options)
    assert "MOST" in offered
    assert not offered & {"mysql", "information_schema", "performance_schema", "sys", "starsync"}
    at.selectbox(key="drop_db_name").select("MOST").run()
    assert any("MOST is the replicated database" in w.value for w in at.warning)
    # Even a forged confirmation cannot reach a system schema: the builder refuses it.
    at.text_input(key="new_db_name").input("mysql")
    at.button(key="create_db").click().run()
    assert any("'mysql' is a system schema" in e.value for e in at.error)
