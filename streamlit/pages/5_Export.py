"""Export: download a database of the master as a ``.sql`` file made by ``mariadb-dump``."""

import streamlit as st

from starsync_gui import db, export, ui

settings = ui.page_setup("Export")
st.title("Export")
st.caption(
    "A consistent dump (`" + " ".join(export.DUMP_OPTIONS) + "`) taken without blocking writers. "
    "It imports into an empty MariaDB with `mariadb < FILE.sql` (a MariaDB client of 10.11.8 / "
    "10.6.18 or later: the file starts with the sandbox-mode marker of current mariadb-dump)."
)

DUMP_KEY = "export_dump"

try:
    with db.connect(settings.db) as conn:
        databases = export.exportable_databases(conn)
except db.DbError as e:
    st.error(str(e))
    st.stop()

if not databases:
    st.info("The master has no database to export.")
    st.stop()

default = settings.export.database
database = st.selectbox(
    "Database", databases, index=databases.index(default) if default in databases else 0, key="export_db"
)

if st.button("Prepare export", type="primary", key="export_prepare"):
    st.session_state.pop(DUMP_KEY, None)
    with st.spinner(f"Dumping {database} …"):
        try:
            st.session_state[DUMP_KEY] = export.dump_database(settings.db, settings.export, database)
        except export.ExportError as e:
            st.error(str(e))

dump = st.session_state.get(DUMP_KEY)
if dump is not None and dump.database == database:
    st.success(f"{dump.file_name}: {len(dump.data):,} bytes from `{dump.command}`")
    st.download_button(
        f"Download {dump.file_name}",
        data=dump.data,
        file_name=dump.file_name,
        mime="application/sql",
        key="export_download",
        on_click="ignore",
    )
