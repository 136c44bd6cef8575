"""The waiting room at the engine level (real redis-server): the fair open at 100,000 registrants through the
real join script, admission with half of the admitted buyers abandoning, and Redis killed during admission."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from scipy import stats

from flashsale.inventory import Inventory, Outcome
from flashsale.inventory.engine import QueueConfig
from flashsale.inventory.keys import queue_keys, sale_keys
from flashsale.queue import Signer
from flashsale.queue.controller import step
from flashsale.queue.fair import new_room
from flashsale.queue.view import QueueBoard
from tests.conftest import Api, start_api
from tests.servers import RedisProcess
from tests.test_holds_engine import audited, run
from tests.test_queue_fair import _audit_permute

N = 100_000


def digest(buyer: str) -> bytes:
    """Any 16 bytes per buyer will do at the engine level (the API keys them per room, queue/joinlog.py)."""
    return hashlib.sha256(buyer.encode()).digest()[:16]


async def queued(inv: Inventory, stock: int, queue: QueueConfig, opens_ms: int | None = None) -> str:
    sale = f"q-{uuid.uuid4().hex[:12]}"
    assert await inv.create_sale(sale, "queue test", stock, 1, opens_ms, queue=queue)
    return sale


@pytest.mark.slow
def test_fair_open_at_100000_registrants(redis_server: RedisProcess) -> None:
    async def body(inv: Inventory) -> dict[str, Any]:
        now_ms = int(time.time() * 1000)
        signer = Signer(b"d" * 32)
        config = new_room(signer, QueueConfig("random_at_open", 100, 100, 60, max_places=N))
        sale = await queued(inv, 10, config, opens_ms=now_ms + 3_600_000)
        indexes: list[int] = []
        for start in range(0, N, 2000):  # 2,000 joins at a time on many connections: Redis orders the arrivals
            joins = await asyncio.gather(*(inv.join(sale, digest(f"u{i}")) for i in range(start, start + 2000)))
            assert all(j.outcome is Outcome.JOINED for j in joins)
            indexes += [j.index for j in joins]
        assert sorted(indexes) == list(range(N))  # every registrant one join index, in arrival order
        board = QueueBoard()
        before = await step(inv, board, sale, signer)
        assert before is not None and not before.opened and before.seed == "" and before.joined == N
        # Bring the open forward to now instead of waiting an hour: the open step is the script's, not the test's.
        await inv.client.hset(queue_keys(sale).conf, "opens_ms", now_ms)
        await inv.client.hset(sale_keys(sale).sale, "opens_ms", now_ms)
        sealing = time.monotonic()
        await step(inv, board, sale, signer)  # the open, then this worker seals the draw
        seal_s = time.monotonic() - sealing
        after = await step(inv, board, sale, signer)
        assert after is not None and after.opened and after.pre_count == N and after.seed
        reveal = bytes.fromhex(after.reveal)
        assert hashlib.sha256(reveal).hexdigest() == before.commitment == after.commitment
        log = await inv.join_log(sale, N)
        assert log == b"".join(digest(f"u{i}") for i in sorted(range(N), key=lambda i: indexes[i]))
        seed = bytes.fromhex(after.seed)
        assert seed == hmac.new(reveal, bytes.fromhex(after.root), hashlib.sha256).digest()
        room = board.rooms[sale]
        places = [board.place(room, i).position for i in range(N)]
        return {"seed": seed, "places": places, "seal_s": seal_s}

    started = time.monotonic()
    out = run(redis_server.url, body)
    took = time.monotonic() - started
    places: list[int] = out["places"]
    assert sorted(places) == list(range(N))
    tau, p_tau = stats.kendalltau(range(N), places)
    # Arrival decile vs place decile: 10x10 contingency, independent if the open is fair.
    table = [[0] * 10 for _ in range(10)]
    for i, place in enumerate(places):
        table[i * 10 // N][place * 10 // N] += 1
    chi2 = stats.chi2_contingency(table)
    recomputed = [_audit_permute(out["seed"], N, i) for i in range(N)]
    print(
        f"fair open: {N} joins+open+places in {took:.1f} s (the draw sealed in {out['seal_s']:.2f} s), "
        f"kendall tau {tau:.5f} (p {p_tau:.3f}), chi2 {chi2.statistic:.1f} (p {chi2.pvalue:.3f})"
    )
    assert abs(tau) < 0.01 and p_tau > 1e-4
    assert chi2.pvalue > 1e-4
    assert recomputed == places


@pytest.mark.slow
def test_half_of_admitted_buyers_abandoning_keeps_the_admission_rate(redis_server: RedisProcess) -> None:
    """Rate 20/s, 30 active at most, admissions last 2 s; every other admitted buyer never buys. Without the
    no-show correction the 30 active slots fill with abandoners in ~3 s and admission stops; with it, the
    serving counter keeps growing at the rate (measured in Redis time, over the steps after the first 3 s)."""
    rate, ttl_s = 20, 2
    signer = Signer(b"s" * 32)

    async def body(inv: Inventory) -> dict[str, Any]:
        sale = await queued(inv, 10_000, QueueConfig("fifo", rate, 30, ttl_s))
        for i in range(400):
            assert (await inv.join(sale, digest(f"a{i}"))).outcome is Outcome.JOINED
        board = QueueBoard()
        bought: set[int] = set()
        samples: list[tuple[int, int]] = []
        for _ in range(70):  # 70 controller ticks of 100 ms: ~7 s, bounded
            snap = await step(inv, board, sale)
            assert snap is not None
            samples.append((snap.now_ms, snap.serving))
            room = board.rooms[sale]
            for position in range(snap.serving):
                if position % 2 == 0 and position not in bought:  # even places buy at once, odd ones abandon
                    place = board.place(room, position)
                    if place.state.value != "admitted":
                        continue
                    _, claims = signer.issue(
                        sale, room.snapshot.room, f"a{position}", position, place.admitted_ms, place.expires_ms
                    )
                    r = await inv.purchase(sale, f"a{position}", 1, f"buy-{position}", claims.spent_as)
                    assert r.outcome is Outcome.SOLD, r
                    bought.add(position)
            assert snap.active <= 30
            await asyncio.sleep(0.1)  # the controller's own tick
        s = await audited(inv, sale)
        return {"samples": samples, "bought": len(bought), "sold": s.sold, "no_shows": snap.no_shows}

    out = run(redis_server.url, body)
    samples = out["samples"]
    t0 = samples[0][0]
    late = [(ms, serving) for ms, serving in samples if ms - t0 >= 3000]
    measured = (late[-1][1] - late[0][1]) * 1000 / (late[-1][0] - late[0][0])
    print(
        f"abandonment: measured {measured:.1f}/s of target {rate}/s, bought {out['bought']}, no-shows {out['no_shows']}"
    )
    assert out["sold"] == out["bought"]
    assert measured >= 0.9 * rate, (measured, samples)
    assert out["no_shows"] > 0


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisProcess]:
    """This module's own Redis: the session's API servers run admission controllers that step every waiting room
    on their Redis, so on the shared one they would step this module's rooms too and take their admissions."""
    server = RedisProcess("--appendonly", "no").start()
    yield server
    server.cleanup()


