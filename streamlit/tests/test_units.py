"""Unit tests of config, hub client, schema builders and helpers (no MariaDB needed)."""

from __future__ import annotations

import datetime as dt
import decimal
import tomllib
from pathlib import Path

import pytest

from harness import StandInHub, free_port, sample_repair, sample_status, sample_verify
from starsync_gui import conflicts, config, db, executor, hub, schema
from starsync_gui.splitter import Statement

GUI_DIR = Path(__file__).resolve().parent.parent


# --- config -------------------------------------------------------------------------------------


def test_defaults():
    s = config.load_settings({})
    assert (s.db.host, s.db.port, s.db.user, s.db.socket) == ("127.0.0.1", 3306, "root", "")
    assert s.hub.status_url == "http://127.0.0.1:4580/status"
    assert s.export.database == "MOST"


def test_toml_file_then_environment_wins(tmp_path):
    path = tmp_path / "gui.toml"
    path.write_text(
        '[database]\nhost = "db.local"\nport = 3307\nuser = "dba"\npassword = "pw"\n'
        '[hub]\nstatus_url = "http://10.0.0.1:4580/status"\n[gui]\nmax_rows = 50\n'
    )
    s = config.load_settings({config.CONFIG_ENV: str(path), "STARSYNC_GUI_DB_PORT": "3310"})
    assert (s.db.host, s.db.port, s.db.user, s.db.password) == ("db.local", 3310, "dba", "pw")
    assert s.hub.status_url == "http://10.0.0.1:4580/status"
    assert s.gui.max_rows == 50


def test_ini_file_and_socket(tmp_path):
    path = tmp_path / "gui.ini"
    path.write_text("[database]\nsocket = /run/mysqld/mysqld.sock\nuser = dba\n")
    s = config.load_settings({config.CONFIG_ENV: str(path)})
    assert s.db.socket == "/run/mysqld/mysqld.sock"
    assert s.db.describe() == "dba@socket /run/mysqld/mysqld.sock"


def test_example_config_file_loads():
    example = GUI_DIR.parent / "config" / "streamlit" / "gui.toml"
    s = config.load_settings({config.CONFIG_ENV: str(example)})
    assert s.db.user == "dba" and s.export.database == "MOST"


@pytest.mark.parametrize(
    "content,env,message",
    [
        ("[database]\nprot = 1\n", {}, "[database] prot: unknown setting"),
        ("[databse]\n", {}, "unknown section [databse]"),
        ('[database]\nport = "x"\n', {}, "[database] port: expected a number, got 'x'"),
        ("", {"STARSYNC_GUI_DB_PORT": "99999"}, "database port: 99999 is not a TCP port"),
        ("", {"STARSYNC_GUI_DB_PORT": "x"}, "STARSYNC_GUI_DB_PORT: expected a number, got 'x'"),
        ("", {"STARSYNC_HUB_STATUS_URL": "localhost:4580"}, "hub status_url: expected an http(s) URL"),
        ("[database\n", {}, "cannot parse"),
    ],
)
def test_bad_settings_are_named(tmp_path, content, env, message):
    path = tmp_path / "gui.toml"
    path.write_text(content)
    with pytest.raises(config.ConfigError) as e:
        config.load_settings({config.CONFIG_ENV: str(path), **env})
    assert message in str(e.value)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(config.ConfigError) as e:
        config.load_settings({config.CONFIG_ENV: str(tmp_path / "nope.toml")})
    assert "STARSYNC_GUI_CONFIG=" in str(e.value) and "nope.toml" in str(e.value)


def test_password_never_in_repr():
    s = config.load_settings({"STARSYNC_GUI_DB_PASSWORD": "hunter2"})
    assert s.db.password == "hunter2"
    assert "hunter2" not in repr(s) and "hunter2" not in s.db.describe()


def test_streamlit_config_binds_to_localhost_headless():
    with (GUI_DIR / ".streamlit" / "config.toml").open("rb") as f:
        cfg = tomllib.load(f)
    assert cfg["server"]["address"] == "127.0.0.1"
    assert cfg["server"]["headless"] is True
    assert cfg["browser"]["gatherUsageStats"] is False


def test_requirements_are_pinned():
    lines = [line.split("#")[0].strip() for line in (GUI_DIR / "requirements.txt").read_text().splitlines()]
    reqs = [line for line in lines if line]
    assert reqs and all("==" in r for r in reqs), reqs
    names = {r.split("==")[0].lower() for r in reqs}
    assert {"streamlit", "pandas", "pymysql", "pytest", "playwright"} <= names


