"""gunicorn settings (`gunicorn -c python:filas_api.gunicorn_conf filas_api.wsgi:app`).

Requests only touch PostgreSQL and Redis, never a browser or a gateway, so a few sync workers
with threads carry the front end; override any of these with GUNICORN_CMD_ARGS."""

import os

from filas import prometheus_multiprocess
from filas.logs import gunicorn_logconfig

bind = os.environ.get("FILAS_API_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("FILAS_API_WORKERS", "2"))
threads = int(os.environ.get("FILAS_API_THREADS", "4"))
worker_class = "gthread"
timeout = 30
graceful_timeout = 25  # under Kubernetes' default 30 s termination grace period
keepalive = 5
accesslog = "-"
# The access log must carry no secret nor personal data: paths hold only ids, the query string (where the
# webhook's secret travels) and headers (Authorization) are left out.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
logconfig_dict = gunicorn_logconfig()  # FILAS_LOG_FORMAT: JSON lines, or plain for `make run`


def on_starting(server) -> None:
    """In the master, before it forks the workers: the request metrics of every worker go to one emptied
    directory (<FILAS_METRICS_DIR>/api), which the workers inherit (filas_api.metrics)."""
    prometheus_multiprocess.start_fresh(prometheus_multiprocess.service_directory("api"))


def child_exit(server, worker) -> None:
    prometheus_multiprocess.mark_process_dead(worker.pid, prometheus_multiprocess.service_directory("api"))
