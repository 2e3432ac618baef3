"""The Dramatiq Redis broker every service uses, and the Redis client behind job state."""

from functools import lru_cache

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage

from filas.jobs import JobStore
from filas.middleware import JobStateMiddleware
from filas.settings import Settings, get_settings


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis:
    settings = get_settings()
    return redis.Redis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)


@lru_cache(maxsize=1)
def get_job_store() -> JobStore:
    return JobStore(get_redis(), get_settings().job_retention_seconds)


def build_broker(settings: Settings) -> RedisBroker:
    """A Redis broker whose dead-worker recovery takes seconds, not the library's many minutes."""
    broker = RedisBroker(
        url=settings.redis_url,
        heartbeat_timeout=settings.broker_heartbeat_timeout_ms,
        maintenance_chance=settings.broker_maintenance_chance,
    )
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(JobStateMiddleware(get_job_store()))
    return broker


@lru_cache(maxsize=1)
def setup_broker() -> RedisBroker:
    """Build the process-wide broker once and make it Dramatiq's global broker."""
    broker = build_broker(get_settings())
    dramatiq.set_broker(broker)
    return broker
