"""The Redis view of jobs, in a real Redis: start/cancel have one winner, nothing leaves a final state,
and a job's view never expires before the job is final."""

import redis

from filas.jobs import CancelOutcome, JobStatus, JobStore

SEND = ("campaigns.send_campaign", "campaigns")
BOOK = ("portal.schedule_booking", "atacadao")


def store(redis_url: str) -> JobStore:
    return JobStore(redis.Redis.from_url(redis_url), retention_seconds=60)


def test_a_job_cancelled_while_queued_never_starts(redis_url):
    jobs = store(redis_url)
    jobs.record_queued("j1", *SEND)

    assert jobs.request_cancel("j1", "campaigns", "cancelado") == CancelOutcome.CANCELLED
    assert jobs.start("j1", *SEND) is False
    assert jobs.get("j1").status == JobStatus.CANCELLED


def test_a_job_cancelled_while_waiting_for_its_retry_never_starts_again(redis_url):
    jobs = store(redis_url)
    jobs.record_queued("j1", *BOOK)
    jobs.start("j1", *BOOK)
    jobs.record_queued("j1", *BOOK, retries=1)  # Retries re-enqueued it with a delay

    assert jobs.request_cancel("j1", "atacadao", "cancelado") == CancelOutcome.CANCELLED
    jobs.record_queued("j1", *BOOK, retries=2)  # a late re-enqueue (the reconciler, a redelivery)
    assert jobs.start("j1", *BOOK) is False
    assert jobs.get("j1").status == JobStatus.CANCELLED


def test_a_started_job_is_only_asked_to_stop(redis_url):
    jobs = store(redis_url)
    jobs.record_queued("j2", *SEND)
    assert jobs.start("j2", *SEND) is True

    assert jobs.request_cancel("j2", "campaigns", "cancelado") == CancelOutcome.REQUESTED
    job = jobs.get("j2")
    assert (job.status, job.cancel_requested) == (JobStatus.STARTED, True)
    assert jobs.is_cancel_requested("j2")


def test_ended_and_unknown_jobs_cannot_be_cancelled(redis_url):
    jobs = store(redis_url)
    jobs.record_queued("j3", *BOOK)
    jobs.finish("j3", *BOOK, JobStatus.FINISHED)

    assert jobs.request_cancel("j3", "atacadao", "cancelado") == CancelOutcome.TOO_LATE
    assert jobs.request_cancel("nope", "atacadao", "cancelado") == CancelOutcome.UNKNOWN


def test_no_write_moves_a_job_out_of_a_final_state(redis_url):
    jobs = store(redis_url)
    jobs.record_queued("j5", *BOOK)
    jobs.finish("j5", *BOOK, JobStatus.FAILED, error="captcha")

    assert jobs.record_queued("j5", *BOOK, retries=1) is False
    assert jobs.start("j5", *BOOK) is False
    assert jobs.update("j5", status=JobStatus.RETRYING) is False
    assert jobs.finish("j5", *BOOK, JobStatus.FINISHED) is False
    job = jobs.get("j5")
    assert (job.status, job.error) == (JobStatus.FAILED, "captcha")


def test_a_view_expires_only_once_its_job_is_final(redis_url):
    jobs = store(redis_url)
    jobs.record_queued("j4", *BOOK)
    jobs.start("j4", *BOOK)
    jobs.record_queued("j4", *BOOK, retries=1)
    assert jobs.client.ttl("filas:job:j4") == -1  # no expiry while it waits or runs

    jobs.finish("j4", *BOOK, JobStatus.FINISHED)
    assert 0 < jobs.client.ttl("filas:job:j4") <= 60


def test_a_view_lost_while_its_job_ran_is_written_whole_when_the_job_ends(redis_url):
    jobs = store(redis_url)
    jobs.record_queued("j6", *BOOK)
    jobs.start("j6", *BOOK)
    jobs.client.flushall()  # Redis restarted empty while the job ran

    jobs.finish("j6", *BOOK, JobStatus.FINISHED, result={"protocolo": "P1"})

    job = jobs.get("j6")
    assert (job.actor, job.queue, job.status, job.result) == (*BOOK, JobStatus.FINISHED, {"protocolo": "P1"})


def test_final_states_are_counted_per_queue(redis_url):
    jobs = store(redis_url)
    for job_id, status in (("a", JobStatus.FINISHED), ("b", JobStatus.FINISHED), ("c", JobStatus.FAILED)):
        jobs.record_queued(job_id, *BOOK)
        jobs.finish(job_id, *BOOK, status)
        jobs.finish(job_id, *BOOK, status)  # a second final write is refused, not counted
    assert jobs.client.hgetall("filas:queue_outcomes:atacadao") == {b"finished": b"2", b"failed": b"1"}


def test_a_refused_start_says_which_state_refused_it(redis_url):
    jobs = store(redis_url)
    jobs.record_queued("cancelled", *SEND)
    jobs.request_cancel("cancelled", "campaigns", "cancelado")
    jobs.record_queued("asked", *SEND)
    jobs.start("asked", *SEND)
    jobs.request_cancel("asked", "campaigns", "cancelado")  # running: only asked to stop
    jobs.record_queued("ended", *SEND)
    jobs.finish("ended", *SEND, JobStatus.FINISHED)
    jobs.record_queued("waiting", *SEND)

    refusals = [jobs.refused_start(job_id, *SEND) for job_id in ("cancelled", "asked", "ended", "waiting")]

    assert refusals == [JobStatus.CANCELLED, JobStatus.CANCELLED, JobStatus.FINISHED, None]
    assert jobs.get("waiting").status == JobStatus.STARTED
