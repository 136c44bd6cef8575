"""schemathesis against the running API's own OpenAPI schema, with its default checks.

Every generated request, valid (positive mode) and invalid (negative mode), goes over HTTP to a real
`flashsale serve` on a real Redis; the checks require no server error, documented status codes and
headers, and responses that conform to the schema. The example count per operation and mode is bounded.
Every request outside /admin carries a buyer's token of the server under test (the public routes ignore it), so
the buyer routes are fuzzed past their 401, in both modes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from flashsale.local import LocalServer
from tests.conftest import Api, start_api
from tests.export_tools import new_database
from tests.postgres import PostgresProcess
from tests.servers import RedisProcess

EXAMPLES = 25
BUYER_ROUTES = {
    "POST /sales/{sale_id}/purchases",
    "POST /demo/sales/{sale_id}/purchases",
    "POST /sales/{sale_id}/holds",
    "GET /sales/{sale_id}/holds/{hold_id}",
    "DELETE /sales/{sale_id}/holds/{hold_id}",
    "POST /sales/{sale_id}/holds/{hold_id}/confirm",
    "GET /sales/{sale_id}/orders",
    "GET /sales/{sale_id}/orders/{order_id}",
    "POST /sales/{sale_id}/queue",
    "GET /sales/{sale_id}/queue/{ticket}",
}


@pytest.fixture(scope="module")
def fuzz_target(redis_server: RedisProcess, postgres: PostgresProcess) -> Iterator[LocalServer]:
    """A server with a migrated PostgreSQL too: without one the reconcile routes answer their documented 503
    (database-not-configured), which schemathesis counts as a server error."""
    database = new_database(postgres.url)
    env = {**os.environ, "FLASHSALE_DATABASE_URL": database}
    subprocess.run(
        [sys.executable, "-m", "flashsale", "db", "upgrade"], env=env, check=True, timeout=120, capture_output=True
    )
    server = start_api(redis_server.url, FLASHSALE_DATABASE_URL=database)
    client = Api(server)
    for sale_id in ("demo", "fuzz"):
        client.http.post(
            "/admin/sales", json={"sale_id": sale_id, "name": sale_id, "stock": 1_000_000}, headers=client.auth
        )
    client.http.close()
    yield server
    server.stop()


def _operations(url: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{url}/schema/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_api_conforms_to_its_schema(fuzz_target: LocalServer, mode: GenerationMode) -> None:
    operations = _operations(fuzz_target.url)
    assert len(operations) >= 10
    buyer = fuzz_target.buyer("fuzz-buyer")
    calls: dict[str, int] = {}
    no_negative: list[str] = []
    signed_in: dict[str, set[int]] = {}

    for operation in operations:
        made: list[int] = []

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            if case.path.startswith("/admin") and mode is GenerationMode.POSITIVE:
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {fuzz_target.admin_token}"}
            elif not case.path.startswith("/admin"):
                case.headers = {**(case.headers or {}), **buyer}
            response = case.call_and_validate(base_url=fuzz_target.url)
            made.append(response.status_code)  # noqa: B023  (check runs inside this iteration, before `made` is rebound)

        try:
            check()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, operation.label  # nothing invalid to send: no parameters
            no_negative.append(operation.label)
        calls[operation.label] = len(made)
        if operation.label in BUYER_ROUTES:
            signed_in[operation.label] = set(made)
    assert sum(calls.values()) >= len(operations) - len(no_negative)
    assert set(signed_in) == BUYER_ROUTES
    if mode is GenerationMode.POSITIVE:  # the token got the buyer routes past authentication
        assert all(statuses - {401} for statuses in signed_in.values()), signed_in
    print(
        f"\n{mode.value}: {sum(calls.values())} calls over {len(calls)} operations; "
        f"no invalid input possible for: {no_negative}"
    )