# --- hub client -----------------------------------------------------------------------------------


def test_parse_status_keeps_known_and_new_fields_and_nulls():
    status = sample_status()
    status["nodes"][0]["future_field"] = 7
    parsed = hub.parse_status(__import__("json").dumps(status))
    assert [n["name"] for n in parsed.nodes] == ["master", "snap1", "snap2"]
    assert list(parsed.nodes[0])[: len(hub.NODE_FIELDS)] == hub.NODE_FIELDS
    assert parsed.nodes[0]["future_field"] == 7
    assert parsed.nodes[2]["lag_ms"] is None
    assert parsed.conflicts_total == 1


@pytest.mark.parametrize("body", ["[]", '{"hub": {}}', '{"nodes": 3}', "nope"])
def test_parse_status_rejects_what_is_not_a_status(body):
    with pytest.raises(hub.HubUnavailable) as e:
        hub.parse_status(body, "http://h:1/status")
    assert "http://h:1/status" in str(e.value)


def test_fetch_status_from_a_real_http_server_and_from_nowhere():
    stub = StandInHub()
    try:
        stub.payload = sample_status()
        assert len(hub.fetch_status(stub.url).nodes) == 3
    finally:
        stub.close()
    url = f"http://127.0.0.1:{free_port()}/status"
    with pytest.raises(hub.HubUnavailable) as e:
        hub.fetch_status(url, timeout=2)
    assert str(e.value).startswith(f"hub at {url} is unreachable")


def test_a_hub_with_an_http_token_gets_it_and_a_missing_one_is_named():
    stub = StandInHub()
    try:
        stub.token = "hub-http-token-0123"
        stub.payload = sample_status()
        stub.answer("GET", "/verify", sample_verify(equal=True))
        stub.answer("POST", "/repair", sample_repair())
        with pytest.raises(hub.HubUnavailable) as e:
            hub.fetch_status(stub.url, timeout=5)
        assert "asks for its HTTP token" in str(e.value) and "STARSYNC_HUB_TOKEN" in str(e.value)
        with pytest.raises(hub.HubUnavailable, match="STARSYNC_HUB_TOKEN"):
            hub.fetch_verify(stub.url, timeout=5, token="wrong-token-0123456")
        with pytest.raises(hub.HubUnavailable, match="STARSYNC_HUB_TOKEN"):
            hub.request_repair(stub.url, "MOST.t", "snap1", dry_run=True, timeout=5)
        assert len(hub.fetch_status(stub.url, timeout=5, token=stub.token).nodes) == 3
        assert hub.fetch_verify(stub.url, timeout=5, token=stub.token).equal
        report = hub.request_repair(stub.url, "MOST.t", "snap1", dry_run=True, timeout=5, token=stub.token)
        assert report["id"] == 3
    finally:
        stub.close()
    settings = config.load_settings({"STARSYNC_HUB_TOKEN": "from-the-environment-01"})
    assert settings.hub.token == "from-the-environment-01"
    assert "from-the-environment" not in repr(settings)


def test_packet_warnings_name_the_snap_and_both_sizes():
    status = sample_status()
    sizes = {"master": 64 << 20, "snap1": 4 << 20, "snap2": 64 << 20}
    for n in status["nodes"]:
        n["max_allowed_packet"] = sizes[n["name"]]
    parsed = hub.parse_status(__import__("json").dumps(status))
    assert hub.packet_warnings(parsed) == [
        "snap1's max_allowed_packet (4 MiB) is smaller than the master's (64 MiB): rows bigger "
        "than it cannot be applied there; raise it (SET GLOBAL max_allowed_packet and the "
        "config file)."
    ]
    # A bigger snap is fine; an older hub without the field, or a null, says nothing.
    status["nodes"][1]["max_allowed_packet"] = 128 << 20
    assert hub.packet_warnings(hub.parse_status(__import__("json").dumps(status))) == []
    assert hub.packet_warnings(hub.parse_status(__import__("json").dumps(sample_status()))) == []
    status["nodes"][0]["max_allowed_packet"] = None
    status["nodes"][1]["max_allowed_packet"] = 1
    assert hub.packet_warnings(hub.parse_status(__import__("json").dumps(status))) == []
    assert hub._size(1536) == "1.5 KiB" and hub._size(100) == "100 B"


