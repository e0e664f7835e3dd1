"""Schema: browse the master's databases and tables; create and drop them (master only).

Actions run in button callbacks, i.e. before the page is drawn again, so the listings below always
show the state after the action. Each action goes through the console's executor: it is timed,
shown with the server's message on error, and written to the query log.
"""

import pandas as pd
import streamlit as st

from starsync_gui import auth, db, executor, schema, ui

settings = ui.page_setup("Schema")
st.title("Schema")
st.caption(
    f"Databases and tables of the master ({settings.db.describe()}). DDL runs on the master only; "
    "the hub carries it to every snap."
)

RESULT_KEY = "schema_last_action"


def _run(sql: str) -> None:
    """Execute ``sql`` as the logged-in user and keep the outcome for display."""
    try:
        run = executor.run_script(settings.db, sql, user=auth.current_user(settings.db.user))
    except db.DbError as e:
        st.session_state[RESULT_KEY] = ("error", str(e))
    else:
        st.session_state[RESULT_KEY] = ("run", run)


def _refuse(message: str) -> None:
    st.session_state[RESULT_KEY] = ("error", message)


def create_database() -> None:
    name = st.session_state.get("new_db_name", "").strip()
    try:
        sql = schema.create_database_sql(name, st.session_state.get("new_db_charset", "utf8mb4").strip())
    except schema.SchemaError as e:
        return _refuse(str(e))
    _run(sql)


def _column_specs(count: int) -> list[schema.ColumnSpec]:
    return [
        schema.ColumnSpec(
            name=st.session_state.get(f"col_name_{i}", ""),
            type=st.session_state.get(f"col_type_{i}", ""),
            nullable=st.session_state.get(f"col_null_{i}", True),
            primary_key=st.session_state.get(f"col_pk_{i}", False),
            auto_increment=st.session_state.get(f"col_ai_{i}", False),
            default=st.session_state.get(f"col_default_{i}", ""),
        )
        for i in range(count)
    ]


def create_table(database: str, count: int) -> None:
    try:
        draft = schema.create_table_sql(
            database, st.session_state.get("new_table_name", "").strip(), _column_specs(count)
        )
    except schema.SchemaError as e:
        return _refuse(str(e))
    if not draft.has_primary_key and not st.session_state.get("new_table_no_pk_ok"):
        return _refuse("Tick “create it without a primary key anyway” to create a table without one.")
    _run(draft.sql)


def drop_table(database: str, table: str) -> None:
    if st.session_state.get("drop_table_confirm", "") != f"{database}.{table}":
        return _refuse(f"Type {database}.{table} exactly to confirm the drop.")
    try:
        sql = schema.drop_table_sql(database, table)
    except schema.SchemaError as e:
        return _refuse(str(e))
    _run(sql)
    st.session_state["drop_table_confirm"] = ""


def drop_database(database: str) -> None:
    if st.session_state.get("drop_db_confirm", "") != database:
        return _refuse(f"Type {database} exactly to confirm the drop.")
    try:
        sql = schema.drop_database_sql(database)
    except schema.SchemaError as e:
        return _refuse(str(e))
    _run(sql)
    st.session_state["drop_db_confirm"] = ""


# Outcome of the last action, drawn above everything else.
last = st.session_state.get(RESULT_KEY)
if last is not None:
    kind, value = last
    if kind == "error":
        st.error(value)
    else:
        ui.render_run(value)

