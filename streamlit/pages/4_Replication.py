"""Replication: every node's state, position and lag from the hub, lag over time, recent conflicts,
and verify / repair.

Each run (page load, the Refresh button, or the optional auto-refresh) fetches the hub's
``/status`` once and appends a lag sample per node to ``st.session_state``, so the chart grows over
the life of the browser session. Verify (the hub's ``/verify``) and repair (``POST /repair``) run
only on their buttons; their last answers stay in ``st.session_state``.
"""

import json

import pandas as pd
import streamlit as st

from starsync_gui import conflicts, db, hub, ui

settings = ui.page_setup("Replication")
st.title("Replication")

SAMPLES_KEY = "replication_lag_samples"
SNAPS_KEY = "replication_snaps"  # snap names from the last status, for the repair's node choice
url = settings.hub.status_url

top = st.columns([1, 2, 4])
top[0].button("Refresh", key="replication_refresh")
auto = top[1].toggle("Auto-refresh every 5 s", key="replication_auto")


@st.fragment(run_every=5 if auto else None)
def hub_panel() -> None:
    try:
        status = hub.fetch_status(url, timeout=settings.hub.timeout, token=settings.hub.token)
    except hub.HubUnavailable as e:
        st.error(f"No status from the hub: {e}. Is `replicator hub` running on the master?")
        return
    samples = hub.add_samples(st.session_state.setdefault(SAMPLES_KEY, []), status)
    st.session_state[SNAPS_KEY] = hub.snap_names(status)

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
    verify_warnings, verified = hub.verify_lines(status)
    for line in hub.packet_warnings(status) + hub.node_warnings(status) + verify_warnings:
        st.warning(line)
    if verified:
        st.caption(verified)

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


st.subheader("Verify and repair")
st.caption(
    "Verify has every node checksum each replicated table at one common GTID position (it may "
    "take long on big tables). Repair makes one table of one snap the master's, in that snap's "
    "stream; nothing else on the snap changes."
)

VERIFY_KEY = "replication_verify_result"  # the last VerifyResult, or the text of its failure
REPAIR_KEY = "replication_repair_result"  # {"report": dict} or {"error": text} of the last repair
TABLE_KEY = "replication_repair_table"
NODE_KEY = "replication_repair_node"  # selectbox of the known snaps
NODE_TEXT_KEY = "replication_repair_node_text"  # text input when no snap is known
PICK_KEY = "replication_repair_pick"
CONFIRM_KEY = "replication_repair_confirm"
GO_KEY = "replication_repair_go"  # set by the Repair button's callback: was it confirmed?
CONFIRM_TEXT = "I understand the snap's rows of this table are replaced by the master's"

verify_cols = st.columns([1, 3])
only = verify_cols[1].text_input(
    "Only this table (DB.TABLE; empty: every table)",
    key="replication_verify_table",
    placeholder="MOST.customers",
)
if verify_cols[0].button("Verify", key="replication_verify"):
    try:
        hub.verify_query(only)  # bad input: a message, no request
    except ValueError as e:
        st.session_state[VERIFY_KEY] = f"Verify not run: {e}"
    else:
        what = f"table {hub.display_table(only.strip())}" if only.strip() else "every replicated table"
        with st.spinner(f"Checksumming {what} on every node…"):
            try:
                st.session_state[VERIFY_KEY] = hub.fetch_verify(url, table=only, token=settings.hub.token)
            except (hub.HubUnavailable, hub.HubRefused) as e:
                st.session_state[VERIFY_KEY] = f"Verify failed: {e}"

verified = st.session_state.get(VERIFY_KEY)
if isinstance(verified, str):
    st.error(verified)
elif verified is not None:
    st.caption(f"Verified at {verified.fetched_at:%H:%M:%S} UTC.")
    if verified.equal:
        st.success(hub.verify_summary(verified))
    else:
        st.error(hub.verify_summary(verified))
        if verified.differences:
            columns = ["table", "node", "kind", "expected", "actual"]
            st.dataframe(
                pd.DataFrame(hub.difference_rows(verified), columns=columns),
                width="stretch",
                hide_index=True,
                column_config={
                    "expected": st.column_config.TextColumn("master's checksum"),
                    "actual": st.column_config.TextColumn("node's checksum"),
                },
            )
    for line in hub.verify_warnings(verified):
        st.warning(line)
    if verified.nodes:
        with st.expander("Nodes verified"):
            st.dataframe(pd.DataFrame(hub.verify_node_rows(verified)), width="stretch", hide_index=True)