@pytest.fixture
def aof_redis() -> Iterator[RedisProcess]:
    server = RedisProcess("--appendonly", "yes", "--appendfsync", "always").start()
    yield server
    server.cleanup()


@pytest.mark.chaos
def test_redis_killed_during_admission(aof_redis: RedisProcess) -> None:
    """Joins and polls answer 503 with Retry-After while Redis is gone; after it is back every place is the one it
    was, new places follow, no place is admitted twice (each admission token buys once), and the audit holds."""
    server = start_api(aof_redis.url)
    client = Api(server)
    try:
        r = client.http.post(
            "/admin/sales",
            json={
                "sale_id": f"k-{uuid.uuid4().hex[:10]}",
                "name": "kill",
                "stock": 100,
                "per_buyer_limit": 1,
                "queue": {"mode": "fifo", "admit_rate": 50, "max_active": 1000, "token_ttl_s": 60},
            },
            headers=client.auth,
        )
        assert r.status_code == 201, r.text
        sale = r.json()["sale_id"]

        def join(buyer: str) -> httpx.Response:
            return client.http.post(
                f"/sales/{sale}/queue", headers={"Idempotency-Key": str(uuid.uuid4()), **client.as_buyer(buyer)}
            )

        def place(buyer: str, ticket: str) -> httpx.Response:
            return client.http.get(f"/sales/{sale}/queue/{ticket}", headers=client.as_buyer(buyer))

        first = {f"p{i}": join(f"p{i}").json() for i in range(20)}
        aof_redis.kill()
        down = [join(f"d{i}") for i in range(10)]
        assert all(d.status_code == 503 and d.headers["Retry-After"] == "1" for d in down), [d.text for d in down]
        ticket = first["p0"]["ticket"]
        deadline = time.monotonic() + 15
        while (polled := place("p0", ticket)).status_code != 503:
            assert polled.status_code == 200 and time.monotonic() < deadline, polled.text  # stale after 2 s
            time.sleep(0.1)
        assert polled.headers["Retry-After"] == "1" and polled.json()["type"].endswith(":unavailable")
        aof_redis.start()
        deadline = time.monotonic() + 15
        while (again := join("p0")).status_code == 503:
            assert time.monotonic() < deadline, again.text
            time.sleep(0.1)
        assert again.status_code == 200 and again.json()["joined_index"] == first["p0"]["joined_index"]
        replays = {b: join(b).json()["joined_index"] for b in first}
        assert replays == {b: t["joined_index"] for b, t in first.items()}
        later = [join(f"n{i}").json()["joined_index"] for i in range(5)]
        assert later == list(range(20, 25))

        tokens: dict[str, str] = {}
        deadline = time.monotonic() + 20
        while len(tokens) < 25:
            assert time.monotonic() < deadline, tokens
            for b, t in [*first.items()]:
                v = place(b, t["ticket"]).json()
                if v.get("state") == "admitted":
                    tokens[b] = v["admission_token"]
            for i in range(5):
                b = f"n{i}"
                t = join(b).json()["ticket"]
                v = place(b, t).json()
                if v.get("state") == "admitted":
                    tokens[b] = v["admission_token"]
            time.sleep(0.1)
        bought = {}
        for b, tok in tokens.items():
            r1 = client.http.post(
                f"/sales/{sale}/purchases",
                json={},
                headers={"Idempotency-Key": str(uuid.uuid4()), "Admission-Token": tok, **client.as_buyer(b)},
            )
            assert r1.status_code == 201, r1.text
            bought[b] = r1.json()["order_id"]
            r2 = client.http.post(
                f"/sales/{sale}/purchases",
                json={},
                headers={"Idempotency-Key": str(uuid.uuid4()), "Admission-Token": tok, **client.as_buyer(b)},
            )
            assert r2.status_code == 409 and r2.json()["type"].endswith("admission-used"), r2.text
        audit = client.audit(sale)
        assert audit["ok"] is True and audit["sold"] == 25, audit
        figures = client.http.get(f"/admin/sales/{sale}/queue", headers=client.auth).json()
        assert figures["queue"]["joined"] == 25 and figures["queue"]["serving"] <= 25
    finally:
        client.http.close()
        server.stop()