try:
    with db.connect(settings.db) as conn:
        databases = schema.list_databases(conn)
        user_dbs = [d["name"] for d in databases if not d["system"]]
        browse_tab, create_tab, drop_tab = st.tabs(["Browse", "Create", "Drop"])

        with browse_tab:
            st.dataframe(
                pd.DataFrame(
                    databases, columns=["name", "tables", "bytes", "charset", "collation", "system"]
                ),
                width="stretch",
                hide_index=True,
            )
            names = [d["name"] for d in databases]
            default = names.index("MOST") if "MOST" in names else 0
            browse_db = st.selectbox("Database", names, index=default, key="browse_db") if names else None
            tables = schema.list_tables(conn, browse_db) if browse_db else []
            if not tables:
                st.info(f"{browse_db} has no tables.")
            else:
                st.dataframe(
                    pd.DataFrame(tables),
                    width="stretch",
                    hide_index=True,
                    column_config={"rows_estimate": st.column_config.NumberColumn("rows (estimate)")},
                )
                no_pk = [t["name"] for t in tables if not t["has_primary_key"] and t["type"] == "BASE TABLE"]
                if no_pk and not db.is_system_schema(browse_db):
                    st.warning(
                        "Without a primary key starsync cannot replicate updates and deletes "
                        f"reliably: {', '.join(no_pk)}"
                    )
                browse_table = st.selectbox("Table", [t["name"] for t in tables], key="browse_table")
                st.dataframe(
                    pd.DataFrame(schema.list_columns(conn, browse_db, browse_table)),
                    width="stretch",
                    hide_index=True,
                )

        with create_tab:
            st.subheader("Create database")
            c1, c2 = st.columns([3, 1])
            c1.text_input("Name", key="new_db_name")
            c2.text_input("Character set", value="utf8mb4", key="new_db_charset")
            st.button("Create database", key="create_db", on_click=create_database)

            st.subheader("Create table")
            if not user_dbs:
                st.info("Create a database first.")
            else:
                target = st.selectbox(
                    "In database",
                    user_dbs,
                    index=user_dbs.index("MOST") if "MOST" in user_dbs else 0,
                    key="new_table_db",
                )
                st.text_input("Table name", key="new_table_name")
                count = int(st.number_input("Columns", 1, 50, 3, key="new_table_cols"))
                st.caption(f"Common types: {', '.join(schema.COMMON_TYPES)}; any MariaDB type can be typed.")
                for i in range(count):
                    first = i == 0
                    cols = st.columns([3, 3, 1, 1, 1, 2])
                    cols[0].text_input("Column", value="id" if first else "", key=f"col_name_{i}")
                    cols[1].text_input(
                        "Type", value="BIGINT" if first else "VARCHAR(255)", key=f"col_type_{i}"
                    )
                    cols[2].checkbox("NULL", value=not first, key=f"col_null_{i}")
                    cols[3].checkbox("PK", value=first, key=f"col_pk_{i}")
                    cols[4].checkbox("Auto inc.", value=first, key=f"col_ai_{i}")
                    cols[5].text_input("Default", key=f"col_default_{i}")
                try:
                    draft = schema.create_table_sql(
                        target,
                        st.session_state.get("new_table_name", "").strip() or "new_table",
                        _column_specs(count),
                    )
                except schema.SchemaError as e:
                    st.warning(str(e))
                else:
                    st.code(draft.sql, language="sql")
                    if not draft.has_primary_key:
                        st.warning(
                            "This table has no primary key. starsync applies replicated row changes "
                            "by primary key: without one, updates and deletes cannot be matched "
                            "reliably on the other nodes."
                        )
                        st.checkbox("Create it without a primary key anyway", key="new_table_no_pk_ok")
                st.button("Create table", key="create_table", on_click=create_table, args=(target, count))

        with drop_tab:
            st.caption(
                "System schemas (" + ", ".join(sorted(db.SYSTEM_SCHEMAS)) + ") are never offered "
                "and are refused."
            )
            if not user_dbs:
                st.info("There is nothing that may be dropped.")
            else:
                st.subheader("Drop table")
                drop_db = st.selectbox("Database", user_dbs, key="drop_table_db")
                drop_tables = [t["name"] for t in schema.list_tables(conn, drop_db)]
                if not drop_tables:
                    st.info(f"{drop_db} has no tables.")
                else:
                    drop_tbl = st.selectbox("Table", drop_tables, key="drop_table_name")
                    st.text_input(f"Type `{drop_db}.{drop_tbl}` to confirm", key="drop_table_confirm")
                    st.button(
                        "Drop table",
                        key="drop_table",
                        type="primary",
                        disabled=st.session_state.get("drop_table_confirm") != f"{drop_db}.{drop_tbl}",
                        on_click=drop_table,
                        args=(drop_db, drop_tbl),
                    )

                st.subheader("Drop database")
                gone = st.selectbox("Database", user_dbs, key="drop_db_name")
                if gone == "MOST":
                    st.warning("MOST is the replicated database: dropping it drops it on every snap.")
                st.text_input(f"Type `{gone}` to confirm", key="drop_db_confirm")
                st.button(
                    "Drop database",
                    key="drop_db",
                    type="primary",
                    disabled=st.session_state.get("drop_db_confirm") != gone,
                    on_click=drop_database,
                    args=(gone,),
                )
except db.DbError as e:
    st.error(str(e))
