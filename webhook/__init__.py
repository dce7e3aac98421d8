"""The Flask app: NCS endpoint, ops API, the operators' console, health and metrics."""

from __future__ import annotations

from flask import Flask

from config.logging import configure_logging
from config.settings import Settings, load_settings
from webhook.api import api_bp
from webhook.api_endpoints import endpoints_bp
from webhook.api_ops import ops_bp
from webhook.api_recordings import recordings_bp
from webhook.console_pages import console_bp
from webhook.context import AppState
from webhook.errors import register_error_handlers
from webhook.health import health_bp
from webhook.jsonio import BoundedJSONProvider
from webhook.metrics import metrics_bp
from webhook.ncs import MAX_BODY_BYTES, ncs_bp
from workers.queues import events_queue, job_policy
from workers.redis_conn import connect


def create_app(settings: Settings | None = None) -> Flask:
    settings = (settings or load_settings()).require_web()
    configure_logging(settings.log_level, settings.secret_values())
    app = Flask(__name__)
    app.json = BoundedJSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES + 1  # see ncs._read_body
    connection = connect(settings)
    app.extensions["recbridge"] = AppState(
        settings=settings,
        redis=connection,
        events_queue=events_queue(connection),
        job_policy=job_policy(settings),
        ncs_secrets=tuple(s.reveal() for s in settings.ncs_secrets),
    )
    register_error_handlers(app)
    app.register_blueprint(ncs_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(recordings_bp)
    app.register_blueprint(metrics_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(console_bp)
    app.register_blueprint(endpoints_bp)
    return app
