"""docs/flows.md is generated from the code, so the reference and the engine cannot drift."""

from __future__ import annotations

from bot.engine.reference import flow_reference
from bot.engine.steps import STEP_TYPES
from tests.support.paths import ROOT

DOCS = ROOT / "docs" / "flows.md"


def test_docs_flows_md_is_the_generated_reference() -> None:
    assert DOCS.read_text(encoding="utf-8") == flow_reference(), (
        "docs/flows.md is stale: run `bot flows docs > docs/flows.md`"
    )


def test_every_step_type_is_documented_with_a_yaml_example() -> None:
    reference = flow_reference()
    for kind, step_type in STEP_TYPES.items():
        assert f"### `{kind}`" in reference
        assert "```yaml" in step_type.doc and f"{kind}:" in step_type.doc


def test_every_documented_example_parses() -> None:
    from bot.engine.parser import parse_flow

    for kind, step_type in STEP_TYPES.items():
        example = step_type.doc.split("```yaml\n", 1)[1].split("```", 1)[0]
        indented = "\n".join(f"  {line}" for line in example.splitlines())
        parsed = parse_flow(f"steps:\n{indented}\n", f"{kind}-example.yaml")
        assert parsed.problems == [], (kind, [str(problem) for problem in parsed.problems])
        assert parsed.flow is not None and parsed.flow.steps[0].kind == kind
