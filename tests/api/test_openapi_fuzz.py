"""Every operation of /openapi.json, fuzzed by schemathesis (valid and invalid input generated from the
document itself) against the real app on the real Redis and PostgreSQL: no answer may be a 5xx.

Bounded and repeatable: at most MAX_EXAMPLES generated cases per operation and phase, derandomized (the
same cases on every run), no Hypothesis example database, no deadline (timing is not what is tested).

The document is read at collection time (schemathesis makes one test per operation from it) from an app
built by create_app; it depends on no setting and needs neither Redis nor PostgreSQL. Each case is then
sent to the app of the `client` fixture, which runs on the test run's Redis and PostgreSQL.
(schemathesis.pytest.from_fixture would load it from the fixture instead, but schemathesis 4.32 reaches
into a pytest attribute that pytest 9.2 no longer has.)"""

import hypothesis
import schemathesis
from schemathesis.checks import not_a_server_error

from filas.settings import Settings
from filas_api.app import create_app

TOKEN = "test-token"  # accepted by the `client` fixture
WEBHOOK_TOKEN = "webhook-secret"  # its FILAS_WEBHOOK_TOKEN
MAX_EXAMPLES = 25
WEBHOOK = "/api/webhooks/evolution"

schema = schemathesis.openapi.from_wsgi("/openapi.json", create_app(Settings()))


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_no_operation_answers_a_server_error(case, client):
    if case.path == WEBHOOK:
        # The gateway's secret: with a generated one every event would stop at the 404 before being read.
        case.query = {**(case.query or {}), "token": WEBHOOK_TOKEN}
    case.call_and_validate(app=client.application, headers={"Authorization": f"Bearer {TOKEN}"},
                           checks=[not_a_server_error])
