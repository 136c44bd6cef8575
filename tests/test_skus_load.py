"""The sizes campaign (``make load CAMPAIGN=sizes``), small and bounded, against its own loopback stack: a sneaker
drop of 12 sizes under two quotas passes its end checks (nothing oversold per size or quota, audit ok, every 201
in the ledger as answered, the ledger's lines per size equal to what the server sold). No timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_load import run_campaign


def test_sizes_campaign(tmp_path: Path) -> None:
    process = run_campaign(tmp_path, "sizes", "--users", "80", "--run-time", "8", "--stock", "60")
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    verdict = json.loads((tmp_path / "sizes.json").read_text())
    assert verdict["passed"] is True and verdict["checks"] == {"passed": True, "failures": []}, verdict
    notes = verdict["notes"]
    assert notes["oversold"] == 0 and notes["server_errors"] == 0, notes
    assert notes["ledger_check"].endswith("all as answered"), notes
    assert sum(notes["sold_per_size"].values()) == notes["sold"] > 0, notes
    assert all(left >= 0 for left in notes["quota_remaining"].values()), notes
    assert verdict["p99_ms"] > 0
