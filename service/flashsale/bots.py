"""``flashsale attack --bots N``: bot accounts with many connections against humans with one, twice.

The question: does the waiting room take away the bots' edge? A bot operator runs B accounts and gives each
many connections that fire at the open; a human has one account and one connection. Every account may buy one
unit (``per_buyer_limit`` 1), so the only edge a bot has is arriving first more often. The run measures the
share of units each side took:

- ``no_queue``: the sale opens at T and everyone fires at T. A bot's 20 attempts land among the first answers
  far more often than a human's one, so bots take far more than their share of the accounts.
- ``random_at_open``: everyone joins the pre-queue before T (a bot on every connection, which still gives one
  place per account), polls, and buys when admitted. Places are a random permutation of the accounts, so the
  bots' unit share is their account share up to chance: the run prints the 99% binomial interval of the
  number of units bot accounts would take if every unit went to a uniformly drawn account.

Everything is bounded: a fixed number of attempts per connection and a deadline per run.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from flashsale.attack import AttackError, Minter, _expect
from flashsale.timefmt import format_ms

MODES = ("no_queue", "random_at_open")
PROBLEM = "urn:flashsale:problem:"
BOT_ATTEMPTS = 40
"""Purchase attempts one bot connection makes at most (a bot retries at once on "not open" and on 503)."""
HUMAN_ATTEMPTS = 5
"""Purchase attempts a human makes at most (only "not open" and 503 are retried, after Retry-After)."""
HUMAN_MAX_WAIT_S = 2.0
"""Longest a human waits between polls, whatever Retry-After says: keeps a run bounded in time (the room's
Retry-After reaches 30 s while its admission rate is still unmeasured, just after the open)."""
BOT_POLL_S = 0.25
"""A bot connection polls four times a second: the place does not depend on it, only the load does."""
DEADLINE_S = 90.0
"""A run that has not settled by then is cut off and reported as an error rather than hanging."""


@dataclass
class Tally:
    """What each side of one run got, counted from the answers the clients saw."""

    bought: set[str] = field(default_factory=set)
    statuses: Counter[str] = field(default_factory=Counter)
    problems: Counter[str] = field(default_factory=Counter)
    admitted: set[str] = field(default_factory=set)
    """Accounts whose poll showed them admitted."""

    def note(self, status: int, problem: str | None) -> None:
        self.statuses[str(status)] += 1
        if problem:
            self.problems[problem.removeprefix(PROBLEM)] += 1


def binomial_interval(n: int, p: float, level: float = 0.99) -> tuple[int, int]:
    """Central ``level`` interval of Binomial(n, p): the smallest k with CDF(k) > tail and CDF(k) >= 1 - tail.

    Drawing the winners from the accounts without replacement (what a permutation does) is hypergeometric,
    whose spread is smaller: this interval is conservative for it.
    """
    tail = (1 - level) / 2
    cdf, low, high = 0.0, None, n
    for k in range(n + 1):
        cdf += math.comb(n, k) * p**k * (1 - p) ** (n - k)
        if low is None and cdf > tail:
            low = k
        if cdf >= 1 - tail:
            high = k
            break
    return (low or 0), high


async def _send(
    client: aiohttp.ClientSession, method: str, path: str, tally: Tally, **kwargs: Any
) -> tuple[int, dict[str, Any], float]:
    """One request: its status, JSON body (empty if none) and Retry-After; a dropped connection is status 0."""
    try:
        async with client.request(method, path, **kwargs) as response:
            body: dict[str, Any] = {}
            if response.content_type.endswith("json"):
                body = await response.json(content_type=None)
            else:
                await response.read()
            status, retry = response.status, float(response.headers.get("Retry-After", "1"))
    except aiohttp.ClientError:
        status, body, retry = 0, {}, 1.0
    tally.note(status, body.get("type") if status >= 400 else None)
    return status, body, retry


async def _buy(
    client: aiohttp.ClientSession,
    sale: str,
    buyer: str,
    tally: Tally,
    attempts: int,
    pause_s: float | None,
    auth: dict[str, str],
    token: str | None = None,
) -> bool:
    """Try to buy one unit; True once this account's purchase is settled (bought, sold out, limit reached).

    A 503 is retried with the same Idempotency-Key (outcome unknown); "not open" with a new one, since its
    answer is stored under the first key. ``pause_s`` None: retry at once (a bot); else wait Retry-After up to
    that (a human).
    """
    key = str(uuid.uuid4())
    headers = {"Idempotency-Key": key, **auth}
    if token is not None:
        headers["Admission-Token"] = token
    for _ in range(attempts):
        status, body, retry = await _send(
            client, "POST", f"/sales/{sale}/purchases", tally, json={"quantity": 1}, headers=headers
        )
        kind = str(body.get("type", "")).removeprefix(PROBLEM)
        if status == 201:
            tally.bought.add(buyer)
            return True
        if kind in ("sold-out", "limit-reached", "sale-closed", "admission-used"):
            return True
        if kind == "sale-not-open":
            headers = {**headers, "Idempotency-Key": str(uuid.uuid4())}
        elif status not in (0, 503):
            return True  # anything else will not change by asking again
        if pause_s is not None:
            await asyncio.sleep(min(retry, pause_s))
        else:
            await asyncio.sleep(0)
    return False


async def _create(client: aiohttp.ClientSession, url: str, auth: dict[str, str], body: dict[str, Any]) -> None:
    async with client.post("/admin/sales", json=body, headers=auth) as created:
        await created.read()
        _expect(created.status, 201, "POST /admin/sales", url)


async def _run_mode(
    url: str,
    admin_token: str,
    mint: Minter,
    mode: str,
    bots: int,
    connections: int,
    humans: int,
    stock: int,
    lead_s: float,
) -> dict[str, Any]:
    sale = f"bots-{mode.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
    auth = {"Authorization": f"Bearer {admin_token}"}
    sockets = bots * connections + humans
    connector = aiohttp.TCPConnector(limit=sockets + 8)
    bot_ids = [f"bot-{i}" for i in range(bots)]
    human_ids = [f"human-{i}" for i in range(humans)]
    # One token per account, whatever its connections: the identity provider signs accounts, not sockets.
    signed = {b: {"Authorization": f"Bearer {mint(b)}"} for b in bot_ids + human_ids}
    sides = {"bots": Tally(), "humans": Tally()}
    async with aiohttp.ClientSession(url, connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as client:
        opens_ms = int((time.time() + lead_s) * 1000)
        body: dict[str, Any] = {
            "sale_id": sale,
            "name": f"bots {mode}",
            "stock": stock,
            "per_buyer_limit": 1,
            "opens_at": format_ms(opens_ms),
        }
        if mode == "random_at_open":
            body["queue"] = {
                "mode": "random_at_open",
                "admit_rate": max(stock, 10),
                "max_active": stock,
                "token_ttl_s": 60,
            }
        await _create(client, url, auth, body)
        await asyncio.gather(*(_touch(client) for _ in range(sockets)))
        done: set[str] = set()
        """Bot accounts one of whose connections settled: the operator stops its other connections."""

        async def bot_rush(buyer: str) -> None:
            await _sleep_until(opens_ms)
            if buyer not in done and await _buy(client, sale, buyer, sides["bots"], BOT_ATTEMPTS, None, signed[buyer]):
                done.add(buyer)

        async def human_rush(buyer: str) -> None:
            await _sleep_until(opens_ms)
            await _buy(client, sale, buyer, sides["humans"], HUMAN_ATTEMPTS, HUMAN_MAX_WAIT_S, signed[buyer])

        async def join(buyer: str, tally: Tally) -> str | None:
            """One connection joins the pre-queue; every connection of one account gets the same place."""
            status, _, _ = await _send(
                client,
                "POST",
                f"/sales/{sale}/queue",
                tally,
                headers={"Idempotency-Key": str(uuid.uuid4()), **signed[buyer]},
            )
            return locations.get(buyer) if status in (200, 201) else None

        locations: dict[str, str] = {}

        async def queued(buyer: str, location: str | None, tally: Tally, bot: bool) -> None:
            """Poll the place until admitted, then buy with the admission token; stop when the room ends."""
            if location is None:
                return
            for _ in range(400):
                if buyer in done:
                    return
                status, place, retry = await _send(client, "GET", location, tally, headers=signed[buyer])
                state = place.get("state")
                if status == 200 and state == "admitted":
                    tally.admitted.add(buyer)
                    attempts, pause = (BOT_ATTEMPTS, None) if bot else (HUMAN_ATTEMPTS, HUMAN_MAX_WAIT_S)
                    if await _buy(client, sale, buyer, tally, attempts, pause, signed[buyer], place["admission_token"]):
                        done.add(buyer)
                    return
                # Waitlisted: sold out, and nothing this run does puts units back (no holds): the buyer is done.
                if status == 200 and state in ("sold_out", "waitlisted", "closed", "expired"):
                    return
                await asyncio.sleep(BOT_POLL_S if bot else min(retry, HUMAN_MAX_WAIT_S))

        if mode == "no_queue":
            work = [bot_rush(b) for b in bot_ids for _ in range(connections)] + [human_rush(h) for h in human_ids]
        else:
            members = [(b, sides["bots"], True) for b in bot_ids for _ in range(connections)]
            members += [(h, sides["humans"], False) for h in human_ids]
            random.shuffle(members)
            await asyncio.gather(
                *(
                    _first_join(client, sale, b, locations, signed[b])
                    for b in random.sample(bot_ids + human_ids, bots + humans)
                )
            )
            got = await asyncio.gather(*(join(b, t) for b, t, _ in members))
            if time.time() * 1000 >= opens_ms:
                raise AttackError(f"the joins took longer than the {lead_s:.1f} s before the open: use a longer lead")
            work = [queued(b, loc, t, bot) for (b, t, bot), loc in zip(members, got, strict=True)]
        random.shuffle(work)
        try:
            await asyncio.wait_for(asyncio.gather(*work), DEADLINE_S)
        except TimeoutError as exc:
            raise AttackError(f"the {mode} run did not settle within {DEADLINE_S:.0f} s") from exc
        async with client.get(f"/admin/sales/{sale}/audit", headers=auth) as r:
            _expect(r.status, 200, f"GET /admin/sales/{sale}/audit", url)
            audit = await r.json()
        pre_count = None
        if mode == "random_at_open":
            async with client.get(f"/sales/{sale}/queue") as r:
                pre_count = (await r.json()).get("pre_count")
    return _figures(mode, sale, bots, connections, humans, stock, sides, audit, pre_count)


def _figures(
    mode: str,
    sale: str,
    bots: int,
    connections: int,
    humans: int,
    stock: int,
    sides: dict[str, Tally],
    audit: dict[str, Any],
    pre_count: int | None,
) -> dict[str, Any]:
    bot_units, human_units = len(sides["bots"].bought), len(sides["humans"].bought)
    units = bot_units + human_units
    account_share = bots / (bots + humans)
    low, high = binomial_interval(units, account_share)
    return {
        "mode": mode,
        "sale_id": sale,
        "bots": bots,
        "connections_per_bot": connections,
        "humans": humans,
        "stock": stock,
        "sold": audit["sold"],
        "oversold": audit["oversold"],
        "invariants_ok": audit["ok"],
        "pre_count": pre_count,
        "bot_units": bot_units,
        "human_units": human_units,
        "bot_account_share": round(account_share, 4),
        "bot_unit_share": round(bot_units / units, 4) if units else None,
        "human_unit_share": round(human_units / units, 4) if units else None,
        "binomial_99_units": [low, high],
        "binomial_99_share": [round(low / units, 4), round(high / units, 4)] if units else None,
        "within_interval": low <= bot_units <= high,
        "admitted": {side: len(t.admitted) for side, t in sides.items()},
        "statuses": {side: dict(sorted(t.statuses.items())) for side, t in sides.items()},
        "problems": {side: dict(sorted(t.problems.items())) for side, t in sides.items()},
    }


async def _first_join(
    client: aiohttp.ClientSession, sale: str, buyer: str, locations: dict[str, str], auth: dict[str, str]
) -> None:
    """An account's first join: it makes the place and gives the Location every later join of it repeats."""
    async with client.post(f"/sales/{sale}/queue", headers={"Idempotency-Key": str(uuid.uuid4()), **auth}) as r:
        await r.read()
        if r.status in (200, 201):
            locations[buyer] = r.headers["Location"]


