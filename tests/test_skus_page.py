"""The buyer's waiting page with a size picker (issue 26), in a real headless Chromium: an admitted buyer of a sale
of SKUs picks among the sizes still on sale and buys one, all through the page's own JavaScript."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import Api
from tests.test_queue_page import Page, driver  # noqa: F401  (the module's browser fixture)

pytestmark = pytest.mark.slow


def options(page: Page) -> list[tuple[str, str, bool]]:
    """(value, text, enabled) of the picker's options, in order."""
    from selenium.webdriver.common.by import By

    page.focus()
    return [
        (str(o.get_attribute("value")), str(o.text), bool(o.is_enabled()))
        for o in page.driver.find_elements(By.CSS_SELECTOR, "#sku option")
    ]


def picked(page: Page) -> str:
    page.focus()
    return str(page.driver.execute_script("return document.getElementById('sku').value"))


def test_an_admitted_buyer_picks_a_size_still_on_sale(client: Api, driver: Any) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    queue = {"mode": "fifo", "admit_rate": 20, "max_active": 5, "token_ttl_s": 60}
    items = [{"sku": "us-9", "stock": 0}, {"sku": "us-10", "stock": 1}, {"sku": "us-11", "stock": 2}]
    sale = f"pg-{uuid.uuid4().hex[:10]}"
    r = client.http.post(
        "/admin/sales",
        json={
            "sale_id": sale,
            "name": "sizes",
            "items": items,
            "queue": queue,
        },
        headers=client.auth,
    )
    assert r.status_code == 201, r.text
    ann = Page(driver, f"{client.url}/sales/{sale}/wait?buyer=ann&sku=us-10")
    ann.wait_for("admitted", also=lambda p: bool(options(p)))
    assert options(ann) == [("us-9", "us-9 (sold out)", False), ("us-10", "us-10", True), ("us-11", "us-11", True)]
    assert picked(ann) == "us-10"  # the size the link named
    ann.screenshot("size-picker")
    driver.find_element(By.ID, "buy").click()
    try:
        ann.wait_for("bought")
    except AssertionError:
        raise AssertionError(ann.text("result")) from None
    audit = client.audit(sale)
    assert audit["ok"] is True and {i["name"]: i["sold"] for i in audit["items"]} == {"us-9": 0, "us-10": 1, "us-11": 0}

    ben = Page(driver, f"{client.url}/sales/{sale}/wait?buyer=ben&sku=us-10")
    ben.wait_for("admitted", also=lambda p: [o[2] for o in options(p)] == [False, False, True])
    assert picked(ben) == "us-11"  # the size the link named sold out: the first still on sale
