"""The GUI's password gate.

The console can run any SQL as the DBA's account, so it refuses to serve at all until a password
is configured: ``gui_password`` in Streamlit's secrets (``.streamlit/secrets.toml``) or the
environment variable ``STARSYNC_GUI_PASSWORD`` (secrets win when both are set). Login state lives
in the browser session's ``st.session_state``; every page calls :func:`require_login` first, so a
page opened by URL is guarded like the home page.

A wrong password costs the caller a second before the answer, which makes guessing slow without
bothering a DBA who mistyped. The app also binds to localhost by default
(``.streamlit/config.toml``), so the password is the second fence, not the only one.
"""

from __future__ import annotations

import hmac
import os
import time

import streamlit as st

PASSWORD_ENV = "STARSYNC_GUI_PASSWORD"
SECRET_KEY = "gui_password"

#: Session-state keys.
AUTH_KEY = "starsync_authenticated"
USER_KEY = "starsync_user"

#: Delay after a wrong password, in seconds.
FAILURE_DELAY = 1.0


def configured_password() -> str | None:
    """The GUI password from secrets or the environment; ``None`` when neither is set."""
    try:
        value = st.secrets.get(SECRET_KEY)
    except Exception:  # no secrets file at all: Streamlit raises rather than returning None
        value = None
    if value:
        return str(value)
    value = os.environ.get(PASSWORD_ENV, "")
    return value or None


def check_password(given: str, expected: str) -> bool:
    """Constant-time comparison of the typed password with the configured one."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def is_logged_in() -> bool:
    return bool(st.session_state.get(AUTH_KEY))


def current_user(default: str) -> str:
    """Name recorded in the query log: what the DBA typed at login, else ``default``."""
    return st.session_state.get(USER_KEY) or default


def logout() -> None:
    st.session_state[AUTH_KEY] = False
    st.session_state.pop(USER_KEY, None)


def require_login() -> None:
    """Show the login form and stop the script unless this session is logged in."""
    expected = configured_password()
    if expected is None:
        st.error(
            "No GUI password is configured, so the console will not serve. Set `gui_password` in "
            f"`.streamlit/secrets.toml` or the environment variable `{PASSWORD_ENV}`, then reload."
        )
        st.stop()
    if is_logged_in():
        return

    st.title("starsync console")
    st.caption("The DBA's console on the master. Log in to continue.")
    with st.form("login"):
        name = st.text_input("Your name (recorded in the query log)", key="login_name")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        if check_password(password, expected):
            st.session_state[AUTH_KEY] = True
            st.session_state[USER_KEY] = name.strip()[:128]
            st.rerun()
        time.sleep(FAILURE_DELAY)
        st.error("Wrong password.")
    st.stop()
