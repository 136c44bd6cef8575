"""Bots against humans (issue 17 item 7), small: 20 bot accounts x 10 connections, 80 humans, 30 units.

Real server, real Redis, the code ``flashsale attack --bots`` runs. With a random_at_open waiting room every
account has one place in a random permutation, so the bots' unit share must fall in the 99% binomial interval
of their account share (conservative: the draw is without replacement). Without a queue each bot account has
ten chances to be among the first answers to a human's one, so its share is far above its account share
(measured 60% for 20% here); the test asserts it is above, which the structure makes near certain.
"""

from __future__ import annotations

import asyncio

from flashsale.bots import binomial_interval, run, table
from flashsale.local import LocalServer


def test_binomial_interval_is_central_and_conservative() -> None:
    assert binomial_interval(30, 0.2) == (1, 12)
    assert binomial_interval(10, 0.0) == (0, 0)
    low, high = binomial_interval(1000, 0.5)
    assert 450 < low < 500 < high < 550


def test_random_at_open_gives_bots_their_account_share_and_no_queue_more(api: LocalServer) -> None:
    assert api.admin_token is not None
    results = asyncio.run(run(api.url, api.admin_token, api.token, bots=20, connections=10, humans=80, stock=30))
    print("\n" + table(results))
    for r in results.values():
        assert r["oversold"] == 0 and r["invariants_ok"] is True and r["sold"] == 30, r
        assert r["bot_units"] + r["human_units"] == 30, r
        assert r["bot_units"] <= 20 and r["human_units"] <= 80, r  # one unit per account
    queued, rushed = results["random_at_open"], results["no_queue"]
    assert queued["pre_count"] == 100, queued  # one place per account, however many connections joined
    assert queued["within_interval"], queued
    assert queued["problems"]["humans"].get("sold-out", 0) == 0, queued  # nobody admitted was sold out
    assert rushed["bot_unit_share"] > rushed["bot_account_share"], rushed
