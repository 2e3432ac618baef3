"""Bookings while the portal worker is SIGKILLed repeatedly: every load is booked exactly once.

A worker killed after the portal accepted the form but before the protocol was recorded leaves a booking on
the portal that the row does not know. Its redelivery (after the lease lapses) searches the portal's bookings
list before submitting, finds it and records it: a load is never booked twice. The kills land wherever the
bookings happen to be, a few seconds apart, while the portal answers slowly enough that they cut bookings
mid-flow."""

import datetime as dt
import signal
from collections import Counter

import pytest
from faultkit import FAST_RECOVERY, FaultSystem, own_system, wait_for
from sqlalchemy import func, select

from filas.db.models import Booking, BookingLog, BookingStatus
from filas.db.session import session_scope

pytestmark = [pytest.mark.chromium, pytest.mark.timeout(600)]

TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()


@pytest.fixture(scope="module")
def system(tmp_path_factory, chromium_path):
    with own_system(tmp_path_factory.mktemp("faults-portal-sigkill"),
                    ["portal-sim", "api", "portal-worker", "scheduler"], FAST_RECOVERY,
                    supervise=["portal-sim", "api", "scheduler"], chromium_path=chromium_path) as running:
        yield running


def booked_rows(system: FaultSystem) -> int:
    with session_scope(system.database_url) as session:
        return session.scalar(select(func.count()).select_from(Booking)
                              .where(Booking.status == BookingStatus.BOOKED))


def rows_by_status(system: FaultSystem) -> Counter:
    with session_scope(system.database_url) as session:
        return Counter(session.scalars(select(Booking.status)).all())


def found_on_the_portal(system: FaultSystem) -> int:
    """Bookings a redelivery found already made on the portal (a kill between submit and record)."""
    with session_scope(system.database_url) as session:
        return session.scalar(select(func.count()).select_from(BookingLog).where(
            BookingLog.etapa == "busca", BookingLog.mensagem.like("%já agendado no portal%")))


def test_bookings_survive_repeated_sigkills_and_each_load_is_booked_once(system, fault_report):
    book_through_sigkills(system, fault_report, bookings=30, kills=4, booked_between_kills=4, delay_ms=120)


@pytest.mark.soak
@pytest.mark.timeout(3000)
def test_a_thousand_bookings_survive_repeated_sigkills_and_each_load_is_booked_once(system, fault_report):
    """Production volume, the portal at full speed: the kills land among a long queue of bookings."""
    system.reset()
    book_through_sigkills(system, fault_report, bookings=1000, kills=10, booked_between_kills=80, delay_ms=0)


def book_through_sigkills(system, fault_report, bookings: int, kills: int, booked_between_kills: int,
                          delay_ms: int) -> None:
    with system.sim("portal") as portal:
        portal.post("/_sim/config", json={"delay_ms": delay_ms}).raise_for_status()
        loads = [f"LOTE-KILL-{n:04d}" for n in range(bookings)]
        for load in loads:
            reply = system.api.post("/portal/api/solicitar-agendamento-async", json={
                "lote_id": load, "data_agendamento": TOMORROW, "hora_agendamento": "09:00",
                "transportadora": "Transportes Exemplo", "tipo_veiculo": "truck"})
            assert reply.status_code == 202, reply.text

        booked = 0
        for kill in range(1, kills + 1):
            booked = wait_for(lambda floor=booked: (n := booked_rows(system)) >= floor + booked_between_kills and n,
                              f"bookings under way before kill {kill}", timeout=240)
            assert booked < bookings, "every booking ended before all the kills: make the portal slower"
            system.stack.kill("portal-worker", signal.SIGKILL)
            system.stack.respawn("portal-worker")
        wait_for(lambda: booked_rows(system) == bookings, "every load booked", timeout=400 + 2 * bookings)
        made = portal.get("/_sim/bookings").json()

    per_load = Counter(booking["lote"] for booking in made)
    fault_report(f"{bookings} bookings, {kills} SIGKILLs of the portal worker; rows: {dict(rows_by_status(system))}; "
                 f"portal bookings: {len(made)}; found already made by a redelivery: {found_on_the_portal(system)}")
    assert {load: times for load, times in per_load.items() if times > 1} == {}, "a load booked twice"
    assert set(per_load) == set(loads)
    with session_scope(system.database_url) as session:
        rows = session.scalars(select(Booking)).all()
        protocols = {row.lote_id: row.protocolo for row in rows}
    assert protocols == {booking["lote"]: booking["protocolo"] for booking in made}