async def _buy_admitted(inv: Inventory, board: QueueBoard, sale: str, signer: Signer, bought: set[int]) -> None:
    """Every admitted place not bought yet buys one unit at once (an instant buyer)."""
    room = board.rooms[sale]
    for position in range(room.snapshot.serving):
        if position in bought:
            continue
        place = board.place(room, position)
        if place.state.value != "admitted":
            continue
        _, claims = signer.issue(
            sale, room.snapshot.room, f"a{position}", position, place.admitted_ms, place.expires_ms
        )
        r = await inv.purchase(sale, f"a{position}", 1, f"buy-{position}", claims.spent_as)
        assert r.outcome is Outcome.SOLD, r
        bought.add(position)


@pytest.mark.slow
def test_admission_resumes_at_its_rate_after_pauses_of_half_two_and_five_ttls(redis_server: RedisProcess) -> None:
    """Before: the admission steps older than two TTLs were dropped whole, so after a pause longer than that the
    step a window needs was gone, every no-show since the open counted as active and admission froze for about a
    TTL. Rate 20/s, 5 active at most, admissions last 2 s; first 3 TTLs of no-shows (15 > max_active), then one
    TTL of instant buyers, then pauses of 1, 4 and 10 s, each followed by 2.5 s of instant buyers: every resume
    must admit on its first step and keep the rate."""
    rate, ttl_s = 20, 2
    signer = Signer(b"p" * 32)

    async def body(inv: Inventory) -> list[dict[str, Any]]:
        sale = await queued(inv, 100_000, QueueConfig("fifo", rate, 5, ttl_s))
        for start in range(0, 1000, 200):
            await asyncio.gather(*(inv.join(sale, digest(f"a{i}")) for i in range(start, start + 200)))
        board = QueueBoard()
        bought: set[int] = set()

        async def ticks(seconds: float, buying: bool) -> list[tuple[int, int, int]]:
            samples = []
            end = time.monotonic() + seconds
            while time.monotonic() < end:  # bounded by the clock: the controller's 100 ms tick
                snap = await step(inv, board, sale)
                assert snap is not None
                samples.append((snap.now_ms, snap.serving, snap.admitted_now))
                if buying:
                    await _buy_admitted(inv, board, sale, signer, bought)
                await asyncio.sleep(0.1)
            return samples

        await ticks(3 * ttl_s, buying=False)
        await ticks(ttl_s, buying=True)
        out = []
        for pause_s in (0.5 * ttl_s, 2 * ttl_s, 5 * ttl_s):
            assert await inv.pause_queue(sale, True)
            paused = await ticks(pause_s, buying=True)
            assert all(admitted == 0 for _, _, admitted in paused[1:])
            assert await inv.pause_queue(sale, False)
            after = await ticks(2.5, buying=True)
            first = next(i for i, (_, _, admitted) in enumerate(after) if admitted > 0)
            (t0, s0, _), (t1, s1, _) = after[first], after[-1]
            out.append(
                {
                    "pause_s": pause_s,
                    "first_admitting_step": first,
                    "rate": (s1 - s0) * 1000 / (t1 - t0),
                    "unspent": board.rooms[sale].snapshot.serving - len(bought),
                }
            )
        await audited(inv, sale)
        return out

    results = run(redis_server.url, body)
    print("resume after pauses: " + "; ".join(f"{r['pause_s']} s -> {r['rate']:.1f}/s" for r in results))
    for r in results:
        assert r["first_admitting_step"] <= 1, r  # the first step after the resume, or the one after it
        assert r["rate"] >= 0.9 * rate, r
        assert r["unspent"] >= 10, r  # the no-shows of the first 3 TTLs: more than max_active


