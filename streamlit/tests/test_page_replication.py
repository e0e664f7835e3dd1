"""Replication page: node table and lag chart from a stand-in hub, conflicts from the master,
verify and repair through the stand-in hub's ``/verify`` and ``POST /repair``."""

from __future__ import annotations

import json

import pytest

from harness import sample_repair, sample_status, sample_verify
from streamlit.testing.v1 import AppTestError

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


def test_the_hubs_own_verification_is_shown(open_page, hub_stub, monkeypatch, no_conflict_table):
    status = sample_status()
    status["hub"]["last_verify"] = {
        "at": "2026-11-28T09:00:00.000Z",
        "position": "1-1-10,2-2-5",
        "differences": [{"table": "`MOST`.`cc`", "node": "snap1"}],
        "missing": [],
    }
    hub_stub.payload = status
    monkeypatch.setenv("STARSYNC_HUB_STATUS_URL", hub_stub.url)
    at = open_page(REPLICATION)
    assert not at.exception, at.exception
    warnings = [w.value for w in at.warning]
    assert any(
        w.startswith("`MOST`.`cc` differs on snap1 from the master's")
        and "`master-admin repair MOST.cc --node snap1`" in w
        for w in warnings
    ), warnings

    status["hub"]["last_verify"]["differences"] = []
    hub_stub.payload = status
    at.button(key="replication_refresh").click().run()
    assert not at.exception, at.exception
    assert not any("differs on" in w.value for w in at.warning)
    assert any(c.value.startswith("Verified equal at 2026-11-28T09:00:00.000Z") for c in at.caption)


# --- verify and repair ------------------------------------------------------------------------------

CONFIRM = "replication_repair_confirm"


@pytest.fixture
def replication(open_page, hub_stub, monkeypatch, no_conflict_table):
    """The Replication page against the stand-in hub, which reports a master and two snaps."""
    hub_stub.payload = sample_status()
    monkeypatch.setenv("STARSYNC_HUB_STATUS_URL", hub_stub.url)
    at = open_page(REPLICATION)
    assert not at.exception, at.exception
    return at


def run_ok(at):
    at.run()
    assert not at.exception, at.exception
    return at


def frame_with(at, column):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def notes(at):
    """The page's st.info texts but the conflict log's."""
    return [i.value for i in at.info if not i.value.startswith("No conflict log yet")]


def test_verify_equal_says_so_and_asks_only_on_the_button(replication, hub_stub):
    at = replication
    hub_stub.answer("GET", "/verify", sample_verify(equal=True))
    assert not hub_stub.calls("GET", "/verify"), "nothing is verified on page load"
    assert not at.error and not at.success

    at.button(key="replication_verify").click()
    run_ok(at)
    assert len(hub_stub.calls("GET", "/verify")) == 1
    assert [s.value for s in at.success] == ["All 3 tables equal on 2 nodes at position 1-1-5"]
    assert not at.error, [e.value for e in at.error]
    assert not any("kind" in d.value.columns for d in at.dataframe), "no differences table"
    assert at.session_state["replication_verify_result"].equal is True

    # The result stays across reruns (the Refresh button) without asking again.
    at.button(key="replication_refresh").click()
    run_ok(at)
    assert [s.value for s in at.success] == ["All 3 tables equal on 2 nodes at position 1-1-5"]
    assert len(hub_stub.calls("GET", "/verify")) == 1


def test_verify_not_equal_lists_differences_and_unverified_nodes(replication, hub_stub):
    at = replication
    hub_stub.answer("GET", "/verify", sample_verify(equal=False))
    at.button(key="replication_verify").click()
    run_ok(at)
    assert [e.value for e in at.error] == [
        "Not equal at position 1-1-5: 3 differences, 1 node not verified"
    ]
    diffs = frame_with(at, "kind")
    assert diffs.columns.tolist() == ["table", "node", "kind", "expected", "actual"]
    assert diffs["actual"].isna().tolist() == [False, False, True], "MOST.orders is missing on snap1"
    assert diffs.astype(object).where(diffs.notna(), None).to_dict("records") == [
        {
            "table": "MOST.customers",
            "node": "snap1",
            "kind": "rows differ",
            "expected": "123",
            "actual": "456",
        },
        {
            "table": "MOST.notes",
            "node": "snap1",
            "kind": "definition differs",
            "expected": "9003",
            "actual": "-9223372036854775807",
        },
        {
            "table": "MOST.orders",
            "node": "snap1",
            "kind": "table missing",
            "expected": "77",
            "actual": None,
        },
    ]
    warnings = [w.value for w in at.warning]
    assert "snap2 was not verified: not connected" in warnings
    assert not any("position" in w for w in warnings), "all nodes were at the master's position"
    # The differing pairs are offered for a repair, the definition suffix dropped.
    assert at.selectbox(key="replication_repair_pick").options == [
        "MOST.customers on snap1",
        "MOST.notes on snap1",
        "MOST.orders on snap1",
    ]

    # Nodes not at one position: a note, even without differences.
    positions_apart = sample_verify(
        equal=False, differences=[], missing=[], position_equal=False, attempts=10
    )
    hub_stub.answer("GET", "/verify", positions_apart)
    at.button(key="replication_verify").click()
    run_ok(at)
    assert [e.value for e in at.error] == [
        "Not equal at position 1-1-5: 0 differences, 0 nodes not verified"
    ]
    assert any(
        w.value.startswith("Not every node reached the master's position 1-1-5 after 10 attempts")
        and "Run Verify again" in w.value
        for w in at.warning
    ), [w.value for w in at.warning]


