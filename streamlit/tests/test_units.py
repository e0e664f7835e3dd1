"""Unit tests of config, hub client, schema builders and helpers (no MariaDB needed)."""

from __future__ import annotations

import datetime as dt
import decimal
import tomllib
from pathlib import Path

import pytest

from harness import StandInHub, free_port, sample_status
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
    assert hub.node_warnings(hub.parse_status(__import__("json").dumps(status))) == [
        "snap1: 2 DDL statement(s) from the master failed there, so its schema differs from the "
        "master's until a DBA mends it (its agent's log says how); last: ALTER TABLE t ADD CHECK "
        "(v > 0): ERROR 4025.",
        "snap2 refuses local writes for now (read_only): loading the master's snapshot.",
    ]


def test_lag_samples_are_capped_per_node(monkeypatch):
    monkeypatch.setattr(hub, "MAX_SAMPLES_PER_NODE", 3)
    samples: list[dict] = []
    for i in range(5):
        status = hub.parse_status(__import__("json").dumps(sample_status()))
        status.fetched_at = dt.datetime(2026, 1, 1, 0, 0, i)
        hub.add_samples(samples, status)
    assert len(samples) == 9
    assert samples[0]["time"] == dt.datetime(2026, 1, 1, 0, 0, 2)


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