@pytest.mark.slow
def test_public_rate_and_eta_match_the_clock_at_a_steady_rate(redis_server: RedisProcess) -> None:
    """Before: configured 2/s, shown 6.1/s, ETA 22.8 s for 138 ahead (really ~69 s): each worker dropped the step
    its 10 s rate window starts at (kept 2 TTLs = 10 s), so the window counted every admission since the open.
    Rate 2/s, TTL 5 s, instant buyers; after 12 s the shown rate and a place 20 behind the front are checked
    against Redis's clock."""
    rate, ttl_s = 2, 5
    signer = Signer(b"e" * 32)

    async def body(inv: Inventory) -> dict[str, float]:
        sale = await queued(inv, 10_000, QueueConfig("fifo", rate, 100, ttl_s))
        for i in range(100):
            await inv.join(sale, digest(f"a{i}"))
        board = QueueBoard()
        bought: set[int] = set()
        first = await step(inv, board, sale)
        assert first is not None
        shown_rate = 0.0
        target: int | None = None
        eta_s = 0.0
        asked_ms = 0
        deadline = time.monotonic() + 40
        while True:
            assert time.monotonic() < deadline, "the watched place was never admitted"
            snap = await step(inv, board, sale)
            assert snap is not None
            await _buy_admitted(inv, board, sale, signer, bought)
            room = board.rooms[sale]
            if target is None and snap.now_ms - first.now_ms >= 12_000:
                shown_rate = room.rate()
                measured = (snap.serving - first.serving) * 1000 / (snap.now_ms - first.now_ms)
                target = snap.serving + 20
                place = board.place(room, target)
                assert place.eta_s is not None and place.ahead == 20
                eta_s, asked_ms = place.eta_s, snap.now_ms
            if target is not None and snap.serving > target:
                admitted = room.admitted_ms(target)
                assert admitted is not None
                return {"shown": shown_rate, "measured": measured, "eta": eta_s, "waited": (admitted - asked_ms) / 1000}
            await asyncio.sleep(0.1)

    out = run(redis_server.url, body)
    print(
        f"steady 2/s: shown {out['shown']:.2f}/s, clock {out['measured']:.2f}/s; "
        f"ETA {out['eta']:.1f} s, waited {out['waited']:.1f} s"
    )
    assert abs(out["shown"] - out["measured"]) <= 0.1 * out["measured"], out
    assert abs(out["measured"] - rate) <= 0.1 * rate, out
    assert abs(out["eta"] - out["waited"]) <= 0.1 * out["waited"], out
