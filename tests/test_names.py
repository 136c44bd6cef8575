"""One name per concept: where a published outcome name and problem type differ, docs/glossary.md's table says
so, and the code has one map of them (``problems.BY_OUTCOME``); a problem type's constant is named after its slug."""

from __future__ import annotations

import re
from pathlib import Path

from flashsale.api import problems

GLOSSARY = Path(__file__).resolve().parent.parent / "docs" / "glossary.md"


def test_every_problem_constant_is_named_after_its_slug() -> None:
    named = {name: value for name, value in vars(problems).items() if isinstance(value, problems.ProblemType)}
    assert named
    assert [name for name, t in named.items() if name != t.slug.upper().replace("-", "_")] == []


def test_the_glossary_lists_exactly_the_outcomes_whose_problem_differs() -> None:
    differ = {
        (outcome.value, problem.slug)
        for outcome, problem in problems.BY_OUTCOME.items()
        if outcome.value.replace("_", "-") != problem.slug
    }
    section = GLOSSARY.read_text().split("## Names that differ on purpose", 1)[1]
    listed = set(re.findall(r"^\| [^|]+ \| `([a-z_]+)` \| `([a-z-]+)` \|$", section, flags=re.MULTILINE))
    assert differ
    assert listed == differ
