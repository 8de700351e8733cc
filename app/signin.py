"""The door of a deployment: a password (st.secrets or $RENDER_OR_REAL_PASSWORD) asked once per browser
(a signed cookie keeps a visitor in across reloads for DOOR_HOURS), wrong passwords slowed down per client."""
from __future__ import annotations

import hashlib
import hmac
import math
import os
import threading
import time

import streamlit as st

from app.options import PASSWORD_ENV, app_args

DOOR_COOKIE = "render_or_real_door"
DOOR_HOURS = 12  # how long a sign-in lasts in a browser, reloads and restarts of the server included
FIRST_WAIT_S = 1.0  # the wait after a wrong password; it doubles with each further one, up to MAX_WAIT_S
MAX_WAIT_S = 60.0

# Wrong passwords per client (IP address), shared by all sessions of the server: client -> (count, not before).
_wrong: dict[str, tuple[int, float]] = {}
_wrong_lock = threading.Lock()


def configured_password() -> str | None:
    """`password` in .streamlit/secrets.toml (st.secrets), else $RENDER_OR_REAL_PASSWORD."""
    try:
        secret = st.secrets.get("password")
    except Exception:  # no secrets file at all: Streamlit raises rather than returning nothing
        secret = None
    return secret or os.environ.get(PASSWORD_ENV) or None

def door_token(password: str, expires: int) -> str:
    """The cookie's value: its expiry (Unix seconds) and an HMAC of it keyed by the password, the server's
    secret: nobody without it can make one, and a new password turns every old cookie away."""
    key = hashlib.sha256(b"render-or-real door cookie\0" + password.encode()).digest()
    return f"{expires}.{hmac.new(key, str(expires).encode(), hashlib.sha256).hexdigest()}"

def token_valid(token: str | None, password: str, now: float | None = None) -> bool:
    expires = (token or "").split(".", 1)[0]
    if not expires.isdigit() or int(expires) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(token.encode(), door_token(password, int(expires)).encode())

def client_address() -> str:
    """The visitor's IP address; one shared name where Streamlit gives none (behind some proxies, in
    AppTest), so those clients are slowed down together."""
    address = st.context.ip_address
    return address if isinstance(address, str) and address else "unknown"

def wait_left(client: str, now: float) -> float:
    """Seconds this client must still wait before its next password is checked."""
    with _wrong_lock:
        return max(0.0, _wrong.get(client, (0, 0.0))[1] - now)

def count_wrong(client: str, now: float) -> float:
    """One more wrong password from the client: -> its wait (1 s, 2 s, 4 s, ... up to MAX_WAIT_S)."""
    with _wrong_lock:
        count = _wrong.get(client, (0, 0.0))[0] + 1
        wait = min(FIRST_WAIT_S * 2 ** (count - 1), MAX_WAIT_S)
        _wrong[client] = (count, now + wait)
    return wait

def set_door_cookie(password: str) -> None:
    """The signed cookie, set by the browser itself (Streamlit has no way to send a Set-Cookie): a
    zero-height component whose script writes the parent page's cookie (so it cannot be HttpOnly)."""
    import streamlit.components.v1 as components

    expires = int(time.time()) + DOOR_HOURS * 3600
    components.html(f"""<script>
      const secure = parent.location.protocol === "https:" ? "; Secure" : "";
      parent.document.cookie = "{DOOR_COOKIE}={door_token(password, expires)}; Max-Age={DOOR_HOURS * 3600}; "
        + "Path=/; SameSite=Strict" + secure;
    </script>""", height=0)

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
        if st.session_state.pop("set_cookie", False):
            set_door_cookie(password)
        return True
    if token_valid(st.context.cookies.get(DOOR_COOKIE), password):
        st.session_state["signed_in"] = True
        return True
    st.title("render-or-real runs")
    given = st.text_input("Password", type="password", key="password")
    if given:
        client, now = client_address(), time.time()
        wait = wait_left(client, now)
        if wait:
            st.error(f"Too many wrong passwords: try again in {math.ceil(wait)} s.")
        elif hmac.compare_digest(given.encode(), password.encode()):
            st.session_state["signed_in"] = True
            st.session_state["set_cookie"] = True
            st.rerun()
        else:
            st.error(f"Wrong password. The next one is checked after {math.ceil(count_wrong(client, now))} s.")
    return False
