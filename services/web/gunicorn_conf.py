"""gunicorn settings for the web service, all taken from the one settings model.

Run: gunicorn -c services/web/gunicorn_conf.py 'services.web.app:create_app()'
Access logs are off (the app logs each request as JSON itself); gunicorn's own log is JSON too.
Prometheus runs in multiprocess mode with a folder under STACK_DIR/run, so /metrics sums all workers.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from services.shared.settings import get_settings
from services.web import gunicorn_errors

_settings = get_settings()
gunicorn_errors.install()  # 414/431/400 from gunicorn itself answer JSON, like the app
# prometheus_client picks multiprocess mode when it is imported, so this must be set before any import
# of it (in the master, which forks the workers). The folder must match services.web.metrics.metrics_dir.
_metrics_dir: Path = _settings.stack.run_dir / "web-metrics"
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)

bind = [f"{_settings.web.bind}:{_settings.web.port}"]
workers = _settings.web.workers
worker_class = "gthread"
threads = 4
timeout = 30
graceful_timeout = 10
proc_name = "lvs-web"
accesslog = None
control_socket_disable = True  # gunicorn 27's control socket lives in $HOME and would clash between stacks
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "services.shared.logging.JsonFormatter", "service": "web"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}


def on_starting(server: Any) -> None:
    """Start every run with an empty metrics folder (old workers' files would be summed)."""
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    _metrics_dir.mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges from the multiprocess metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, str(_metrics_dir))
