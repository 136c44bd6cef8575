"""schemathesis against the running API's own OpenAPI schema, with its default checks.

Every generated request, valid (positive mode) and invalid (negative mode), goes over HTTP to a real
`flashsale serve` on a real Redis; the checks require no server error, documented status codes and
headers, and responses that conform to the schema. The example count per operation and mode is bounded.
Every request outside /admin carries a buyer's token of the server under test (the public routes ignore it), so
the buyer routes are fuzzed past their 401, in both modes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from flashsale.inventory.skus import Item, Quota, check_catalogue
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


def refused_by_rule(body: Any) -> bool:
    """A body valid by the schema that a documented rule the schema does not state refuses with a 400 (issue 26),
    so not a positive case: purchase or hold lines naming one SKU twice (JSON Schema cannot require array items
    distinct by one member); a sale with both or neither of `stock` and `items`, or `quotas` without `items`
    (a ``oneOf`` saying so makes openapi-python-client drop the operation); a sale's items and quotas that
    ``check_catalogue`` refuses (repeated names, a quota naming a SKU that is not an item, an item `default`); a
    sale with a waiting room that bounds no admission (neither `per_buyer_limit` >= 1 nor
    `queue.units_per_admission`: one admitted buyer could take the stock)."""
    if not isinstance(body, dict):
        return False
    lines = body.get("lines")
    if isinstance(lines, list):
        skus = [line.get("sku") for line in lines if isinstance(line, dict)]
        return len(skus) != len(set(skus))
    if "sale_id" in body and "name" in body:  # a sale's creation
        stock, items = body.get("stock") is not None, body.get("items") is not None
        if stock == items or (body.get("quotas") is not None and not items):
            return True
        queue = body.get("queue")
        if isinstance(queue, dict) and queue.get("mode", "off") != "off":
            limit = body.get("per_buyer_limit", 0)
            if queue.get("units_per_admission") is None and not (isinstance(limit, int) and limit >= 1):
                return True
    items = body.get("items")
    if isinstance(items, list) and all(isinstance(i, dict) for i in items):
        quotas = [q for q in body.get("quotas") or [] if isinstance(q, dict)]
        catalogue = (
            tuple(Item(str(i.get("sku")), 1) for i in items),
            tuple(Quota(str(q.get("name")), 1, tuple(str(s) for s in q.get("skus") or ())) for q in quotas),
        )
        return check_catalogue(*catalogue) is not None
    return False


def oversized(case: Any) -> bool:
    """A buyer-route body over FLASHSALE_MAX_BODY_BYTES (4 KB) is refused with the documented 413 before it is
    read, valid or not: arrays of `lines` that hypothesis pads with unknown members reach it."""
    if case.path.startswith("/admin") or not isinstance(case.body, dict | list):
        return False
    return len(json.dumps(case.body).encode()) > 3500


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
            if mode is GenerationMode.POSITIVE:
                assume(not refused_by_rule(case.body))
            assume(not oversized(case))
            # The credentials go as the caller's own headers, not into the generated case: schemathesis then knows
            # the auth is real (its ignored-auth check expects a 401 for auth it generated itself).
            auth: dict[str, str] = {}
            if case.path.startswith("/admin") and mode is GenerationMode.POSITIVE:
                auth = {"Authorization": f"Bearer {fuzz_target.admin_token}"}
            elif not case.path.startswith("/admin"):
                auth = buyer
            response = case.call_and_validate(base_url=fuzz_target.url, headers=auth)
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
