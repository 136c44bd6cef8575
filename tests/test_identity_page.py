"""The buyer page signs in through a real OpenID provider in a real Chromium: login form, consent, code + PKCE.

The server runs in production mode trusting the provider (tests/idp); the page is its public client. The browser
goes through the provider's own login form (devInteractions: any name), comes back to /wait/signed-in, trades the
code for an access token, joins the sale's waiting room, is admitted and buys. Every request the browser made is
read back from Chromium's performance log: the token never travels in a URL, and the server's log never holds it.
Screenshots go to load/reports/identity-page-<step>.png (artefacts, ignored by git).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.servers import RedisProcess
from tests.test_identity import Stack
from tests.test_queue_page import CHROMEDRIVER, CHROMIUM, REPORTS, STATE_RECORDER, WAIT_S, Page, _browser_missing

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def logged_driver() -> Iterator[Any]:
    """Headless Chromium with its performance log on (every request's URL), one per module."""
    import os

    missing = _browser_missing()
    if missing is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and the browser test cannot run: {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=700,700"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": STATE_RECORDER})
    yield browser
    browser.quit()


def _requested_urls(driver: Any) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _shot(driver: Any, name: str) -> None:
    REPORTS.mkdir(parents=True, exist_ok=True)
    path = REPORTS / f"identity-page-{name}.png"
    assert driver.save_screenshot(str(path)), path
    print(f"screenshot: {path}")


def test_sign_in_through_the_provider_join_and_buy(redis_server: RedisProcess, logged_driver: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    stack = Stack(redis_server)
    stack.api.env["FLASHSALE_OIDC_PAGE_CLIENT_ID"] = stack.idp.public_client_id
    stack.start()
    driver = logged_driver
    try:
        started = time.monotonic()
        sale = stack.new_sale(stock=1, limit=1, queue={"mode": "fifo", "admit_rate": 5, "max_active": 1})
        driver.get(f"{stack.api.url}/sales/{sale}/wait")
        wait = WebDriverWait(driver, WAIT_S, poll_frequency=0.1)
        login = wait.until(lambda d: d.find_elements(By.NAME, "login"))[0]
        assert driver.current_url.startswith(stack.idp.issuer), driver.current_url
        _shot(driver, "login")
        login.send_keys("zoe")
        driver.find_element(By.NAME, "password").send_keys("any")
        login.submit()
        consent = wait.until(
            lambda d: d.current_url.startswith(stack.api.url) or d.find_elements(By.TAG_NAME, "button")
        )
        if consent is not True:
            _shot(driver, "consent")
            consent[0].click()
        wait.until(lambda d: d.current_url.startswith(f"{stack.api.url}/sales/{sale}/wait"))
        page = Page.__new__(Page)
        page.driver, page.handle = driver, driver.current_window_handle
        page.wait_for("admitted")
        assert "zoe" in page.text("who")
        _shot(driver, "admitted")
        driver.find_element(By.ID, "buy").click()
        page.wait_for("bought")
        _shot(driver, "bought")
        token = driver.execute_script("return sessionStorage.getItem('flashsale-token')")
        assert token and token.count(".") == 2
        urls = _requested_urls(driver)
        assert any("/token" in u for u in urls) and any("/wait/signed-in?code=" in u for u in urls), urls
        assert not [u for u in urls if token in u or "access_token" in u], "a token travelled in a URL"
        assert driver.current_url == f"{stack.api.url}/sales/{sale}/wait"  # no code left in the address bar
        log = stack.log.read_text()
        assert token not in log and token.split(".")[2] not in log
        audit = stack.audit(sale)
        assert (audit["sold"], audit["ok"]) == (1, True)
        orders = stack.http.get(f"/sales/{sale}/orders", headers={"Authorization": f"Bearer {token}"}).json()
        assert [o["buyer_id"] for o in orders["orders"]] == ["zoe"]
        print(f"signed in, admitted and bought in {time.monotonic() - started:.2f} s; {len(urls)} requests")
    finally:
        stack.stop()
