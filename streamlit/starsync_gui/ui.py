"""Streamlit pieces shared by the pages: page setup and rendering of statement results.

Pages stay thin: they call :func:`page_setup` and then the logic modules; anything that draws the
same thing on two pages lives here.
"""

from __future__ import annotations

import streamlit as st

from . import auth, executor
from .config import ConfigError, Settings, load_settings

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def page_setup(title: str) -> Settings:
    """Configure the page, enforce login and return the settings (stops on bad config)."""
    st.set_page_config(page_title=f"{title} · starsync", page_icon="⭐", layout="wide")
    auth.require_login()
    try:
        settings = load_settings()
    except ConfigError as e:
        st.error(f"Configuration error: {e}")
        st.stop()
    with st.sidebar:
        st.caption(f"Master: `{settings.db.describe()}`")
        st.caption(f"Logged in as **{auth.current_user(settings.db.user)}**")
        if st.button("Log out", key="logout"):
            auth.logout()
            st.rerun()
    return settings


def bind_warning() -> str | None:
    """A warning when Streamlit listens beyond localhost (``server.address`` not loopback)."""
    address = st.get_option("server.address")
    if address in _LOOPBACK:
        return None
    shown = address or "all interfaces"
    return (
        f"Streamlit is listening on {shown}. The console runs SQL as the DBA: start it from "
        "`streamlit/` (or with `streamlit/run.sh`) so `.streamlit/config.toml` binds it to "
        "127.0.0.1, and reach it through an SSH tunnel."
    )


def render_run(run: executor.Run) -> None:
    """Show each statement's outcome: result tables, affected rows, timing, server errors."""
    results = run.results
    total_ms = sum(r.duration_ms for r in results)
    failed = sum(1 for r in results if not r.ok)
    summary = f"{len(results)} statement(s) in {total_ms:.1f} ms"
    if failed:
        summary += f", {failed} failed"
    st.caption(summary)
    for i, res in enumerate(results, start=1):
        with st.container(border=True):
            head = res.statement.text if len(res.statement.text) <= 300 else res.statement.text[:300] + " …"
            st.code(head, language="sql")
            if not res.ok:
                st.error(f"Statement {i} (line {res.statement.line}) failed: {res.error}")
            for rs in res.result_sets:
                label = f"{rs.row_count} row{'s' if rs.row_count != 1 else ''}"
                if rs.truncated:
                    label += f" (showing the first {len(rs.rows)})"
                st.caption(f"{label} · {res.duration_ms:.1f} ms")
                st.dataframe(executor.to_dataframe(rs), width="stretch", hide_index=True)
            if res.ok and not res.result_sets:
                affected = res.affected_rows if res.affected_rows is not None else 0
                st.success(f"OK, {affected} row(s) affected · {res.duration_ms:.1f} ms")
            for level, code, message in res.warnings:
                st.warning(f"{level} {code}: {message}")
            if res.log_error:
                st.warning(res.log_error)
    if run.stopped_early:
        skipped = run.planned - len(results)
        st.info(f"Stopped at the error: {skipped} later statement(s) were not run.")