def test_node_warnings_name_failed_ddl_and_held_writes():
    status = sample_status()
    assert hub.node_warnings(hub.parse_status(__import__("json").dumps(status))) == []
    status["nodes"][1]["ddl_failed"] = 2
    status["nodes"][1]["last_ddl_failed"] = "ALTER TABLE t ADD CHECK (v > 0): ERROR 4025"
    status["nodes"][2]["writes_held"] = "loading the master's snapshot"
    status["nodes"][2]["repair"] = "MOST.t: 2000 of the master's rows received"
    assert hub.node_warnings(hub.parse_status(__import__("json").dumps(status))) == [
        "snap1: 2 DDL statement(s) from the master failed there, so its schema differs from the "
        "master's until a DBA mends it (its agent's log says how); last: ALTER TABLE t ADD CHECK "
        "(v > 0): ERROR 4025.",
        "snap2 refuses local writes for now (read_only): loading the master's snapshot.",
        "snap2: repairing MOST.t: 2000 of the master's rows received.",
    ]


def test_verify_lines_name_a_differing_table_or_when_all_was_equal():
    status = sample_status()
    parse = lambda: hub.parse_status(__import__("json").dumps(status))  # noqa: E731
    assert hub.verify_lines(parse()) == ([], None)
    status["hub"]["last_verify"] = {
        "at": "2026-11-28T09:00:00.000Z",
        "position": "1-1-5",
        "differences": [],
        "missing": ["snap2"],
    }
    assert hub.verify_lines(parse()) == (
        [],
        "Verified equal at 2026-11-28T09:00:00.000Z (the hub's last verification, at position "
        "1-1-5; not verified: snap2)",
    )
    status["hub"]["last_verify"]["differences"] = [{"table": "`MOST`.`cc`", "node": "snap1"}]
    assert hub.verify_lines(parse()) == (
        [
            "`MOST`.`cc` differs on snap1 from the master's (the hub's verification at "
            "2026-11-28T09:00:00.000Z): `master-admin repair MOST.cc --node snap1` makes it the "
            "master's."
        ],
        None,
    )


def test_lag_samples_are_capped_per_node(monkeypatch):
    monkeypatch.setattr(hub, "MAX_SAMPLES_PER_NODE", 3)
    samples: list[dict] = []
    for i in range(5):
        status = hub.parse_status(__import__("json").dumps(sample_status()))
        status.fetched_at = dt.datetime(2026, 1, 1, 0, 0, i)
        hub.add_samples(samples, status)
    assert len(samples) == 9
    assert samples[0]["time"] == dt.datetime(2026, 1, 1, 0, 0, 2)


# --- verify and repair -------------------------------------------------------------------------------


def test_other_endpoints_sit_next_to_the_status_url():
    assert hub.endpoint_url("http://10.0.0.1:4580/status", "/verify") == "http://10.0.0.1:4580/verify"
    assert hub.endpoint_url("https://h:1/x/status?a=1#f", "/repair") == "https://h:1/repair"
    status = hub.parse_status(__import__("json").dumps(sample_status()))
    assert hub.snap_names(status) == ["snap1", "snap2"]


@pytest.mark.parametrize(
    "text, parsed, shown",
    [
        ("MOST.t", ("MOST", "t"), "MOST.t"),
        (" `MOST`.`a.b` ", ("MOST", "a.b"), "`MOST`.`a.b`"),
        ("`x``y`.t", ("x`y", "t"), "`x``y`.`t`"),
        ("`MOST`.`customers`", ("MOST", "customers"), "MOST.customers"),
        ("my_db.t$1", ("my_db", "t$1"), "my_db.t$1"),
    ],
)
def test_table_names_parse_like_the_hub(text, parsed, shown):
    assert hub.parse_table(text) == parsed
    assert hub.display_table(text) == shown
    assert hub.parse_table(hub.quote_table(*parsed)) == parsed


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "Type the table as DB.TABLE"),
        ("   ", "Type the table as DB.TABLE"),
        ("MOST", "is not DB.TABLE: name the database and the table with a dot"),
        ("a.b.c", "'.c' follows the table name"),
        ("`a", "unclosed backquote"),
        ("a.`b", "unclosed backquote"),
        (".t", "the database or the table name is empty"),
        ("`MOST`x.t", "is not DB.TABLE"),
    ],
)
def test_bad_table_names_are_explained(text, message):
    with pytest.raises(ValueError) as e:
        hub.parse_table(text)
    assert message in str(e.value)
    assert hub.display_table(text) == text


