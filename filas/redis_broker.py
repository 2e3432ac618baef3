"""Dramatiq's Redis broker, made cheap enough to carry Filas's job view (filas.jobs) on every job.

- Riders: `send_with(redis_message_id, call)` holds a job-view write until that message's next broker
  command — its enqueue, ack or nack — and sends both in one round trip, the write first. A job's view then
  costs no round trip of its own when it is queued or when it ends.
- Fetch listeners: called with every batch a consumer fetches from a ready queue (never a delay queue,
  whose messages wait for their eta), before the messages reach the worker threads. JobStateMiddleware
  marks the whole batch started in one round trip.
- One lean round trip (`run_calls`): the broker's scripts are sent with the connection's own primitives;
  redis-py's Pipeline, and even one plain command's machinery, cost a worker as much CPU as the round trip.
- A consumer that fetches as soon as a worker thread frees up: at its prefetch limit (every thread busy, with
  OneJobPerThread) Dramatiq's consumer sleeps an exponential backoff of up to `--worker-timeout` (1 s),
  leaving a thread that just finished idle that long; this one waits for the ack instead. Idle, it is woken
  as soon as this process enqueues to its queue (a job's next part: filas.runtime.continue_later).
- Poll times (`last_polls`): when each queue's consumer last came back from a poll — a fetch Redis answered,
  or, at its prefetch limit, its wait for a free slot (up to 1 s). The worker's liveness heartbeat
  (filas.worker_liveness) is made of them: they stop when a consumer is stuck on Redis or its thread is gone.
- Hooks called only where a middleware has one: Dramatiq's emit_before/emit_after call every middleware's
  method for every signal, most of them the base class's no-ops. Same order, same error handling.

Written here because Dramatiq has no middleware hook around the broker's own Redis commands; measured by
bench/job_core.py. The dispatch arguments follow RedisBroker._dispatch of the pinned Dramatiq (uv.lock).
"""

import logging
import time
import weakref
from collections.abc import Callable

import redis
from dramatiq import Message, Middleware
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import compute_backoff, current_millis, dq_name
from dramatiq.errors import ConnectionClosed
from dramatiq.middleware import MiddlewareError
from redis.exceptions import NoScriptError, ResponseError

from filas.jobs import ScriptCall
from filas.sleeping import Wakeup

logger = logging.getLogger(__name__)

FetchListener = Callable[[str, list[Message]], None]


