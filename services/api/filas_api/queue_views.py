"""The queues as the front end reads them (GET /portal/api/status-filas).

Counts come from the same read as the Prometheus queue metrics (filas.queue_depth): the broker's own
keys for what is waiting, running and dead, and the per-queue outcome counters the job-state scripts
increment at each job's final state. One Redis round trip for every queue's counts, then the few most
recent jobs of each queue (job state) for the list.
"""

from dataclasses import asdict
from typing import Any

from filas import contracts
from filas.broker import get_job_store, get_redis
from filas.queue_depth import QueueDepth, QueueOutcomes, queue_snapshot

RECENT_JOBS_LISTED = 20


def queue_overview() -> dict[str, dict[str, Any]]:
    """Per queue: {pendentes, em_execucao, concluidos, falhados, cancelados, mortos, jobs, redis}."""
    snapshot = queue_snapshot(get_redis(), contracts.QUEUES)
    store = get_job_store()
    return {queue: _queue_view(depth, outcomes, store.recent(queue, RECENT_JOBS_LISTED))
            for queue, (depth, outcomes) in snapshot.items()}


def _queue_view(depth: QueueDepth, outcomes: QueueOutcomes, jobs: list) -> dict[str, Any]:
    return {
        "pendentes": depth.ready + depth.delayed,
        "em_execucao": depth.in_flight,
        "concluidos": outcomes.finished,
        "falhados": outcomes.failed,
        "cancelados": outcomes.cancelled,
        "mortos": depth.dead,
        "jobs": [
            {"job_id": job.id, "tipo": job.actor, "status": job.status,
             "criado_em": job.created_at.isoformat() if job.created_at else None}
            for job in jobs
        ],
        # For operators: the broker's depths by state, in English as in the metrics.
        "redis": _rounded(asdict(depth)),
    }


def _rounded(fields: dict[str, Any]) -> dict[str, Any]:
    age = fields["oldest_ready_age_seconds"]
    return {**fields, "oldest_ready_age_seconds": None if age is None else round(age, 3)}