def test_verify_failures_are_explained(replication, hub_stub):
    at = replication
    base = hub_stub.url.removesuffix("/status")
    at.button(key="replication_verify").click()  # this hub does not serve /verify
    run_ok(at)
    assert any(
        f"the hub at {base}/verify does not serve /verify (HTTP 404): upgrade the replicator on the master"
        in e.value
        for e in at.error
    ), [e.value for e in at.error]
    hub_stub.answer("GET", "/verify", "verify failed: snap1 did not answer\n", status=503)
    at.button(key="replication_verify").click()
    run_ok(at)
    assert any(
        f"hub at {base}/verify answered HTTP 503" in e.value and "snap1 did not answer" in e.value
        for e in at.error
    ), [e.value for e in at.error]


def test_verify_of_one_table_asks_for_it_and_bad_names_send_nothing(replication, hub_stub):
    at = replication
    hub_stub.answer("GET", "/verify", sample_verify(equal=True))
    at.text_input(key="replication_verify_table").input("MOST")
    at.button(key="replication_verify").click()
    run_ok(at)
    assert not hub_stub.calls("GET", "/verify"), "no request for a name without its table"
    assert any(e.value.startswith("Verify not run: 'MOST' is not DB.TABLE") for e in at.error), [
        e.value for e in at.error
    ]

    at.text_input(key="replication_verify_table").input(" MOST.customers ")
    at.button(key="replication_verify").click()
    run_ok(at)
    [call] = hub_stub.calls("GET", "/verify")
    assert call.params == {"table": "`MOST`.`customers`"}
    assert at.success, [e.value for e in at.error]

    hub_stub.answer("GET", "/verify", "the master has no replicated table `MOST`.`nope`\n", status=409)
    at.text_input(key="replication_verify_table").input("MOST.nope")
    at.button(key="replication_verify").click()
    run_ok(at)
    assert any(
        "the master has no replicated table `MOST`.`nope`" in e.value for e in at.error
    ), [e.value for e in at.error]


def test_dry_run_from_a_verified_difference(replication, hub_stub):
    at = replication
    hub_stub.answer("GET", "/verify", sample_verify(equal=False))
    hub_stub.answer("POST", "/repair", sample_repair(dry_run=True))
    at.button(key="replication_verify").click()
    run_ok(at)

    at.selectbox(key="replication_repair_pick").select("MOST.customers on snap1")
    run_ok(at)
    assert at.text_input(key="replication_repair_table").value == "MOST.customers"
    assert at.selectbox(key="replication_repair_node").value == "snap1"
    assert at.selectbox(key="replication_repair_node").options == ["snap1", "snap2"], "the status' snaps"

    at.button(key="replication_repair_dry").click()
    run_ok(at)
    [call] = hub_stub.calls("POST", "/repair")
    assert call.query == "table=%60MOST%60.%60customers%60&node=snap1&dry_run=1"
    assert call.params == {"table": "`MOST`.`customers`", "node": "snap1", "dry_run": "1"}
    assert call.body == b""
    assert notes(at) == [
        "MOST.customers on snap1 at the master's position 0-1-9: 4 rows differed, 2 rows missing, "
        "1 row extra of the master's 200: would be made the master's (dry run: nothing changed)"
    ]
    assert not at.success
    assert [e.value for e in at.error] == [
        "Not equal at position 1-1-5: 3 differences, 1 node not verified"
    ], "only the verify's verdict is an error"
    assert any(c.value == "Repair #3 took 0.2 s." for c in at.caption)


