"""Fixtures: a real master MariaDB (and an empty one for import checks), the GUI's environment,
a stand-in hub, and a helper that opens a page of the app already logged in."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

GUI_DIR = Path(__file__).resolve().parent.parent
if str(GUI_DIR) not in sys.path:
    sys.path.insert(0, str(GUI_DIR))

from harness import MariaDB, StandInHub, free_port  # noqa: E402

APP = GUI_DIR / "Home.py"
GUI_PASSWORD = "correct horse battery staple"
DB_USER = "dba"
DB_PASSWORD = "dba-pw'\"#;x"  # quotes and option-file specials: must reach mariadb-dump intact

ENV_VARS = [
    "STARSYNC_GUI_CONFIG",
    "STARSYNC_GUI_DB_HOST",
    "STARSYNC_GUI_DB_PORT",
    "STARSYNC_GUI_DB_USER",
    "STARSYNC_GUI_DB_PASSWORD",
    "STARSYNC_GUI_DB_SOCKET",
    "STARSYNC_HUB_STATUS_URL",
    "STARSYNC_GUI_PASSWORD",
]


@pytest.fixture(scope="session")
def master(tmp_path_factory: pytest.TempPathFactory):
    """The master: server_id 1, domain 1, a DBA account over TCP, and a MOST database."""
    server = MariaDB(tmp_path_factory.mktemp("mariadb"), "master", server_id=1)
    try:
        server.start()
        server.execute(
            f"CREATE USER '{DB_USER}'@'%' IDENTIFIED BY '{DB_PASSWORD.replace(chr(39), chr(39) * 2)}'",
            f"GRANT ALL PRIVILEGES ON *.* TO '{DB_USER}'@'%' WITH GRANT OPTION",
            "CREATE DATABASE MOST CHARACTER SET utf8mb4",
            "CREATE TABLE MOST.customers (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, balance DECIMAL(10,2))",
            "INSERT INTO MOST.customers VALUES (1, 'Ada', 10.50), (2, 'Grace', 20.00), (3, 'Linus', NULL)",
        )
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def empty_server(tmp_path_factory: pytest.TempPathFactory):
    """A second, empty server (server_id 2) to import exports into."""
    server = MariaDB(tmp_path_factory.mktemp("mariadb-empty"), "empty", server_id=2)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def hub_stub():
    hub = StandInHub()
    try:
        yield hub
    finally:
        hub.close()


@pytest.fixture
def gui_env(master: MariaDB, monkeypatch: pytest.MonkeyPatch):
    """The GUI's environment: master over TCP as the DBA, a password, an unreachable hub."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("STARSYNC_GUI_DB_HOST", "127.0.0.1")
    monkeypatch.setenv("STARSYNC_GUI_DB_PORT", str(master.port))
    monkeypatch.setenv("STARSYNC_GUI_DB_USER", DB_USER)
    monkeypatch.setenv("STARSYNC_GUI_DB_PASSWORD", DB_PASSWORD)
    monkeypatch.setenv("STARSYNC_GUI_PASSWORD", GUI_PASSWORD)
    # A port nobody listens on: pages must say so instead of hanging.
    monkeypatch.setenv("STARSYNC_HUB_STATUS_URL", f"http://127.0.0.1:{free_port()}/status")
    monkeypatch.chdir(GUI_DIR)
    return os.environ


def login(at, password: str = GUI_PASSWORD, name: str = "pytest"):
    """Fill the login form of ``at`` (already run once) and submit it."""
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(password)
    at.button[0].click()  # the form's only button: "Log in"
    return at.run()


@pytest.fixture
def open_page(gui_env):
    """``open_page("pages/1_SQL_Console.py")`` -> an AppTest logged in and on that page."""
    from streamlit.testing.v1 import AppTest

    def _open(page: str | None = None, *, name: str = "pytest"):
        at = AppTest.from_file(str(APP), default_timeout=60).run()
        assert not at.exception, at.exception
        login(at, name=name)
        assert not at.exception, at.exception
        assert at.session_state["starsync_authenticated"] is True
        if page:
            at.switch_page(page).run()
            assert not at.exception, at.exception
        return at

    return _open
