"""starsync console: entry script (home page). Run from this folder: ``streamlit run Home.py``.

The pages in ``pages/`` are the tools; this page logs the DBA in and says which master and hub the
console talks to. All logic lives in ``starsync_gui``.
"""

import streamlit as st

from starsync_gui import db, hub, ui

settings = ui.page_setup("Home")

st.title("starsync console")
st.caption("The DBA's console on the master: SQL, schema, replication status and export.")

warning = ui.bind_warning()
if warning:
    st.warning(warning)

left, right = st.columns(2)
with left:
    st.subheader("Master")
    try:
        with db.connect(settings.db) as conn:
            info = db.server_info(conn)
    except db.DbError as e:
        st.error(str(e))
    else:
        st.markdown(
            f"- server `{info['hostname']}:{info['port']}`, MariaDB {info['version']}\n"
            f"- server_id `{info['server_id']}`, gtid_domain_id `{info['gtid_domain_id']}`\n"
            f"- gtid_binlog_pos `{info['gtid_binlog_pos'] or '(empty)'}`\n"
            f"- connected as `{info['account']}`"
        )
with right:
    st.subheader("Hub")
    try:
        status = hub.fetch_status(
            settings.hub.status_url, timeout=min(settings.hub.timeout, 2.0), token=settings.hub.token
        )
    except hub.HubUnavailable as e:
        st.warning(str(e))
    else:
        connected = sum(1 for n in status.nodes if n.get("connected"))
        st.markdown(
            f"- `{settings.hub.status_url}`: {connected} of {len(status.nodes)} node(s) connected\n"
            f"- conflicts recorded: {status.conflicts_total if status.conflicts_total is not None else '?'}"
        )

st.markdown(
    "**Pages** (sidebar): *SQL console* runs statements and logs them; *Query log* searches that "
    "history; *Schema* browses, creates and drops databases and tables; *Replication* shows every "
    "node's position and lag and recent conflicts; *Export* downloads a database as `.sql`."
)