def test_repair_needs_the_confirmation_and_suggests_verify(replication, hub_stub):
    at = replication
    hub_stub.answer("POST", "/repair", sample_repair(in_flight=1, recreated=True, definition_differed=True))
    at.text_input(key="replication_repair_table").input("MOST.customers")
    at.selectbox(key="replication_repair_node").select("snap1")
    run_ok(at)
    repair = at.button(key="replication_repair_run")
    assert repair.disabled, "Repair is disabled until the DBA confirms"
    with pytest.raises(AppTestError):
        repair.click()
    # Even if a click got through without the confirmation, nothing is sent.
    at.session_state["replication_repair_go"] = False
    run_ok(at)
    assert not hub_stub.calls("POST", "/repair")
    confirm_text = "I understand the snap's rows of this table are replaced by the master's"
    assert any(confirm_text in e.value and "nothing was sent" in e.value for e in at.error)

    at.checkbox(key=CONFIRM).check()
    run_ok(at)
    assert not at.button(key="replication_repair_run").disabled
    at.button(key="replication_repair_run").click()
    run_ok(at)
    [call] = hub_stub.calls("POST", "/repair")
    assert call.query == "table=%60MOST%60.%60customers%60&node=snap1", "no dry_run"
    assert [s.value for s in at.success] == [
        "MOST.customers on snap1 at the master's position 0-1-9: 4 rows differed, 2 rows missing, "
        "1 row extra of the master's 200: made the master's\n\n"
        "Its definition differed from the master's: the table was made again from the master's "
        "CREATE TABLE.\n\n"
        "1 row with a local change still on its way to the master left as on the snap (that "
        "change's echo brings the master's row)."
    ]
    assert any(i.startswith("Run **Verify** again") for i in notes(at))
    assert not at.error, [e.value for e in at.error]
    # The confirmation was used up: another repair needs it again.
    assert at.checkbox(key=CONFIRM).value is False
    assert at.button(key="replication_repair_run").disabled

    # Another target takes the confirmation back too.
    at.checkbox(key=CONFIRM).check()
    run_ok(at)
    at.text_input(key="replication_repair_table").input("MOST.orders")
    run_ok(at)
    assert at.checkbox(key=CONFIRM).value is False


def test_names_are_url_encoded_and_any_table_can_be_typed(replication, hub_stub):
    at = replication
    same = sample_repair(table="my db.a.b", differed=0, missing=0, extra=0, dry_run=True)
    hub_stub.answer("POST", "/repair", same)
    at.text_input(key="replication_repair_table").input(" `my db`.`a.b&c=d` ")
    at.selectbox(key="replication_repair_node").select("snap2")
    at.button(key="replication_repair_dry").click()
    run_ok(at)
    [call] = hub_stub.calls("POST", "/repair")
    assert call.query == "table=%60my%20db%60.%60a.b%26c%3Dd%60&node=snap2&dry_run=1"
    assert call.params == {"table": "`my db`.`a.b&c=d`", "node": "snap2", "dry_run": "1"}
    assert notes(at) == [
        "my db.a.b on snap1 at the master's position 0-1-9: already the master's (200 rows); "
        "nothing changed"
    ]


def test_a_refused_or_failed_repair_is_an_error(replication, hub_stub):
    at = replication
    hub_stub.answer("POST", "/repair", "database NOPE is not replicated\n", status=409)
    at.text_input(key="replication_repair_table").input("NOPE.t")
    at.button(key="replication_repair_dry").click()
    run_ok(at)
    assert [e.value for e in at.error] == ["The hub refused the repair: database NOPE is not replicated"]
    assert not notes(at)

    hub_stub.answer("POST", "/repair", sample_repair(error="Lock wait timeout exceeded"))
    at.checkbox(key=CONFIRM).check()
    run_ok(at)
    at.button(key="replication_repair_run").click()
    run_ok(at)
    assert [e.value for e in at.error] == [
        "Repair of MOST.customers on snap1 at the master's position 0-1-9 FAILED: Lock wait timeout "
        "exceeded\n\nNothing was changed on the snap."
    ]
    assert not notes(at)

    del hub_stub.answers[("POST", "/repair")]  # an old hub: POST /repair is 405
    at.button(key="replication_repair_dry").click()
    run_ok(at)
    base = hub_stub.url.removesuffix("/status")
    assert [e.value for e in at.error] == [
        f"Repair not done: the hub at {base}/repair does not serve POST /repair (HTTP 405): "
        "upgrade the replicator on the master"
    ]


@pytest.mark.parametrize(
    "typed, message",
    [
        ("", "Type the table as DB.TABLE"),
        ("customers", "'customers' is not DB.TABLE: name the database and the table with a dot"),
        ("MOST.", "the database or the table name is empty"),
        ("`MOST.customers", "has an unclosed backquote"),
    ],
)
def test_bad_table_names_send_nothing(replication, hub_stub, typed, message):
    at = replication
    hub_stub.answer("POST", "/repair", sample_repair())
    at.text_input(key="replication_repair_table").input(typed)
    at.button(key="replication_repair_dry").click()
    run_ok(at)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and message in errors[0], errors
    assert not hub_stub.calls("POST", "/repair")


def test_without_a_hub_the_snap_is_typed_and_errors_name_the_address(open_page, gui_env, no_conflict_table):
    at = open_page(REPLICATION)
    assert not at.exception, at.exception
    base = gui_env["STARSYNC_HUB_STATUS_URL"].removesuffix("/status")
    at.button(key="replication_verify").click()
    run_ok(at)
    assert any(f"Verify failed: hub at {base}/verify is unreachable" in e.value for e in at.error)

    # No status, so no snap names: the snap is typed.
    at.text_input(key="replication_repair_table").input("MOST.customers")
    at.text_input(key="replication_repair_node_text").input("")
    at.button(key="replication_repair_dry").click()
    run_ok(at)
    assert any("Choose or type the snap" in e.value for e in at.error)
    at.text_input(key="replication_repair_node_text").input("snap1")
    at.button(key="replication_repair_dry").click()
    run_ok(at)
    assert any(f"Repair not done: hub at {base}/repair is unreachable" in e.value for e in at.error)
