"""The buyer's waiting page with a size picker (issue 26), in a real headless Chromium: an admitted buyer of a sale
of SKUs picks among the sizes still on sale and buys one, all through the page's own JavaScript."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import Api
from tests.test_queue_page import STATE_RECORDER, WAIT_S, Page, driver  # noqa: F401  (the module's browser fixture)

pytestmark = pytest.mark.slow


class SizePage(Page):
    """A buyer's waiting page opened from a shop's link naming a size (``?sku=``), signed in as ``buyer`` with the
    token in the fragment, as ``Page`` is."""

    def __init__(self, driver: Any, client: Api, sale: str, buyer: str, sku: str) -> None:  # noqa: F811
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        driver.switch_to.new_window("window")
        self.handle = driver.current_window_handle
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": STATE_RECORDER})
        token = client.server.token(buyer)
        driver.get(f"{client.url}/sales/{sale}/wait?sku={sku}#access_token={token}")
        WebDriverWait(driver, WAIT_S).until(lambda d: "access_token" not in d.current_url)
        assert token not in driver.current_url


def options(page: Page) -> list[tuple[str, str, bool]]:
    """(value, text, enabled) of the picker's options, in order: read in one script, because the page rebuilds
    the options at every poll (an element found in one call may be gone by the next)."""
    page.focus()
    read = page.driver.execute_script(
        "return Array.from(document.querySelectorAll('#sku option'), o => [o.value, o.textContent, !o.disabled])"
    )
    return [(str(value), str(text), bool(enabled)) for value, text, enabled in read]


def picked(page: Page) -> str:
    page.focus()
    return str(page.driver.execute_script("return document.getElementById('sku').value"))


def test_an_admitted_buyer_picks_a_size_still_on_sale(client: Api, driver: Any) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    queue = {"mode": "fifo", "admit_rate": 20, "max_active": 5, "token_ttl_s": 60, "units_per_admission": 1}
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
    ann = SizePage(driver, client, sale, "ann", "us-10")
    ann.wait_for("admitted", also=lambda p: bool(options(p)))
    assert options(ann) == [("us-9", "us-9 (sold out)", False), ("us-10", "us-10", True), ("us-11", "us-11", True)]
    assert picked(ann) == "us-10"  # the size the link named (also the first on sale: see the test below)
    ann.screenshot("size-picker")
    driver.find_element(By.ID, "buy").click()
    try:
        ann.wait_for("bought")
    except AssertionError:
        raise AssertionError(ann.text("result")) from None
    audit = client.audit(sale)
    assert audit["ok"] is True and {i["name"]: i["sold"] for i in audit["items"]} == {"us-9": 0, "us-10": 1, "us-11": 0}

    ben = SizePage(driver, client, sale, "ben", "us-10")
    ben.wait_for("admitted", also=lambda p: [o[2] for o in options(p)] == [False, False, True])
    assert picked(ben) == "us-11"  # the size the link named sold out: the first still on sale


def test_the_picker_starts_on_the_size_the_link_named(client: Api, driver: Any) -> None:  # noqa: F811
    """A link naming a size on sale that is not the first one: the picker starts on it (the first test's links
    name the first size on sale, or a sold-out one, so they pass whether or not the page read the link)."""
    queue = {"mode": "fifo", "admit_rate": 20, "max_active": 5, "token_ttl_s": 60, "units_per_admission": 1}
    items = [{"sku": "us-9", "stock": 1}, {"sku": "us-10", "stock": 1}, {"sku": "us-11", "stock": 1}]
    sale = f"pg-{uuid.uuid4().hex[:10]}"
    body = {"sale_id": sale, "name": "sizes", "items": items, "queue": queue}
    assert client.http.post("/admin/sales", json=body, headers=client.auth).status_code == 201
    cy = SizePage(driver, client, sale, "cy", "us-11")
    cy.wait_for("admitted", also=lambda p: len(options(p)) == 3)
    assert picked(cy) == "us-11", driver.current_url
