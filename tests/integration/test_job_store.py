"""Job state in a real Redis: the cancel/start race has exactly one winner."""

import redis

from filas.jobs import CancelOutcome, JobStatus, JobStore


def store(redis_url: str) -> JobStore:
    return JobStore(redis.Redis.from_url(redis_url), retention_seconds=60)


def test_a_job_cancelled_while_queued_never_starts(redis_url):
    jobs = store(redis_url)
    jobs.record_queued("j1", "campaigns.send_campaign", "campaigns")

    assert jobs.request_cancel("j1") == CancelOutcome.CANCELLED
    assert jobs.start("j1") is False
    assert jobs.get("j1").status == JobStatus.CANCELLED


def test_a_started_job_is_only_asked_to_stop(redis_url):
    jobs = store(redis_url)
    jobs.record_queued("j2", "campaigns.send_campaign", "campaigns")
    assert jobs.start("j2") is True

    assert jobs.request_cancel("j2") == CancelOutcome.REQUESTED
    job = jobs.get("j2")
    assert (job.status, job.cancel_requested) == (JobStatus.STARTED, True)
    assert jobs.is_cancel_requested("j2")


def test_ended_and_unknown_jobs_cannot_be_cancelled(redis_url):
    jobs = store(redis_url)
    jobs.record_queued("j3", "portal.schedule_booking", "atacadao")
    jobs.update("j3", status=JobStatus.FINISHED)

    assert jobs.request_cancel("j3") == CancelOutcome.TOO_LATE
    assert jobs.request_cancel("nope") == CancelOutcome.UNKNOWN


def test_job_state_expires_after_the_retention(redis_url):
    jobs = store(redis_url)
    jobs.record_queued("j4", "portal.schedule_booking", "atacadao")
    assert 0 < jobs.client.ttl("filas:job:j4") <= 60
