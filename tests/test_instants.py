"""Issue 18: every instant the service writes has one format, RFC 3339 UTC with milliseconds and Z."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone

from flashsale.local import LocalServer
from flashsale.timefmt import format_instant, format_ms
from tests.conftest import Api

INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_the_formatter() -> None:
    assert format_ms(1_796_615_068_069) == "2026-12-07T03:44:28.069Z"
    assert format_ms(0) == "1970-01-01T00:00:00.000Z"
    assert format_instant(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00.000Z"
    plus_one = datetime(2026, 12, 7, 3, 44, 28, 69_999, tzinfo=UTC).astimezone(timezone(timedelta(hours=1)))
    assert format_instant(plus_one) == "2026-12-07T03:44:28.069Z"


def test_sale_order_hold_and_refusal_times_share_one_format(api: LocalServer) -> None:
    client = Api(api)
    try:
        opens = datetime.now(UTC) - timedelta(minutes=1)
        sale = client.new_sale(stock=5, opens_at=opens.isoformat(), closes_at=(opens + timedelta(days=1)).isoformat())
        view = client.sale(sale)
        order = client.buy(sale).json()
        holder = client.as_buyer("holder")
        hold = client.http.post(
            f"/sales/{sale}/holds",
            json={"quantity": 1},
            headers={"Idempotency-Key": str(uuid.uuid4()), **holder},
        ).json()
        read = client.http.get(f"/sales/{sale}/holds/{hold['hold_id']}", headers=holder).json()
        confirmed = client.http.post(f"/sales/{sale}/holds/{hold['hold_id']}/confirm", headers=holder).json()
        cancelled = client.http.post(
            f"/admin/sales/{sale}/orders/{order['order_id']}/cancel", json={"restock": True}, headers=client.auth
        ).json()
        later = client.new_sale(stock=1, opens_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
        not_open = client.buy(later).json()
    finally:
        client.http.close()
    times = {
        "sale.opens_at": view["opens_at"],
        "sale.closes_at": view["closes_at"],
        "order.created_at": order["created_at"],
        "hold.expires_at": hold["expires_at"],
        "hold read.expires_at": read["expires_at"],
        "confirmed order.created_at": confirmed["created_at"],
        "cancellation.cancelled_at": cancelled["cancelled_at"],
        "sale-not-open problem.opens_at": not_open["opens_at"],
    }
    assert {name: t for name, t in times.items() if not INSTANT.match(str(t))} == {}
    assert view["opens_at"] == format_instant(opens)