def test_repair_query_quotes_encodes_and_marks_a_dry_run():
    assert hub.repair_query("MOST.t", "snap1", dry_run=False) == "table=%60MOST%60.%60t%60&node=snap1"
    assert (
        hub.repair_query("`my db`.`a&b`", " snap 1/ä ", dry_run=True)
        == "table=%60my%20db%60.%60a%26b%60&node=snap%201%2F%C3%A4&dry_run=1"
    )
    with pytest.raises(ValueError, match="Choose or type the snap"):
        hub.repair_query("MOST.t", "  ", dry_run=True)
    with pytest.raises(ValueError, match="not DB.TABLE"):
        hub.repair_query("t", "snap1", dry_run=True)


def test_verify_query_is_empty_for_every_table_and_names_one_table():
    assert hub.verify_query(None) == "" and hub.verify_query("  ") == ""
    assert hub.verify_query("MOST.t") == "table=%60MOST%60.%60t%60"
    with pytest.raises(ValueError, match="not DB.TABLE"):
        hub.verify_query("t")


def test_verify_answers_read_as_rows_and_sentences():
    json = __import__("json")
    equal = hub.parse_verify(json.dumps(sample_verify(equal=True)))
    assert equal.equal and equal.position_equal and equal.attempts == 1
    assert hub.table_count(equal) == 3
    assert hub.verify_summary(equal) == "All 3 tables equal on 2 nodes at position 1-1-5"
    assert hub.difference_rows(equal) == [] and hub.repair_targets(equal) == []
    assert hub.verify_warnings(equal) == []

    differ = hub.parse_verify(json.dumps(sample_verify(equal=False)))
    assert hub.verify_summary(differ) == "Not equal at position 1-1-5: 3 differences, 1 node not verified"
    assert [(r["table"], r["kind"], r["actual"]) for r in hub.difference_rows(differ)] == [
        ("MOST.customers", "rows differ", "456"),
        ("MOST.notes", "definition differs", "-9223372036854775807"),
        ("MOST.orders", "table missing", None),
    ]
    assert hub.repair_targets(differ) == [
        ("MOST.customers", "snap1"),
        ("MOST.notes", "snap1"),
        ("MOST.orders", "snap1"),
    ]
    assert hub.verify_warnings(differ) == ["snap2 was not verified: not connected"]
    assert [r["tables"] for r in hub.verify_node_rows(differ)] == [3, 3, 0]

    # A table only on the node; the same table's rows and definition give one repair target;
    # a node gone without a word; a node that answered with an error; positions apart.
    doc = sample_verify(
        equal=False,
        differences=[
            {"table": "`A`.`x`", "node": "s", "expected": None, "actual": 1},
            {"table": "`A`.`y`", "node": "s", "expected": 1, "actual": 2},
            {"table": "`A`.`y` (definition)", "node": "s", "expected": 3, "actual": 4},
        ],
        missing=["gone"],
        position_equal=False,
        attempts=1,
    )
    doc["nodes"][1]["error"] = "checksum failed: lock wait"
    v = hub.parse_verify(json.dumps(doc))
    assert [r["kind"] for r in hub.difference_rows(v)] == [
        "not on the master",
        "rows differ",
        "definition differs",
    ]
    assert hub.repair_targets(v) == [("A.x", "s"), ("A.y", "s")]
    warnings = hub.verify_warnings(v)
    assert warnings[:2] == [
        "gone was not verified (disconnected or no answer)",
        "snap1: checksum failed: lock wait",
    ]
    assert warnings[3].startswith("Not every node reached the master's position 1-1-5 after 1 attempt:")

    # An older hub without position_equal/attempts, nulls everywhere.
    old = hub.parse_verify('{"equal": true, "master_pos": null, "nodes": [null, {"tables": null}]}')
    assert old.position_equal and old.attempts is None and old.missing == []
    assert hub.verify_summary(old) == "All 0 tables equal on 1 node at position (empty)"


@pytest.mark.parametrize("body", ["[]", '{"nodes": []}', '{"equal": "yes"}', "nope"])
def test_parse_verify_rejects_what_is_not_a_verdict(body):
    with pytest.raises(hub.HubUnavailable) as e:
        hub.parse_verify(body, "http://h:1/verify")
    assert "http://h:1/verify" in str(e.value)


