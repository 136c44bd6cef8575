"""What verifying buyer tokens costs, measured in one run: ``python -m load.bench.identity`` (part of make bench).

Two parts, written to load/reports/identity-bench.json:

1. µs per verification per algorithm (RS256, PS256, ES256, EdDSA), in this process: a first verification
   (cache miss: parse, signature, claims) with this service's ``Verifier``, the same tokens through PyJWT's whole
   ``jwt.decode`` (the library path it does not take; why, in identity/tokens.py), the signature alone, and a
   cache hit.
2. req/s of the purchase route on one server (telemetry and INFO logs on, as compose runs it; demo issuer, RS256),
   wrk one thread, 50 connections, interleaved rounds: a new buyer and token per request (the rush: every
   verification a cache miss), one buyer's token repeated (cache hits), and the same route without verification
   (``/bench/unverified/...``: the buyer from a header, then the very same code). Targets: rush / unverified
   >= 0.85, repeated / unverified >= 0.95.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

from flashsale.embedded import EmbeddedRedis
from flashsale.identity.keys import KeySet, StaticKeys
from flashsale.identity.local import ISSUER, LocalIssuer
from flashsale.identity.tokens import Verifier
from flashsale.local import LocalServer
from load.bench.common import LOAD_DIR
from load.bench.measuring import parse_wrk

ROUNDS = 5
SECONDS = 4
CONNECTIONS = 50
TOKENS_PER_RUN = 16_000
MICRO_TOKENS = 2000
REPORT = Path("load/reports/identity-bench.json")
AUTH_SCRIPT = LOAD_DIR / "wrk" / "auth.lua"
AUDIENCE = "flashsale"


def _keys() -> dict[str, Any]:
    return {
        "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "PS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "EdDSA": ed25519.Ed25519PrivateKey.generate(),
    }


def micro() -> dict[str, dict[str, float]]:
    """µs per verification per algorithm, best of three passes over MICRO_TOKENS distinct tokens."""
    out: dict[str, dict[str, float]] = {}
    for alg, private in _keys().items():
        out[alg] = _measure(alg, private)
        print(f"{alg}: " + ", ".join(f"{k} {v:.1f} µs" for k, v in out[alg].items()), flush=True)
    return out


def _measure(alg: str, private: Any) -> dict[str, float]:
    algorithm = get_default_algorithms()[alg]
    public = private.public_key()
    jwk = json.loads(algorithm.to_jwk(public))
    jwk.update(kid=alg, alg=alg, use="sig")
    keys = StaticKeys(KeySet({"keys": [jwk]}))
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600}
    tokens = [
        jwt.encode({**claims, "sub": f"b{i}"}, private, algorithm=alg, headers={"kid": alg})
        for i in range(MICRO_TOKENS)
    ]
    headers = [f"Bearer {t}" for t in tokens]

    async def verify_all(verifier: Verifier) -> float:
        started = time.perf_counter()
        for h in headers:
            await verifier.buyer(h)
        return time.perf_counter() - started

    def ours() -> float:
        return asyncio.run(verify_all(Verifier(keys, ISSUER, AUDIENCE, frozenset({alg}))))

    def cached() -> float:
        warm = Verifier(keys, ISSUER, AUDIENCE, frozenset({alg}))
        asyncio.run(verify_all(warm))
        return asyncio.run(verify_all(warm))

    def pyjwt() -> float:
        started = time.perf_counter()
        for t in tokens:
            jwt.decode(t, public, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER, leeway=30)
        return time.perf_counter() - started

    def signature() -> float:
        sigs = [(m.encode(), jwt.utils.base64url_decode(s)) for m, s in (t.rsplit(".", 1) for t in tokens)]
        started = time.perf_counter()
        for message, sig in sigs:
            algorithm.verify(message, public, sig)
        return time.perf_counter() - started

    timed = (("first_verification", ours), ("pyjwt_decode", pyjwt), ("signature_alone", signature))
    per = {name: min(f() for _ in range(3)) / MICRO_TOKENS * 1e6 for name, f in (*timed, ("cache_hit", cached))}
    return {k: round(v, 1) for k, v in per.items()}


def _mint(args: tuple[str, int, int]) -> list[str]:
    key_path, start, count = args
    issuer = LocalIssuer.at(Path(key_path))
    return [issuer.mint(f"rush-{start + i}", AUDIENCE, 3600) for i in range(count)]


def mint_many(key_path: str, start: int, count: int) -> list[str]:
    """RS256 signing costs ~1 ms: two processes mint the rush's tokens before the runs."""
    half = count // 2
    with ProcessPoolExecutor(max_workers=2) as pool:
        parts = pool.map(_mint, [(key_path, start, half), (key_path, start + half, count - half)])
        return [t for part in parts for t in part]


