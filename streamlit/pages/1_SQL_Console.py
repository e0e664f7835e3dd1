"""SQL console: run one or more statements on the master; each is timed and logged."""

import streamlit as st

from starsync_gui import auth, db, executor, schema, splitter, ui

settings = ui.page_setup("SQL console")
st.title("SQL console")
st.caption(
    f"Statements run on the master ({settings.db.describe()}) in one session per run, and are "
    "written to `starsync.query_log`. DDL and writes in replicated databases reach every snap."
)

try:
    with db.connect(settings.db) as conn:
        databases = [d["name"] for d in schema.list_databases(conn)]
except db.DbError as e:
    st.error(str(e))
    st.stop()

default_db = settings.db.database or ("MOST" if "MOST" in databases else "")
options = ["(none)"] + databases
col_db, col_opts = st.columns([2, 3])
with col_db:
    chosen = st.selectbox(
        "Default database",
        options,
        index=options.index(default_db) if default_db in options else 0,
        key="console_db",
    )
with col_opts:
    continue_on_error = st.checkbox("Continue after an error", key="console_continue")

script = st.text_area(
    "SQL",
    height=200,
    key="console_sql",
    placeholder="SELECT * FROM MOST.some_table;  -- several statements separated by ;",
)
run_clicked = st.button("Run", type="primary", key="console_run")

if run_clicked:
    if not script.strip():
        st.info("Type a statement first.")
    else:
        try:
            run = executor.run_script(
                settings.db,
                script,
                user=auth.current_user(settings.db.user),
                database=None if chosen == "(none)" else chosen,
                max_rows=settings.gui.max_rows,
                continue_on_error=continue_on_error,
            )
        except splitter.SplitError as e:
            st.error(f"Cannot split the script: {e}")
        except db.DbError as e:
            st.error(str(e))
        else:
            # Kept so the results survive reruns caused by other widgets (e.g. sorting).
            st.session_state["console_last_run"] = run

last = st.session_state.get("console_last_run")
if last is not None:
    if last.planned == 0:
        st.info("The script holds only comments or whitespace: nothing to run.")
    else:
        ui.render_run(last)