class FilasRedisBroker(RedisBroker):
    def __init__(self, **options):
        super().__init__(**options)
        # redis message id → writes waiting for that message's next command. Each key is written and read
        # by the one thread handling that message; dict operations are atomic under the GIL.
        self._riders: dict[str, list[ScriptCall]] = {}
        self.fetch_listeners: list[FetchListener] = []
        self._hooks: dict[str, list[Callable]] = {}
        self._hooks_built_for: tuple[int, int] = (0, 0)
        self._consumers: weakref.WeakSet[_WakingConsumer] = weakref.WeakSet()
        # queue name → time.monotonic() of its consumer's last completed poll; written by that consumer only.
        self.last_polls: dict[str, float] = {}

    @property
    def consumer_class(self):
        return _WakingConsumer

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> "_WakingConsumer":
        consumer = super().consume(queue_name, prefetch, timeout)
        self._consumers.add(consumer)
        return consumer

    def send_with(self, redis_message_id: str, call: ScriptCall) -> None:
        self._riders.setdefault(redis_message_id, []).append(call)

    # --- middleware hooks ---------------------------------------------------------------------------------

    def emit_before(self, signal: str, *args, **kwargs) -> None:
        name = "before_" + signal
        for hook in self._hooks_named(name):
            try:
                hook(self, *args, **kwargs)
            except MiddlewareError:
                raise
            except Exception:
                self.logger.critical("Unexpected failure in %s of %r.", name, _owner(hook), exc_info=True)

    def emit_after(self, signal: str, *args, **kwargs) -> None:
        name = "after_" + signal
        for hook in reversed(self._hooks_named(name)):
            try:
                hook(self, *args, **kwargs)
            except Exception:
                self.logger.critical("Unexpected failure in %s of %r.", name, _owner(hook), exc_info=True)

    def _hooks_named(self, name: str) -> list[Callable]:
        built_for = (id(self.middleware), len(self.middleware))  # add_middleware appends or inserts
        if built_for != self._hooks_built_for:
            self._hooks, self._hooks_built_for = {}, built_for
        hooks = self._hooks.get(name)
        if hooks is None:
            hooks = self._hooks[name] = [getattr(m, name) for m in self.middleware if _has_hook(m, name)]
        return hooks

    # --- the broker's commands (called by RedisBroker.enqueue and the consumers) ------------------------

    def do_enqueue(self, queue_name: str, redis_message_id: str, payload: bytes):
        try:
            result = self._dispatch_with_riders("enqueue", queue_name, redis_message_id, payload)
        finally:
            self._riders.pop(redis_message_id, None)  # a failed enqueue takes its writes with it
        for consumer in list(self._consumers):  # a job's next part, enqueued here, starts here at once
            if consumer.queue_name == queue_name:
                consumer.wake()
        return result

    def do_ack(self, queue_name: str, redis_message_id: str):
        # On an error the riders stay: Dramatiq retries a failed ack until Redis answers.
        result = self._dispatch_with_riders("ack", queue_name, redis_message_id)
        self._riders.pop(redis_message_id, None)
        return result

    def do_nack(self, queue_name: str, redis_message_id: str):
        result = self._dispatch_with_riders("nack", queue_name, redis_message_id)
        self._riders.pop(redis_message_id, None)
        return result

    def do_fetch(self, queue_name: str, count: int):
        bodies = _raised(self.run_calls([self._dispatch_call("fetch", queue_name, count)])[0])
        if bodies and self.fetch_listeners and queue_name != dq_name(queue_name):
            self._tell_fetch_listeners(queue_name, bodies)
        return bodies

    def run_calls(self, calls: list[ScriptCall]) -> list:
        """Run scripts in one round trip, by their digests; each result in order, a failure as its exception.
        A script Redis no longer has (it restarted) is loaded and run on its own."""
        results = self._round_trip([("EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args)
                                    for call in calls])
        for index, result in enumerate(results):
            if isinstance(result, NoScriptError):
                try:
                    results[index] = calls[index].run()
                except Exception as error:
                    results[index] = error
        return results

    # --- helpers ------------------------------------------------------------------------------------------

    def _tell_fetch_listeners(self, queue_name: str, bodies: list[bytes]) -> None:
        # Never raises: the fetched messages already sit in this worker's ack set, and a consumer that lost
        # them would hold them until the worker dies. Without a listener's work they are still processed.
        try:
            messages = [Message.decode(body) for body in bodies]
            for listener in self.fetch_listeners:
                listener(queue_name, messages)
        except Exception:
            logger.warning("a fetch listener failed on queue %s", queue_name, exc_info=True)

    def _dispatch_with_riders(self, command: str, queue_name: str, redis_message_id: str, *extra):
        riders = self._riders.get(redis_message_id, [])
        results = self.run_calls([*riders, self._dispatch_call(command, queue_name, redis_message_id, *extra)])
        for call, result in zip(riders, results, strict=False):
            if isinstance(result, Exception):  # a job view is never worth failing the broker's command for
                logger.warning("job view write failed (%s): %s", call.keys[0], result)
        return _raised(results[-1])

    def _dispatch_call(self, command: str, queue_name: str, *args) -> ScriptCall:
        """Dramatiq's dispatch script with the arguments RedisBroker._dispatch gives it."""
        return ScriptCall(self.scripts["dispatch"], [self.namespace], [
            command, current_millis(), queue_name, self.broker_id, self.heartbeat_timeout, self.dead_message_ttl,
            self._should_do_maintenance(command), self._max_unpack_size(), *args])

    def _round_trip(self, commands: list[tuple]) -> list:
        """Send `commands` in one write and read every reply; an error reply comes back as its exception.
        What a redis-py Pipeline does, with the connection's own primitives and retry policy."""
        pool = self.client.connection_pool
        connection = pool.get_connection()
        try:
            return connection.retry.call_with_retry(lambda: _exchange(connection, commands),
                                                    lambda _error: connection.disconnect())
        except BaseException:
            connection.disconnect()  # replies may be left unread on it
            raise
        finally:
            pool.release(connection)


class _WakingConsumer(_RedisConsumer):
    """Dramatiq's consumer, woken instead of sleeping out its poll backoff (up to the worker timeout, 1 s):
    when a slot frees (ack, nack), and when this process enqueues to its queue (a job's next part,
    filas.runtime.continue_later), which would otherwise wait for the next poll."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._slot_freed = Wakeup()
        self._woken = Wakeup()

    def wake(self) -> None:
        self._woken.set()

    def ack(self, message):
        try:
            return super().ack(message)
        finally:
            self._slot_freed.set()

    def nack(self, message):
        try:
            return super().nack(message)
        finally:
            self._slot_freed.set()

    def __next__(self):
        message = self._next()
        self.broker.last_polls[self.queue_name] = time.monotonic()
        return message

    def _next(self):
        if not self.message_cache and self._full():
            self._slot_freed.clear()
            if self._full():  # an ack between the check and the clear would otherwise be missed
                self._slot_freed.wait(self.timeout / 1000)
            return None  # the consumer thread goes round its loop (shutdown, delayed messages) and asks again
        if not self.message_cache:
            return self._fetch_or_wait()
        return super().__next__()

    def _fetch_or_wait(self):
        """RedisConsumer.__next__'s slow path, its backoff sleep made wakeable."""
        self._woken.clear()  # before the fetch: an enqueue after it is not missed
        try:
            self.message_cache = self.broker.do_fetch(self.queue_name, self.prefetch - self.outstanding_message_count)
        except redis.ConnectionError as error:
            raise ConnectionClosed(error) from None
        if self.message_cache:
            return super().__next__()
        self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout)
        self._woken.wait(backoff_ms / 1000)
        return None

    def _full(self) -> bool:
        return self.outstanding_message_count >= self.prefetch


def _exchange(connection, commands: list[tuple]) -> list:
    connection.send_packed_command(connection.pack_commands(commands))
    return [_reply(connection) for _ in commands]


def _raised(result):
    if isinstance(result, Exception):
        raise result
    return result


def _reply(connection) -> object:
    try:
        return connection.read_response()
    except ResponseError as error:
        return error


def _owner(hook: Callable) -> object:
    return getattr(hook, "__self__", hook)


def _has_hook(middleware: Middleware, name: str) -> bool:
    """A hook of its own (its class's or set on the instance), not the base class's no-op."""
    return name in vars(middleware) or getattr(type(middleware), name, None) is not getattr(Middleware, name, None)
