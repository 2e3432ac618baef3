"""Domain rows as the API leaves them when it accepts work, for tests that enqueue by name."""

import datetime as dt

import dramatiq

from filas import contracts, lifecycle
from filas.db.models import Booking
from filas.db.session import session_scope


def accepted_booking(lote_id: str, database_url: str | None = None, **row_columns) -> tuple[int, dramatiq.Message]:
    """A booking row for tomorrow, committed with its job queued (as the API commits it before enqueuing);
    returns its id and the message for its job, not sent."""
    with session_scope(database_url) as session:
        row = Booking(lote_id=lote_id, data_agendamento=dt.date.today() + dt.timedelta(days=1),
                      hora_agendamento="09:00", transportadora="Transportes Exemplo", tipo_veiculo="truck")
        session.add(row)
        session.flush()
        message = contracts.SCHEDULE_BOOKING.message(booking_id=row.id)
        lifecycle.queue(row, message.message_id)
        for name, value in row_columns.items():
            setattr(row, name, value)
        return row.id, message