def test_repair_reports_read_like_the_cli():
    json = __import__("json")
    r = hub.parse_repair(json.dumps(sample_repair(in_flight=1, future_field=1)))
    assert r["future_field"] == 1
    assert hub.render_repair(r) == [
        "MOST.customers on snap1 at the master's position 0-1-9: 4 rows differed, 2 rows missing, "
        "1 row extra of the master's 200: made the master's",
        "1 row with a local change still on its way to the master left as on the snap (that change's "
        "echo brings the master's row).",
    ]
    dry = hub.parse_repair(json.dumps(sample_repair(dry_run=True)))
    assert hub.render_repair(dry)[0].endswith(
        "of the master's 200: would be made the master's (dry run: nothing changed)"
    )
    same = hub.parse_repair(
        '{"node": "snap1", "table": "MOST.t", "master_pos": "0-1-9", "master_rows": 1, "error": null}'
    )
    assert hub.render_repair(same) == [
        "MOST.t on snap1 at the master's position 0-1-9: already the master's (1 row); nothing changed"
    ]
    keyless = hub.parse_repair(json.dumps(sample_repair(keyless=True, differed=0, missing=200, extra=198)))
    assert hub.render_repair(keyless) == [
        "MOST.customers on snap1 at the master's position 0-1-9: no primary key, so every row is "
        "replaced: 198 rows deleted, the master's 200 rows inserted"
    ]
    redefine = hub.parse_repair(json.dumps(sample_repair(dry_run=True, definition_differed=True)))
    assert hub.render_repair(redefine)[0].endswith(
        "a repair makes it again from the master's CREATE TABLE and loads the master's 200 rows "
        "(dry run: nothing changed)"
    )
    recreated = hub.parse_repair(
        json.dumps(sample_repair(definition_differed=True, recreated=True, differed=0, missing=0, extra=0))
    )
    assert hub.render_repair(recreated)[1].startswith("Its definition differed from the master's")
    failed = hub.parse_repair(json.dumps(sample_repair(error="lock wait")))
    assert hub.render_repair(failed) == [
        "Repair of MOST.customers on snap1 at the master's position 0-1-9 FAILED: lock wait",
        "Nothing was changed on the snap.",
    ]
    failed["recreated"] = True
    assert "its rows may be missing on the snap until a repair succeeds" in hub.render_repair(failed)[1]
    with pytest.raises(hub.HubUnavailable, match="did not return a JSON object"):
        hub.parse_repair("[1]", "http://h:1/repair")


def test_verify_and_repair_against_a_real_http_server_and_nowhere():
    stub = StandInHub()
    try:
        stub.answer("GET", "/verify", sample_verify(equal=True))
        stub.answer("POST", "/repair", sample_repair())
        assert hub.fetch_verify(stub.url, timeout=5).equal
        assert hub.request_repair(stub.url, "MOST.customers", "snap1", dry_run=True, timeout=5)["id"] == 3
        [call] = stub.calls("POST", "/repair")
        assert call.params == {"table": "`MOST`.`customers`", "node": "snap1", "dry_run": "1"}
        stub.answer("POST", "/repair", "snap snap1 is not connected\n", status=409)
        with pytest.raises(hub.HubRefused) as refused:
            hub.request_repair(stub.url, "MOST.customers", "snap1", dry_run=False, timeout=5)
        assert str(refused.value) == "snap snap1 is not connected"
        with pytest.raises(ValueError):
            hub.request_repair(stub.url, "customers", "snap1", dry_run=False, timeout=5)
        assert len(stub.calls("POST", "/repair")) == 2, "bad input sends nothing"
        stub.answers.clear()
        with pytest.raises(hub.HubUnavailable, match="upgrade the replicator on the master"):
            hub.fetch_verify(stub.url, timeout=5)
        with pytest.raises(hub.HubUnavailable, match="upgrade the replicator on the master"):
            hub.request_repair(stub.url, "MOST.t", "snap1", dry_run=True, timeout=5)
    finally:
        stub.close()
    url = f"http://127.0.0.1:{free_port()}/status"
    base = url.removesuffix("/status")
    with pytest.raises(hub.HubUnavailable) as e:
        hub.fetch_verify(url, timeout=2)
    assert str(e.value).startswith(f"hub at {base}/verify is unreachable")
    with pytest.raises(hub.HubUnavailable) as e:
        hub.request_repair(url, "MOST.t", "snap1", dry_run=True, timeout=2)
    assert str(e.value).startswith(f"hub at {base}/repair is unreachable")


