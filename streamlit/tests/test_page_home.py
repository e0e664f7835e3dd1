"""Entry page: the password gate (env and secrets), refusal without a password, master info."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from conftest import APP, DB_USER, GUI_PASSWORD, login


def fresh_app() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def test_wrong_password_is_refused(gui_env):
    at = fresh_app()
    assert at.text_input(key="login_password").type == "text_input"
    started = time.monotonic()
    at = login(at, password="not the password")
    assert time.monotonic() - started >= 1.0, "a wrong password must cost time"
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["Wrong password."]
    assert "starsync_authenticated" not in at.session_state
    # Nothing of the console is shown: no master info, and pages stay guarded.
    assert not [m for m in at.markdown if "gtid_binlog_pos" in m.value]
    at.switch_page("pages/1_SQL_Console.py").run()
    assert not at.exception, at.exception
    assert "console_sql" not in [t.key for t in at.text_area]
    assert at.text_input(key="login_password")


def test_right_password_logs_in_and_shows_the_master(gui_env, master):
    at = login(fresh_app(), name="bob")
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    text = "\n".join(m.value for m in at.markdown)
    assert "server_id `1`, gtid_domain_id `1`" in text
    assert f"connected as `{DB_USER}@" in text
    # The hub is not running in this test: the page names the address it tried.
    warnings = [w.value for w in at.warning]
    assert any(gui_env["STARSYNC_HUB_STATUS_URL"] in w and "unreachable" in w for w in warnings), warnings
    sidebar = [c.value for c in at.sidebar.caption]
    assert "Logged in as **bob**" in sidebar

    at.sidebar.button(key="logout").click().run()
    assert at.text_input(key="login_password")


def test_password_from_streamlit_secrets(gui_env, monkeypatch):
    monkeypatch.delenv("STARSYNC_GUI_PASSWORD")
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["gui_password"] = "from-secrets"
    at.run()
    assert not at.exception, at.exception
    at = login(at, password=GUI_PASSWORD)
    assert [e.value for e in at.error] == ["Wrong password."]
    at = login(at, password="from-secrets")
    assert at.session_state["starsync_authenticated"] is True
    assert not at.error


def test_refuses_to_serve_without_a_password(gui_env, monkeypatch):
    monkeypatch.delenv("STARSYNC_GUI_PASSWORD")
    at = fresh_app()
    assert len(at.error) == 1
    assert "No GUI password is configured" in at.error[0].value
    assert "STARSYNC_GUI_PASSWORD" in at.error[0].value
    assert not at.text_input, "no login form may be offered without a password"
    at.switch_page("pages/5_Export.py").run()
    assert "No GUI password is configured" in at.error[0].value
    assert not at.button


def test_bad_config_is_named(gui_env, monkeypatch, tmp_path):
    bad = tmp_path / "gui.toml"
    bad.write_text("[database]\nprot = 3306\n")
    monkeypatch.setenv("STARSYNC_GUI_CONFIG", str(bad))
    at = login(fresh_app())
    assert len(at.error) == 1
    assert "[database] prot: unknown setting" in at.error[0].value


def test_unreachable_master_is_reported(gui_env, monkeypatch):
    from harness import free_port

    monkeypatch.setenv("STARSYNC_GUI_DB_PORT", str(free_port()))
    at = login(fresh_app())
    assert not at.exception, at.exception
    assert any("cannot connect to MariaDB at dba@127.0.0.1:" in e.value for e in at.error)
