"""The scheduler, run as users run it (`filas-scheduler`), under a faked clock (libfaketime)."""

import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import redis
from faked_clock import libfaketime_or_skip
from waiting import wait_for

IN_CI = os.environ.get("CI", "").lower() == "true"
SCHEDULER = str(Path(sys.executable).parent / "filas-scheduler")


def queued_messages(client: redis.Redis, queue: str) -> list[dict]:
    return [json.loads(body) for body in client.hvals(f"dramatiq:{queue}.msgs")]


def wait_for_actor(client: redis.Redis, queue: str, actor: str, timeout: float) -> dict:
    return wait_for(lambda: next((m for m in queued_messages(client, queue) if m["actor_name"] == actor), None),
                    timeout, f"{actor} enqueued on {queue}", details=lambda: queued_messages(client, queue))


@pytest.fixture
def libfaketime() -> str:
    return libfaketime_or_skip()


def scheduler_env(libfaketime: str, redis_url: str, database_url: str, fake_start: str) -> dict[str, str]:
    env = {**os.environ, "FILAS_REDIS_URL": redis_url, "FILAS_DATABASE_URL": database_url, "TZ": "UTC",
           "LD_PRELOAD": libfaketime, "FAKETIME": f"@{fake_start}", "FAKETIME_DONT_RESET": "1"}
    env.pop("FILAS_SCHEDULE_TIMEZONE", None)
    return env


def wait_for_line(log: Path, text: str, timeout: float = 60) -> None:
    wait_for(lambda: text in log.read_text(), timeout, f"{text!r} in {log.name}", details=log.read_text)


def test_follow_up_is_enqueued_by_name_at_nine_in_fortaleza_not_utc(libfaketime, redis_url, database_url):
    # 11:59:57 UTC is 08:59:57 in Fortaleza (UTC-3 all year): a scheduler on UTC would not fire at 12:00.
    env = scheduler_env(libfaketime, redis_url, database_url, "2026-11-24 11:59:57")
    process = subprocess.Popen([SCHEDULER], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        message = wait_for_actor(redis.Redis.from_url(redis_url), "campaigns", "campaigns.follow_up", timeout=30)
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    scheduled_at = datetime.fromisoformat(message["options"]["scheduled_at"])
    # periodiq stamps the second it woke up at: 09:00:00, or a second later on a loaded machine.
    assert (scheduled_at.date(), scheduled_at.hour, scheduled_at.minute) == (date(2026, 11, 24), 9, 0), output
    assert scheduled_at.utcoffset() == timedelta(hours=-3)
    assert message["args"] == [] and message["kwargs"] == {}


def test_a_second_scheduler_waits_and_takes_over_when_the_first_stops(libfaketime, redis_url, database_url,
                                                                      tmp_path):
    env = scheduler_env(libfaketime, redis_url, database_url, "2026-11-24 11:59:50")
    logs = {name: tmp_path / f"{name}.log" for name in ("first", "second")}
    processes = {}
    try:
        for name in ("first", "second"):
            with logs[name].open("w") as log:
                processes[name] = subprocess.Popen([SCHEDULER], env=env, stdout=log, stderr=subprocess.STDOUT)
            wait_for_line(logs[name], "waiting for the scheduler lock")
        wait_for_line(logs["first"], "holding the scheduler lock")

        wait_for_actor(redis.Redis.from_url(redis_url), "campaigns", "campaigns.follow_up", timeout=60)

        follow_ups = [m for m in queued_messages(redis.Redis.from_url(redis_url), "campaigns")
                      if m["actor_name"] == "campaigns.follow_up"]
        assert len(follow_ups) == 1
        assert "holding the scheduler lock" not in logs["second"].read_text()  # it never ran periodiq
        processes["first"].terminate()
        assert processes["first"].wait(timeout=30) == 0
        wait_for_line(logs["second"], "holding the scheduler lock")
    finally:
        for process in processes.values():
            process.kill()
            process.wait()


def test_the_leader_keeps_its_lock_across_a_redis_flush_but_not_when_another_took_it(redis_url):
    from filas_scheduler.leader import LOCK_NAME, _renew

    client = redis.Redis.from_url(redis_url)
    lock = client.lock(LOCK_NAME, timeout=30, thread_local=False)
    assert lock.acquire(blocking=False)
    assert _renew(lock)

    client.flushall()  # Redis restarted empty: nobody else can be leader, this one carries on
    assert _renew(lock)
    assert client.get(LOCK_NAME) == lock.local.token

    client.set(LOCK_NAME, "another scheduler")
    assert not _renew(lock)


# --- the daily follow-up, caught up when missed -------------------------------------------------------

def count_messages(client: redis.Redis, queue: str, actor: str) -> int:
    return sum(message["actor_name"] == actor for message in queued_messages(client, queue))


def run_scheduler_through_two_ticks(env: dict[str, str], redis_url: str, log: Path) -> list[dict]:
    """Start the scheduler, wait until it has woken twice (at start-up, then at the next minute), stop it;
    return the follow-ups it enqueued. Each tick runs the reconciler after its daily check, and logs it."""
    client = redis.Redis.from_url(redis_url)
    with log.open("w") as output:
        process = subprocess.Popen([SCHEDULER], env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        def ticked_twice() -> bool:
            assert process.poll() is None, f"the scheduler exited:\n{log.read_text()}"
            return log.read_text().count("maintenance.reconcile done") >= 2

        wait_for(ticked_twice, 120, "two scheduler ticks", details=log.read_text)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return [m for m in queued_messages(client, "campaigns") if m["actor_name"] == "campaigns.follow_up"]


def test_started_at_half_past_ten_with_no_run_today_it_enqueues_the_missed_follow_up_once(
        libfaketime, redis_url, database_url, tmp_path):
    log = tmp_path / "scheduler.log"
    env = scheduler_env(libfaketime, redis_url, database_url, "2026-11-24 13:30:40")  # 10:30:40 in Fortaleza

    follow_ups = run_scheduler_through_two_ticks(env, redis_url, log)

    assert len(follow_ups) == 1, log.read_text()  # sent when it took the lead; the next tick saw it waiting
    scheduled_at = datetime.fromisoformat(follow_ups[0]["options"]["scheduled_at"])
    assert (scheduled_at.date(), scheduled_at.hour, scheduled_at.minute) == (date(2026, 11, 24), 10, 30)
    assert scheduled_at.utcoffset() == timedelta(hours=-3)
    assert "catching up" in log.read_text()


def test_started_in_the_evening_it_enqueues_no_follow_up(libfaketime, redis_url, database_url, tmp_path):
    log = tmp_path / "scheduler.log"
    env = scheduler_env(libfaketime, redis_url, database_url, "2026-11-24 22:00:40")  # 19:00:40 in Fortaleza

    assert run_scheduler_through_two_ticks(env, redis_url, log) == [], log.read_text()


def test_with_todays_run_in_the_database_it_enqueues_no_follow_up(libfaketime, redis_url, database_url,
                                                                  tmp_path):
    from filas.db.models import PeriodicRun
    from filas.db.session import session_scope

    with session_scope(database_url) as session:  # a worker ran today's follow-up before the outage
        session.add(PeriodicRun(actor="campaigns.follow_up", referencia=date(2026, 11, 24), job_id="earlier"))
    log = tmp_path / "scheduler.log"
    env = scheduler_env(libfaketime, redis_url, database_url, "2026-11-24 13:30:40")

    assert run_scheduler_through_two_ticks(env, redis_url, log) == [], log.read_text()