# --- schema builders --------------------------------------------------------------------------------


def test_identifier_quoting():
    assert db.quote_identifier("we`ird") == "`we``ird`"
    for bad in ("", "x" * 65, "trailing ", "nul\0"):
        with pytest.raises(ValueError):
            db.quote_identifier(bad)


@pytest.mark.parametrize(
    "name", ["mysql", "information_schema", "performance_schema", "sys", "starsync", "MySQL"]
)
def test_system_schemas_are_refused_for_drop(name):
    with pytest.raises(schema.SchemaError, match="refusing to drop"):
        schema.drop_database_sql(name)
    with pytest.raises(schema.SchemaError, match="refusing to drop"):
        schema.drop_table_sql(name, "user")


def test_create_table_reports_missing_primary_key_and_validates_types():
    draft = schema.create_table_sql(
        "MOST", "t", [schema.ColumnSpec("a", "INT"), schema.ColumnSpec("", "INT")]
    )
    assert not draft.has_primary_key
    assert draft.sql == "CREATE TABLE `MOST`.`t` (\n  `a` INT NULL\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    draft = schema.create_table_sql(
        "MOST",
        "t",
        [schema.ColumnSpec("a", "INT UNSIGNED", primary_key=True), schema.ColumnSpec("e", "ENUM('x','y')")],
    )
    assert draft.has_primary_key and "`a` INT UNSIGNED NOT NULL" in draft.sql
    for bad_type in ("INT; DROP TABLE x", "INT -- x", "", "`x`"):
        with pytest.raises(schema.SchemaError):
            schema.create_table_sql("MOST", "t", [schema.ColumnSpec("a", bad_type)])
    with pytest.raises(schema.SchemaError, match="appears twice"):
        schema.create_table_sql("MOST", "t", [schema.ColumnSpec("a", "INT"), schema.ColumnSpec("A", "INT")])
    with pytest.raises(schema.SchemaError, match="at least one column"):
        schema.create_table_sql("MOST", "t", [])
    with pytest.raises(schema.SchemaError, match="system schema"):
        schema.create_table_sql("mysql", "t", [schema.ColumnSpec("a", "INT")])


# --- executor and conflicts helpers -----------------------------------------------------------------


def test_duplicate_column_names_are_made_distinct():
    assert executor._unique_columns(["a", "a", "b"]) == ["a", "a (2)", "b"]
    assert executor._unique_columns(["a", "a (2)", "a"]) == ["a", "a (2)", "a (3)"]


def test_dataframe_conversion_of_driver_values():
    rs = executor.ResultSet(
        ["bin", "dec", "time"],
        [(b"\xff\x00", decimal.Decimal("1.50"), dt.timedelta(hours=1)), (b"text", None, None)],
        2,
    )
    frame = executor.to_dataframe(rs)
    assert list(frame.columns) == ["bin", "dec", "time"]
    assert frame["bin"].tolist() == ["0xff00", "text"]
    assert frame.iloc[0, 1] == "1.50" and frame.iloc[0, 2] == "1:00:00"
    assert not rs.truncated and executor.ResultSet(["x"], [(1,)], 5).truncated


def test_run_counts_planned_statements():
    run = executor.Run(3, [executor.StatementResult(Statement("SELECT 1", 1))])
    assert run.stopped_early


def test_conflict_image_comparison_marks_the_differing_columns():
    rows = conflicts.compare_images(
        {
            "master_image": {"id": 1, "v": "m"},
            "incoming_before": {"id": 1, "v": "b"},
            "incoming_after": None,  # a delete has no after-image
        }
    )
    assert rows == [
        {"column": "id", "master": "1", "incoming_before": "1", "incoming_after": None, "differs": False},
        {"column": "v", "master": '"m"', "incoming_before": '"b"', "incoming_after": None, "differs": True},
    ]


def test_bind_warning_unless_streamlit_listens_on_loopback(monkeypatch):
    from starsync_gui import ui

    for address, expected in [("127.0.0.1", None), ("localhost", None), ("0.0.0.0", "0.0.0.0"), (None, "all")]:
        monkeypatch.setattr(ui.st, "get_option", lambda name, a=address: a if name == "server.address" else None)
        warning = ui.bind_warning()
        if expected is None:
            assert warning is None, address
        else:
            assert warning.startswith(f"Streamlit is listening on {expected}"), warning
