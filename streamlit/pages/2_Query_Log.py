"""Query log: the searchable history of every statement the console executed on the master."""

import pandas as pd
import streamlit as st

from starsync_gui import db, querylog, ui

settings = ui.page_setup("Query log")
st.title("Query log")
st.caption(f"From `{querylog.TABLE}` on the master, newest first.")

col_text, col_user, col_outcome = st.columns([3, 2, 1])
with col_text:
    text = st.text_input("Statement or error contains", key="log_text")
with col_user:
    user = st.text_input("User contains", key="log_user")
with col_outcome:
    outcome = st.selectbox("Outcome", ["any", querylog.OK, querylog.ERROR], key="log_outcome")

try:
    with db.connect(settings.db) as conn:
        entries = querylog.search(
            conn,
            text=text.strip(),
            user=user.strip(),
            outcome=None if outcome == "any" else outcome,
            limit=settings.gui.history_rows,
        )
except db.DbError as e:
    st.error(str(e))
    st.stop()

if not entries:
    st.info("No matching entries." if (text or user or outcome != "any") else "The query log is empty.")
else:
    st.caption(
        f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} (at most {settings.gui.history_rows})"
    )
    st.dataframe(
        pd.DataFrame(entries),
        width="stretch",
        hide_index=True,
        column_config={
            "executed_at": st.column_config.DatetimeColumn("executed at", format="YYYY-MM-DD HH:mm:ss.SSS"),
            "duration_ms": st.column_config.NumberColumn("duration (ms)", format="%.1f"),
            "rows_affected": st.column_config.NumberColumn("rows"),
            "statement": st.column_config.TextColumn("statement", width="large"),
        },
    )
