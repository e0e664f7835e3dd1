"""Replication: every node's state, position and lag from the hub, lag over time, recent conflicts.

Each run (page load, the Refresh button, or the optional auto-refresh) fetches the hub's
``/status`` once and appends a lag sample per node to ``st.session_state``, so the chart grows over
the life of the browser session.
"""

import json

import pandas as pd
import streamlit as st

from starsync_gui import conflicts, db, hub, ui

settings = ui.page_setup("Replication")
st.title("Replication")

SAMPLES_KEY = "replication_lag_samples"
url = settings.hub.status_url

top = st.columns([1, 2, 4])
top[0].button("Refresh", key="replication_refresh")
auto = top[1].toggle("Auto-refresh every 5 s", key="replication_auto")


@st.fragment(run_every=5 if auto else None)
def hub_panel() -> None:
    try:
        status = hub.fetch_status(url, timeout=settings.hub.timeout)
    except hub.HubUnavailable as e:
        st.error(f"No status from the hub: {e}. Is `replicator hub` running on the master?")
        return
    samples = hub.add_samples(st.session_state.setdefault(SAMPLES_KEY, []), status)

    h = status.hub
    st.caption(
        f"Hub `{h.get('node') or '?'}` (version {h.get('version') or '?'}, started "
        f"{h.get('started_at') or '?'}) at `{url}` · gtid_binlog_pos `{h.get('gtid_binlog_pos') or '?'}` · "
        f"conflicts total {status.conflicts_total if status.conflicts_total is not None else '?'} · "
        f"fetched {status.fetched_at:%H:%M:%S} UTC"
    )
    if not status.nodes:
        st.info("The hub reports no nodes.")
        return
    nodes = pd.DataFrame(status.nodes)
    st.dataframe(
        nodes,
        width="stretch",
        hide_index=True,
        column_config={
            "connected": st.column_config.CheckboxColumn("connected"),
            "lag_ms": st.column_config.NumberColumn("lag (ms)"),
            "capture_lag_ms": st.column_config.NumberColumn("capture lag (ms)"),
            "txns_behind": st.column_config.NumberColumn("txns behind"),
        },
    )
    for node in status.nodes:
        if node.get("last_error"):
            st.warning(f"{node.get('name')}: {node['last_error']}")
        elif node.get("connected") is False:
            st.warning(f"{node.get('name')} is not connected to the hub.")
    for line in hub.packet_warnings(status) + hub.node_warnings(status):
        st.warning(line)

    st.subheader("Lag over time")
    frame = pd.DataFrame(samples)
    chart = frame.pivot_table(index="time", columns="node", values="lag_ms", aggfunc="last")
    if chart.empty:
        st.info("No lag values reported yet.")
    else:
        st.line_chart(chart, y_label="lag (ms)")
    st.caption(f"{len(frame['time'].unique())} sample(s) in this browser session.")


hub_panel()

st.subheader("Recent conflicts")
try:
    with db.connect(settings.db) as conn:
        recent = conflicts.recent(conn, limit=50)
except db.DbError as e:
    st.error(str(e))
else:
    if recent is None:
        st.info(f"No conflict log yet (`{conflicts.TABLE}` does not exist; the hub creates it).")
    elif not recent:
        st.success("No conflicts recorded.")
    else:

        def key_text(key: object) -> str:
            return json.dumps(key, ensure_ascii=False) if not isinstance(key, str) else key

        summary = pd.DataFrame(
            [
                {
                    k: r[k]
                    for k in (
                        "id",
                        "detected_at",
                        "schema_name",
                        "table_name",
                        "kind",
                        "origin_node",
                        "origin_gtid",
                    )
                }
                | {"row_key": key_text(r["row_key"])}
                for r in recent
            ]
        )
        st.dataframe(summary, width="stretch", hide_index=True)
        st.caption(
            "Both row images of the newest conflicts (“differs”: the master's row was not the incoming before-image):"
        )
        for r in recent[:20]:
            title = (
                f"#{r['id']} {r['kind']} on {r['schema_name']}.{r['table_name']} key {key_text(r['row_key'])}"
                f" from {r['origin_node']} ({r['origin_gtid']})"
            )
            with st.expander(title):
                st.dataframe(pd.DataFrame(conflicts.compare_images(r)), width="stretch", hide_index=True)
                a, b, c = st.columns(3)
                a.caption("master image")
                a.json(r["master_image"] if r["master_image"] is not None else {})
                b.caption("incoming before")
                b.json(r["incoming_before"] if r["incoming_before"] is not None else {})
                c.caption("incoming after")
                c.json(r["incoming_after"] if r["incoming_after"] is not None else {})
