"""`filas-portal-worker`: the RQ guide's worker command, on Dramatiq.

    filas-portal-worker [--workers N] [--processes P] [--queues a,b] [--verbose] [-- DRAMATIQ_ARGS...]
        runs `dramatiq filas_portal.worker --processes P --threads N [--queues a b] [--verbose]` in its place
        (exec: same pid, so SIGTERM reaches Dramatiq). A "worker" of the RQ guide did one booking at a
        time; here each is a worker thread with its own Chromium, N bookings at once per process.
    filas-portal-worker --status [--json]
        every queue's counts, from the same read as GET /portal/api/status-filas (filas.queue_depth).
    filas-portal-worker --empty-queue Q --yes
        cancel every waiting job of Q (rows closed as `cancelado`) and remove its messages.
    filas-portal-worker --requeue-dead Q --yes
        send every dead letter of Q again (rows waiting again, same job ids, new attempts).

Without --yes the emergency commands change nothing: they print what would happen and exit 2.
"""

import argparse
import json
import os
import sys
from collections import Counter

from filas import contracts
from filas.broker import get_redis
from filas.dead_letters import list_dead_letters, requeue
from filas.queue_depth import NAMESPACE, QueueDepth, QueueOutcomes, queue_snapshot
from filas.queue_emptying import empty_queue, waiting_messages

WORKER_MODULE = "filas_portal.worker"
# The queues whose actors filas_portal.worker binds.
PORTAL_QUEUES = (contracts.SCHEDULE_BOOKING.queue,)
EXIT_USAGE = 2


def main(argv: list[str] | None = None) -> int:
    args, dramatiq_args = _split(sys.argv[1:] if argv is None else argv)
    options = _parser().parse_args(args)
    if options.status:
        return _status(options.json)
    if options.empty_queue:
        return _empty(_known_queue(options.empty_queue), options.yes)
    if options.requeue_dead:
        return _requeue_dead(_known_queue(options.requeue_dead), options.yes)
    _run_worker(options, dramatiq_args)
    return 0  # not reached: exec replaced this process


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    """Arguments after `--` go to dramatiq unchanged (e.g. --worker-shutdown-timeout)."""
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], argv[at + 1:]
    return argv, []


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="filas-portal-worker", description=__doc__.split("\n\n")[0],
        epilog="Extra Dramatiq options go after `--`. Emergency commands need --yes.")
    parser.add_argument("--workers", type=_positive, default=2,
                        help="bookings at once per process: worker threads, each with its Chromium (default 2)")
    parser.add_argument("--processes", type=_positive, default=1, help="worker processes (default 1)")
    parser.add_argument("--queues", type=_queue_list,
                        help=f"comma-separated queues (default: {','.join(PORTAL_QUEUES)})")
    parser.add_argument("--verbose", action="store_true", help="debug logs (Dramatiq's and Filas's)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--status", action="store_true", help="print every queue's counts and exit")
    action.add_argument("--empty-queue", metavar="QUEUE", help="cancel every waiting job of QUEUE (needs --yes)")
    action.add_argument("--requeue-dead", metavar="QUEUE", help="send QUEUE's dead letters again (needs --yes)")
    parser.add_argument("--json", action="store_true", help="with --status: the status-filas JSON")
    parser.add_argument("--yes", action="store_true", help="confirm an emergency command")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _queue_list(text: str) -> list[str]:
    queues = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in queues if name not in PORTAL_QUEUES]
    if not queues or unknown:
        raise argparse.ArgumentTypeError(
            f"the portal worker serves {', '.join(PORTAL_QUEUES)}; not {', '.join(unknown) or 'an empty list'}")
    return queues


def _known_queue(name: str) -> str:
    if name not in contracts.QUEUES:
        print(f"error: unknown queue {name!r}; queues: {', '.join(contracts.QUEUES)}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    return name


def _run_worker(options: argparse.Namespace, dramatiq_args: list[str]) -> None:
    argv = [sys.executable, "-m", "dramatiq", WORKER_MODULE,
            "--processes", str(options.processes), "--threads", str(options.workers)]
    if options.queues:
        argv += ["--queues", *options.queues]
    env = dict(os.environ)
    if options.verbose:
        argv.append("--verbose")
        env["FILAS_LOG_LEVEL"] = "DEBUG"
    argv += dramatiq_args
    sys.stdout.flush()
    os.execve(sys.executable, argv, env)


def _status(as_json: bool) -> int:
    snapshot = queue_snapshot(get_redis(), contracts.QUEUES)
    if as_json:
        print(json.dumps({queue: _status_filas_counts(depth, outcomes)
                          for queue, (depth, outcomes) in snapshot.items()}, indent=2))
        return 0
    print(f"{'queue':<14}{'ready':>8}{'delayed':>9}{'running':>9}{'dead':>7}{'finished':>10}{'failed':>8}"
          f"{'cancelled':>11}  oldest ready")
    for queue, (depth, outcomes) in snapshot.items():
        age = "-" if depth.oldest_ready_age_seconds is None else f"{depth.oldest_ready_age_seconds:.0f} s"
        print(f"{queue:<14}{depth.ready:>8}{depth.delayed:>9}{depth.in_flight:>9}{depth.dead:>7}"
              f"{outcomes.finished:>10}{outcomes.failed:>8}{outcomes.cancelled:>11}  {age}")
    return 0


def _status_filas_counts(depth: QueueDepth, outcomes: QueueOutcomes) -> dict[str, int]:
    """The counts of GET /portal/api/status-filas, computed the same way (services/api/filas_api/queue_views.py)."""
    return {"pendentes": depth.ready + depth.delayed, "em_execucao": depth.in_flight,
            "concluidos": outcomes.finished, "falhados": outcomes.failed, "cancelados": outcomes.cancelled,
            "mortos": depth.dead}


def _empty(queue: str, confirmed: bool) -> int:
    waiting = waiting_messages(queue)
    actors = Counter(message.actor for message in waiting)
    summary = ", ".join(f"{count} {actor}" for actor, count in actors.items()) or "none"
    if not confirmed:
        print(f"would empty queue {queue}: {len(waiting)} waiting messages ({summary}) removed and their jobs "
              "cancelled (rows closed as cancelled, to be booked or reprocessed again). Nothing changed; "
              "add --yes to do it.")
        return EXIT_USAGE
    result = empty_queue(queue)
    outcomes = ", ".join(f"{count} {outcome}" for outcome, count in sorted(result.cancelled.items())) or "none"
    print(f"emptied queue {queue}: {result.removed} messages removed; jobs: {outcomes}")
    return 0


def _requeue_dead(queue: str, confirmed: bool) -> int:
    letters = list_dead_letters(queue, get_redis().zcard(f"{NAMESPACE}:{queue}.XQ") or 1)
    if not confirmed:
        print(f"would requeue {len(letters)} dead letters of queue {queue}: each job sent again under its job id "
              "with new attempts, its row waiting again. Nothing changed; add --yes to do it.")
        return EXIT_USAGE
    outcomes = Counter(str(requeue(queue, letter.redis_message_id)) for letter in letters)
    summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or "none"
    print(f"requeued dead letters of queue {queue}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