async def _sleep_until(epoch_ms: int) -> None:
    """Wait for the sale's open by the wall clock the server also reads (same machine: loopback only)."""
    await asyncio.sleep(max(0.0, epoch_ms / 1000 - time.time()))


async def _touch(client: aiohttp.ClientSession) -> None:
    async with client.get("/health/live") as response:
        await response.read()


async def run(
    url: str,
    admin_token: str,
    mint: Minter,
    bots: int,
    connections: int,
    humans: int,
    stock: int,
    lead_s: float = 3.0,
) -> dict[str, Any]:
    """Both modes against fresh sales of the same stock; AttackError in one line if the target misbehaves."""
    try:
        return {
            mode: await _run_mode(url, admin_token, mint, mode, bots, connections, humans, stock, lead_s)
            for mode in MODES
        }
    except aiohttp.ClientConnectorError as exc:
        raise AttackError(f"cannot connect to {url}: {exc.os_error.strerror or exc.os_error}") from exc
    except aiohttp.ClientError as exc:
        raise AttackError(f"talking to {url} failed: {type(exc).__name__}: {exc}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise AttackError(f"{url} answered with an unexpected body ({type(exc).__name__}: {exc})") from exc


def table(results: dict[str, Any]) -> str:
    """mode | bot accounts share | units bots took share | units humans took share, plus the interval."""
    lines = [
        "| mode | bot accounts share | units bots took share | units humans took share "
        "| 99% binomial interval of the bots' unit share | units sold | oversold |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, r in results.items():
        interval = r["binomial_99_share"]
        lines.append(
            f"| {mode} | {r['bot_account_share']:.1%} ({r['bots']}/{r['bots'] + r['humans']}) "
            f"| {_pct(r['bot_unit_share'])} ({r['bot_units']}) | {_pct(r['human_unit_share'])} ({r['human_units']}) "
            f"| {_pct(interval[0]) if interval else '-'} - {_pct(interval[1]) if interval else '-'} "
            f"| {r['sold']}/{r['stock']} | {r['oversold']} |"
        )
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
