"""The operators' console at /console/: login, the guard every page passes, security headers.

The pages themselves are in ``console_pages``. Server-rendered Jinja, one small script
shipped with it (local times, fragment refresh), no build step, nothing from another origin.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from prometheus_client import Counter
from redis import RedisError

from webhook import console_auth as auth
from webhook import console_views as views
from webhook.context import app_state

console_bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static/console",
    static_url_path="/static",
)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
log = logging.getLogger("recbridge.console")
ACTIONS = Counter(
    "recbridge_console_actions_total",
    "Console logins, refusals and changes, by outcome",
    ["outcome"],
)
OPEN_ENDPOINTS = frozenset({"console.login", "console.static"})
FRAGMENT_HEADER = "X-Console-Fragment"


def _ops_token() -> str | None:
    token = app_state().settings.ops_api_token
    return None if token is None else token.reveal()


def note(outcome: str, level: int = logging.INFO, **extra: Any) -> None:
    """Count and log what an operator did (or was refused): ``console.<outcome>``."""
    ACTIONS.labels(outcome).inc()
    log.log(level, f"console.{outcome}", extra={"path": request.path, **extra})


def render_page(template: str, status: int = 200, **context: object) -> ResponseReturnValue:
    """A whole page, or only its live part when the page's script asks for a refresh."""
    fragment = request.headers.get(FRAGMENT_HEADER) == "1"
    return render_template(template, fragment=fragment, **context), status


@console_bp.before_request
def guard() -> ResponseReturnValue | None:
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    token = _ops_token()
    if token is None:
        return _disabled()
    nonce = auth.verify(token, request.cookies.get(auth.COOKIE))
    if nonce is None:
        if request.method in ("GET", "HEAD") and request.headers.get(FRAGMENT_HEADER) != "1":
            return redirect(url_for("console.login", next=request.full_path.rstrip("?")), 303)
        note("unauthenticated", logging.WARNING, method=request.method)
        return _refused(401, "Your console login has ended. Log in again.")
    g.console_csrf = auth.csrf_token(token, nonce)
    if request.method not in ("GET", "HEAD") and not auth.csrf_matches(
        token, nonce, request.form.get(auth.CSRF_FIELD)
    ):
        note("csrf_refused", logging.WARNING)
        return _refused(403, "This form was refused: its CSRF token is missing or stale.")
    return None


@console_bp.after_request
def security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@console_bp.app_template_global()
def refresh_s() -> int:
    return app_state().settings.console_refresh_s


@console_bp.app_template_global()
def csrf_token() -> str:
    token: str = g.get("console_csrf", "")
    return token


console_bp.add_app_template_global(views.utc_text, "utc_text")
console_bp.add_app_template_global(views.utc_iso, "utc_iso")


@console_bp.errorhandler(RedisError)
def redis_unavailable(exc: RedisError) -> ResponseReturnValue:
    return _refused(503, f"Redis did not answer ({type(exc).__name__}). Try again shortly.")


def _refused(status: int, message: str) -> ResponseReturnValue:
    return render_template("console/refused.html", message=message, status=status), status


def _disabled() -> ResponseReturnValue:
    return _refused(503, "The console is disabled: OPS_API_TOKEN is not set.")


def _safe_next(target: str | None) -> str:
    """Only a path inside the console: never another site (an open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/console/"):
            return target
    return url_for("console.sessions")


def _same_origin() -> bool:
    """A browser names the page a form came from; refuse a login posted from another site.

    Only the host is compared: behind a TLS proxy that gunicorn does not trust, the scheme
    seen here is http while the browser's is https."""
    origin = request.headers.get("Origin")
    return origin is None or origin == "null" or urlsplit(origin).netloc == request.host


@console_bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    token = _ops_token()
    if token is None:
        return _disabled()
    next_path = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("console/login.html", next=next_path, failed=False)
    if not _same_origin():
        note("login_cross_origin", logging.WARNING, origin=request.headers.get("Origin"))
        return _refused(403, "A login from another site was refused.")
    if not auth.token_matches(request.form.get("token", ""), token):
        note("login_refused", logging.WARNING, remote_addr=request.remote_addr)
        return render_template("console/login.html", next=next_path, failed=True), 401
    note("login", remote_addr=request.remote_addr)
    response = redirect(next_path, 303)
    response.set_cookie(
        auth.COOKIE,
        auth.issue(token),
        max_age=auth.LIFETIME_S,
        path="/console",
        secure=request.is_secure,
        httponly=True,
        samesite="Strict",
    )
    return response


@console_bp.post("/logout")
def logout() -> ResponseReturnValue:
    note("logout")
    response = redirect(url_for("console.login"), 303)
    response.delete_cookie(
        auth.COOKIE, path="/console", secure=request.is_secure, httponly=True, samesite="Strict"
    )
    return response
