"""A portal worker frozen mid-booking (SIGSTOP: CPU throttling, a VM paused, a long GC stop) for longer than
the broker's heartbeat timeout, then thawed, its lease on the booking still valid.

Meanwhile dead-worker recovery (run by any broker client: here the API, enqueuing another booking) gives the
frozen worker's message back to the queue, and the thawed worker fetches it again: a second delivery of a
booking whose first delivery is alive and holds the row's lease. The design says it must be postponed until
the lease would lapse, never run beside the first one, so that the load is booked once."""

import datetime as dt
import signal
import time

import pytest
from faultkit import FaultSystem, own_system, wait_for
from sqlalchemy import select

from filas.db.models import Booking
from filas.db.session import session_scope

pytestmark = [pytest.mark.chromium, pytest.mark.timeout(300)]

HEARTBEAT_TIMEOUT_MS = 4000
SETTINGS = {
    "FILAS_BROKER_HEARTBEAT_TIMEOUT_MS": str(HEARTBEAT_TIMEOUT_MS),
    "FILAS_BROKER_MAINTENANCE_CHANCE": "1000000",  # the API's next enqueue runs dead-worker recovery
    # the default lease (30 s) outlives the freeze: the first delivery never loses it
}
TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()


@pytest.fixture(scope="module")
def system(tmp_path_factory, chromium_path):
    with own_system(tmp_path_factory.mktemp("faults-worker-freeze"), ["portal-sim", "api", "portal-worker"],
                    SETTINGS, supervise=["portal-sim", "api"], chromium_path=chromium_path) as running:
        yield running


def request_booking(system: FaultSystem, lote_id: str) -> dict:
    reply = system.api.post("/portal/api/solicitar-agendamento-async", json={
        "lote_id": lote_id, "data_agendamento": TOMORROW, "hora_agendamento": "10:00",
        "transportadora": "Transportes Exemplo", "tipo_veiculo": "truck"})
    assert reply.status_code == 202, reply.text
    return reply.json()


def row(system: FaultSystem, booking_id: int) -> Booking:
    with session_scope(system.database_url) as session:
        return session.scalars(select(Booking).where(Booking.id == booking_id)).one()


def test_a_frozen_worker_does_not_run_its_own_redelivered_booking_beside_the_first(system, fault_report):
    with system.sim("portal") as portal:
        portal.post("/_sim/reset").raise_for_status()
        portal.post("/_sim/config", json={"delay_ms": 1000}).raise_for_status()  # every page takes a second
        first = request_booking(system, "LOTE-FREEZE")
        wait_for(lambda: row(system, first["integracao_id"]).job_status == "started", "the booking running")

        with system.redis.client() as client:
            worker = system.stack.processes["portal-worker"]
            worker.signal_group(signal.SIGSTOP)
            try:
                [acks] = wait_for(lambda: list(client.scan_iter("dramatiq:__acks__.*.atacadao")),
                                  "the frozen worker's ack set")
                worker_id = acks.split(".")[1]
                wait_for(lambda: time.time() * 1000 - client.zscore("dramatiq:__heartbeats__", worker_id)
                         > HEARTBEAT_TIMEOUT_MS + 500, "the frozen worker's heartbeat getting old")
                # Any broker client's next command runs dead-worker recovery: here, another booking arrives.
                other = request_booking(system, "LOTE-OUTRO")
                wait_for(lambda: not client.exists(acks), "the frozen worker's messages given back")
            finally:
                worker.signal_group(signal.SIGCONT)

        for booking in (first, other):
            wait_for(lambda booking=booking: row(system, booking["integracao_id"]).job_status
                     in ("finished", "failed"), f"{booking['job_id']} ending")
        made = [booking["lote"] for booking in portal.get("/_sim/bookings").json()]
    ended = row(system, first["integracao_id"])
    log = system.log("portal-worker")
    fault_report(f"LOTE-FREEZE: row {ended.job_status}, attempts {ended.job_attempts}, portal bookings "
                 f"{made.count('LOTE-FREEZE')}; deliveries that searched the portal for it: "
                 f"{log.count('lote LOTE-FREEZE já tem agendamento')}; postponed copies: "
                 f"{log.count('another delivery holds the lease')}")

    assert made.count("LOTE-FREEZE") == 1, made
    assert made.count("LOTE-OUTRO") == 1, made
    assert (ended.job_status, ended.job_attempts) == ("finished", 1), "a second delivery claimed the held row"
