"""The door of a deployment: a password (st.secrets or $RENDER_OR_REAL_PASSWORD) asked once per session."""
from __future__ import annotations

import hmac
import os

import streamlit as st

from app.options import PASSWORD_ENV, app_args


def configured_password() -> str | None:
    """`password` in .streamlit/secrets.toml (st.secrets), else $RENDER_OR_REAL_PASSWORD."""
    try:
        secret = st.secrets.get("password")
    except Exception:  # no secrets file at all: Streamlit raises rather than returning nothing
        secret = None
    return secret or os.environ.get(PASSWORD_ENV) or None

def signed_in() -> bool:
    """The door of a deployment. Locally (no password configured, no --login) the app is open. With a
    password configured, or started with `-- --login` (the Procfile does), it asks for the password
    first; --login with no password configured shows nothing but how to set one."""
    wanted = app_args().login
    password = configured_password()
    if not password and not wanted:
        return True
    if not password:
        st.error(f"This deployment needs a password before it shows any run: set `password` in "
                 f".streamlit/secrets.toml or the environment variable {PASSWORD_ENV}.")
        return False
    if st.session_state.get("signed_in"):
        return True
    st.title("render-or-real runs")
    given = st.text_input("Password", type="password", key="password")
    if given:
        if hmac.compare_digest(given.encode(), password.encode()):
            st.session_state["signed_in"] = True
            st.rerun()
        st.error("Wrong password.")
    return False