targets = hub.repair_targets(verified) if isinstance(verified, hub.VerifyResult) else []
snaps = list(dict.fromkeys(st.session_state.get(SNAPS_KEY, []) + [node for _, node in targets]))


def unconfirm() -> None:
    """Another target: the confirmation given for the previous one no longer holds."""
    st.session_state[CONFIRM_KEY] = False


def pick_target() -> None:
    """A difference chosen from the last verify fills in the table and the snap."""
    label = st.session_state.get(PICK_KEY)
    chosen = next(((t, n) for t, n in targets if f"{t} on {n}" == label), None)
    if chosen:
        st.session_state[TABLE_KEY] = chosen[0]
        st.session_state[NODE_KEY] = chosen[1]  # the verify's nodes are among the choices
    unconfirm()


def go() -> None:
    """The Repair button: remember whether it was confirmed, and take the confirmation back so
    that each repair needs its own."""
    st.session_state[GO_KEY] = bool(st.session_state.get(CONFIRM_KEY))
    st.session_state[CONFIRM_KEY] = False


st.markdown("**Repair a table of a snap**")
if targets:
    st.selectbox(
        "A difference from the last verify",
        [f"{t} on {n}" for t, n in targets],
        index=None,
        placeholder="Choose one to fill in the table and the snap",
        key=PICK_KEY,
        on_change=pick_target,
    )
left, right = st.columns(2)
table = left.text_input(
    "Table (DB.TABLE)", key=TABLE_KEY, placeholder="MOST.customers", on_change=unconfirm
)
if snaps:
    node = right.selectbox("Snap", snaps, key=NODE_KEY, on_change=unconfirm)
else:
    node = right.text_input(
        "Snap", key=NODE_TEXT_KEY, placeholder="snap name (the hub lists none)", on_change=unconfirm
    )
confirmed = st.checkbox(CONFIRM_TEXT, key=CONFIRM_KEY)
buttons = st.columns([1, 1, 5])
dry = buttons[0].button(
    "Dry run", key="replication_repair_dry", help="Count what differs on the snap; change nothing."
)
buttons[1].button(
    "Repair",
    key="replication_repair_run",
    type="primary",
    disabled=not confirmed,
    on_click=go,
    help="Replace the snap's rows of this table by the master's.",
)
real = st.session_state.pop(GO_KEY, None)

if dry or real is not None:
    dry_run = bool(dry)
    if not dry_run and not real:
        st.session_state[REPAIR_KEY] = {"error": f"Tick “{CONFIRM_TEXT}” first: nothing was sent."}
    else:
        try:
            hub.repair_query(table, node or "", dry_run)  # bad input: a message, no request
        except ValueError as e:
            st.session_state[REPAIR_KEY] = {"error": str(e)}
        else:
            what = hub.display_table(table.strip())
            if dry_run:
                doing = f"Comparing {what} on {node} with the master…"
            else:
                doing = f"Repairing {what} on {node}: the hub sends the master's rows into its stream…"
            with st.spinner(doing):
                try:
                    report = hub.request_repair(url, table, node or "", dry_run, token=settings.hub.token)
                except hub.HubRefused as e:
                    st.session_state[REPAIR_KEY] = {"error": f"The hub refused the repair: {e}"}
                except hub.HubUnavailable as e:
                    st.session_state[REPAIR_KEY] = {"error": f"Repair not done: {e}"}
                else:
                    st.session_state[REPAIR_KEY] = {"report": report}

outcome = st.session_state.get(REPAIR_KEY)
if outcome and "error" in outcome:
    st.error(outcome["error"])
elif outcome:
    report = outcome["report"]
    text = "\n\n".join(hub.render_repair(report))
    if report["error"] is not None:
        st.error(text)
    elif report["dry_run"]:
        st.info(text)
    else:
        st.success(text)
        st.info("Run **Verify** again to check that the table is now the same on every node.")
    took = report.get("secs")
    st.caption(
        f"Repair #{report.get('id') if report.get('id') is not None else '?'}"
        + (f" took {took:.1f} s." if isinstance(took, (int, float)) else ".")
    )
