"""Replication page: node table and lag chart from a stand-in hub, conflicts from the master."""

from __future__ import annotations

import json

import pytest

from harness import sample_status

REPLICATION = "pages/4_Replication.py"

CONFLICTS_DDL = (
    "CREATE TABLE IF NOT EXISTS starsync.conflicts (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
    " detected_at TIMESTAMP(6), schema_name VARCHAR(64), table_name VARCHAR(64), kind VARCHAR(32),"
    " row_key JSON, origin_node VARCHAR(64), origin_gtid VARCHAR(64), master_image JSON,"
    " incoming_before JSON, incoming_after JSON)"
)


@pytest.fixture
def no_conflict_table(master):
    master.execute("CREATE DATABASE IF NOT EXISTS starsync", "DROP TABLE IF EXISTS starsync.conflicts")
    yield
    master.execute("DROP TABLE IF EXISTS starsync.conflicts")


def line_charts(at):
    return [e for e in at.get("vega_lite_chart")]


def test_nodes_lag_chart_and_samples_over_refreshes(open_page, hub_stub, monkeypatch, no_conflict_table):
    hub_stub.payload = sample_status()
    monkeypatch.setenv("STARSYNC_HUB_STATUS_URL", hub_stub.url)
    at = open_page(REPLICATION)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]

    nodes = at.dataframe[0].value
    assert nodes["name"].tolist() == ["master", "snap1", "snap2"]
    assert nodes["gtid_pos"].tolist()[:2] == ["1-1-10,2-2-5", "1-1-9,2-2-5"]
    assert nodes["lag_ms"].tolist()[1] == 120
    assert nodes["connected"].tolist() == [True, True, False]
    warnings = [w.value for w in at.warning]
    assert "snap2: agent disconnected: connection reset" in warnings
    assert not any("max_allowed_packet" in w for w in warnings), "no sizes reported, no warning"
    assert any("gtid_binlog_pos `1-1-10,2-2-5`" in c.value for c in at.caption)
    assert line_charts(at), "the lag chart is drawn"
    assert any(c.value == "1 sample(s) in this browser session." for c in at.caption)

    # Refresh twice with new lag values: the samples accumulate in session state.
    before = hub_stub.requests
    for lag in (250, 80):
        status = sample_status()
        status["nodes"][1]["lag_ms"] = lag
        hub_stub.payload = status
        at.button(key="replication_refresh").click().run()
        assert not at.exception, at.exception
    samples = at.session_state["replication_lag_samples"]
    assert [s["lag_ms"] for s in samples if s["node"] == "snap1"] == [120, 250, 80]
    assert any(c.value == "3 sample(s) in this browser session." for c in at.caption)
    assert hub_stub.requests - before == 2, "one status request per refresh"

    assert any("No conflict log yet" in i.value for i in at.info)

    # Auto-refresh turns the hub panel into a timed fragment; the page keeps working.
    at.toggle(key="replication_auto").set_value(True).run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value["name"].tolist() == ["master", "snap1", "snap2"]


def test_hub_unreachable_names_the_address(open_page, gui_env, no_conflict_table):
    at = open_page(REPLICATION)
    assert not at.exception, at.exception
    url = gui_env["STARSYNC_HUB_STATUS_URL"]
    errors = [e.value for e in at.error]
    assert len(errors) == 1
    assert f"hub at {url} is unreachable" in errors[0]
    assert not line_charts(at)
    # The conflicts part still works without the hub.
    assert any("No conflict log yet" in i.value for i in at.info)


def test_hub_garbage_and_http_errors_are_explained(open_page, hub_stub, monkeypatch, no_conflict_table):
    monkeypatch.setenv("STARSYNC_HUB_STATUS_URL", hub_stub.url)
    hub_stub.payload = "<html>not json</html>"
    at = open_page(REPLICATION)
    assert any(f"{hub_stub.url} did not return JSON" in e.value for e in at.error)
    hub_stub.payload, hub_stub.status_code = sample_status(), 503
    at.button(key="replication_refresh").click().run()
    assert any(f"hub at {hub_stub.url} answered HTTP 503" in e.value for e in at.error)


def test_recent_conflicts_show_both_row_images(open_page, master, hub_stub, monkeypatch, no_conflict_table):
    master.execute(
        CONFLICTS_DDL,
        "INSERT INTO starsync.conflicts (detected_at, schema_name, table_name, kind, row_key, origin_node,"
        " origin_gtid, master_image, incoming_before, incoming_after) VALUES (NOW(6), 'MOST', 'customers',"
        " 'before_mismatch', '{\"id\": 2}', 'snap1', '2-2-6',"
        ' \'{"id": 2, "name": "Grace", "balance": "25.00"}\','
        ' \'{"id": 2, "name": "Grace", "balance": "20.00"}\','
        ' \'{"id": 2, "name": "Grace H.", "balance": "20.00"}\')',
    )
    hub_stub.payload = sample_status()
    monkeypatch.setenv("STARSYNC_HUB_STATUS_URL", hub_stub.url)
    at = open_page(REPLICATION)
    assert not at.exception, at.exception

    summary = at.dataframe[1].value
    assert summary["kind"].tolist() == ["before_mismatch"]
    assert summary["origin_gtid"].tolist() == ["2-2-6"]
    assert len(at.expander) == 1
    assert 'before_mismatch on MOST.customers key {"id": 2} from snap1 (2-2-6)' in at.expander[0].label
    compare = at.expander[0].dataframe[0].value
    by_column = compare.set_index("column")
    assert by_column.loc["balance", "master"] == json.dumps("25.00")
    assert by_column.loc["balance", "incoming_before"] == json.dumps("20.00")
    assert by_column.loc["name", "incoming_after"] == json.dumps("Grace H.")
    assert by_column["differs"].to_dict() == {"id": False, "name": False, "balance": True}
    images = [j.value for j in at.expander[0].json]
    assert len(images) == 3 and '"Grace H."' in images[2]


def test_nulls_everywhere_do_not_break_the_page(open_page, hub_stub, monkeypatch, no_conflict_table):
    status = sample_status(hub={"node": None, "version": None}, conflicts_total=None)
    status["nodes"] = [{"name": "snapX"}]  # an old hub that sends almost nothing
    hub_stub.payload = status
    monkeypatch.setenv("STARSYNC_HUB_STATUS_URL", hub_stub.url)
    at = open_page(REPLICATION)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.dataframe[0].value["name"].tolist() == ["snapX"]
    assert any("No lag values reported yet." == i.value for i in at.info)


def test_a_snap_with_a_smaller_packet_size_is_warned(open_page, hub_stub, monkeypatch, no_conflict_table):
    status = sample_status()
    for n, size in zip(status["nodes"], (64 << 20, 64 << 20, 4 << 20)):
        n["max_allowed_packet"] = size
    hub_stub.payload = status
    monkeypatch.setenv("STARSYNC_HUB_STATUS_URL", hub_stub.url)
    at = open_page(REPLICATION)
    assert not at.exception, at.exception
    warnings = [w.value for w in at.warning]
    packet = [w for w in warnings if "max_allowed_packet" in w]
    assert len(packet) == 1 and packet[0].startswith("snap2's max_allowed_packet (4 MiB)"), warnings
    assert at.dataframe[0].value["max_allowed_packet"].tolist() == [64 << 20, 64 << 20, 4 << 20]