def wrk(url: str, path: str, mode: str) -> dict[str, Any]:
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--timeout", "5s", "-s", str(AUTH_SCRIPT), url]
    command += ["--", path, uuid.uuid4().hex[:10], mode]
    done = subprocess.run(command, capture_output=True, text=True, timeout=SECONDS + 60, check=True)
    result = parse_wrk(done.stdout)
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def http_ratios(tmp: str) -> dict[str, Any]:
    with EmbeddedRedis() as redis:
        env = {"FLASHSALE_BENCH_ROUTES": "true", "FLASHSALE_LOG_LEVEL": "INFO", "FLASHSALE_DEMO": "true"}
        server = LocalServer(redis.url, env=env)
        server.start(log_path=str(Path(tmp) / "server.log"))
        try:
            http = httpx.Client(
                base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {server.admin_token}"}
            )
            body = {"sale_id": "ids", "name": "identity bench", "stock": 1_000_000_000}
            assert http.post("/admin/sales", json=body).status_code == 201
            key_path = server.env["FLASHSALE_DEMO_ISSUER_KEY"]
            files = []
            for r in range(ROUNDS):
                path = Path(tmp) / f"rush-{r}.txt"
                path.write_text("\n".join(mint_many(key_path, r * TOKENS_PER_RUN, TOKENS_PER_RUN)) + "\n")
                files.append(path)
            same = Path(tmp) / "same.txt"
            same.write_text(server.token("repeat-buyer") + "\n")
            runs: dict[str, list[dict[str, Any]]] = {"rush": [], "repeated": [], "unverified": []}
            loads = {
                "rush": lambda r: wrk(server.url, "/sales/ids/purchases", f"tokens={files[r]}"),
                "repeated": lambda r: wrk(server.url, "/sales/ids/purchases", f"token={same}"),
                "unverified": lambda r: wrk(server.url, "/bench/unverified/sales/ids/purchases", "unverified"),
            }
            order = list(loads)
            for r in range(ROUNDS):
                # Each round starts with another configuration: drift in the machine's load hits each alike.
                for name in order[r % 3 :] + order[: r % 3]:
                    runs[name].append(loads[name](r))
                print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]['rps']:.0f}/s" for k, v in runs.items()), flush=True)
            for name, results in runs.items():
                for res in results:
                    assert set(res["statuses"]) == {"201"}, (name, res["statuses"])
                if name == "rush":
                    assert all(res["requests"] <= TOKENS_PER_RUN for res in results), "ran out of fresh tokens"
            audit = http.get("/admin/sales/ids/audit").json()
            http.close()
        finally:
            server.stop()
    median = {k: statistics.median(r["rps"] for r in v) for k, v in runs.items()}
    paired = [a["rps"] / b["rps"] for a, b in zip(runs["rush"], runs["unverified"], strict=True)]
    return {
        "rps_median": {k: round(v, 1) for k, v in median.items()},
        "p99_ms_median": {
            k: round(statistics.median(r["latency_us"]["p99"] for r in v) / 1000, 2) for k, v in runs.items()
        },
        "rush_vs_unverified": round(median["rush"] / median["unverified"], 3),
        "rush_vs_unverified_per_round": [round(x, 3) for x in paired],
        "repeated_vs_unverified": round(median["repeated"] / median["unverified"], 3),
        "targets": {"rush_vs_unverified": 0.85, "repeated_vs_unverified": 0.95},
        "audit_ok": audit["ok"],
        "oversold": audit["oversold"],
    }


def main() -> int:
    result: dict[str, Any] = {"load_average": os.getloadavg()[0]}
    result["us_per_verification"] = micro()
    with tempfile.TemporaryDirectory() as tmp:
        result["purchase"] = http_ratios(tmp)
    result["load_average_after"] = os.getloadavg()[0]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
