"""Reads and checks campaign files, reporting every problem as `file:line: message`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot.campaigns.model import Campaign, PickBy, Segment, SplitTest, Variant
from bot.conversations.flow_registry import FLOW_SUFFIXES, flow_files
from bot.domain.media import media_problems
from bot.domain.segments import count_segments
from bot.domain.yamlsource import LocatedDict, LocatedList
from bot.engine.checker import (
    BRAND_ADVICE,
    OPT_OUT_WORDING,
    TypicalVariables,
    gsm_lookalike,
    names_the_brand,
    ucs2_message,
    url_lints,
)
from bot.engine.durations import DurationError, parse_duration
from bot.engine.expressions import Expression, ExpressionError, parse_expression
from bot.engine.model import FlowSettings
from bot.engine.parser import FLOW_NAME, read_flow_file
from bot.engine.problems import Problem, Severity, did_you_mean, load_document
from bot.engine.templates import Template, TemplateError, parse_template

CAMPAIGNS_FOLDER = "campaigns"  # inside FLOWS_DIR; the flow loader reads top-level files only
TOP_LEVEL_KEYS = frozenset(
    {"campaign", "description", "segment", "send_at", "variants", "reply_flow", "test"}
)
SEGMENT_KEYS = frozenset({"tags", "attributes", "where"})
VARIANT_KEYS = frozenset({"name", "weight", "text", "media"})
TEST_KEYS = frozenset({"split", "wait", "pick_by"})
TEMPLATE_NAMES = frozenset({"brand", "first_name", "phone", "support", "attributes"})
SEND_AT_FORMS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M")
MAX_SEGMENTS = FlowSettings().max_segments


@dataclass
class ParsedCampaign:
    """A campaign file read: the campaign (None when it has errors) and the problems found."""

    file: str
    campaign: Campaign | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        return any(problem.severity is Severity.ERROR for problem in self.problems)


def campaign_files(flows_dir: Path) -> list[Path]:
    """The campaign files of a flows folder (its `campaigns/` sub-folder), in name order."""
    folder = flows_dir / CAMPAIGNS_FOLDER
    return [path for path in flow_files(folder) if path.suffix in FLOW_SUFFIXES]


def read_campaigns(
    flows_dir: Path, *, brand: str, flow_names: Iterable[str] | None = None
) -> list[ParsedCampaign]:
    """Parse and check every campaign file of a flows folder, including names used twice."""
    if flow_names is None:
        parsed_flows = (read_flow_file(path) for path in flow_files(flows_dir))
        flow_names = {item.flow.name for item in parsed_flows if item.flow is not None}
    known_flows = frozenset(flow_names)
    parsed = [
        read_campaign_file(path, brand=brand, flow_names=known_flows)
        for path in campaign_files(flows_dir)
    ]
    seen: dict[str, str] = {}
    for item in parsed:
        if item.campaign is None:
            continue
        name = item.campaign.name
        if name in seen:
            item.problems.append(
                Problem(item.file, 1, f"campaign {name!r} is already defined in {seen[name]}")
            )
            item.campaign = None
        else:
            seen[name] = item.file
    return parsed


def check_campaigns(
    flows_dir: Path, *, brand: str, flow_names: Iterable[str] | None = None
) -> list[Problem]:
    """Every problem in the campaign files of a flows folder (for `bot flows check`)."""
    parsed = read_campaigns(flows_dir, brand=brand, flow_names=flow_names)
    return sorted(problem for item in parsed for problem in item.problems)


def read_campaign_file(
    path: Path, *, brand: str = "Parley", flow_names: frozenset[str] | None = None
) -> ParsedCampaign:
    """Read and check one campaign file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return ParsedCampaign(str(path), None, [Problem(str(path), 1, f"cannot read: {error}")])
    return parse_campaign(
        text, str(path), default_name=path.stem, brand=brand, flow_names=flow_names
    )


def parse_campaign(
    text: str,
    file: str,
    *,
    default_name: str = "campaign",
    brand: str = "Parley",
    flow_names: frozenset[str] | None = None,
) -> ParsedCampaign:
    """Parse and check a campaign from YAML text; problems are reported, not raised."""
    document, problems = load_document(
        text, file, "a campaign file is a mapping with campaign:, segment: and variants:"
    )
    parsed = ParsedCampaign(file, None, problems)
    if document is None:
        return parsed
    reader = _Reader(file, document, brand, flow_names)
    campaign = reader.build(default_name)
    parsed.problems.extend(sorted(reader.problems, key=lambda p: (p.severity, p.line)))
    parsed.campaign = None if parsed.has_errors else campaign
    return parsed


class _Reader:
    def __init__(
        self, file: str, doc: LocatedDict, brand: str, flow_names: frozenset[str] | None
    ) -> None:
        self.file = file
        self.doc = doc
        self.brand = brand
        self.flow_names = flow_names
        self.problems: list[Problem] = []

    def error(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))

    def warning(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message, Severity.WARNING))

    def unknown_keys(self, node: LocatedDict, allowed: frozenset[str], what: str) -> None:
        for key in sorted(set(node) - allowed):
            known = ", ".join(sorted(allowed))
            self.error(node.line_of(key), f"unknown {what}key {key!r} (known: {known})")

    def build(self, default_name: str) -> Campaign | None:
        self.unknown_keys(self.doc, TOP_LEVEL_KEYS, "")
        name = self._name(default_name)
        segment = self._segment()
        send_at = self._send_at()
        variants = self._variants()
        reply_flow = self._reply_flow()
        written = self.doc.get("variants")
        test = self._test(len(written) if isinstance(written, list) else 1)
        for variant in variants:
            self._lint(variant)
        if name is None or segment is None or not variants:
            return None
        return Campaign(
            name=name,
            file=self.file,
            description=str(self.doc.get("description") or ""),
            segment=segment,
            send_at=send_at,
            variants=tuple(variants),
            reply_flow=reply_flow,
            test=test,
        )

    def _name(self, default_name: str) -> str | None:
        name = self.doc.get("campaign", default_name)
        if not isinstance(name, str) or not FLOW_NAME.match(name):
            self.error(
                self.doc.line_of("campaign"),
                f"campaign name {name!r} must be lower-case letters, digits and _ "
                "(e.g. winter_sale)",
            )
            return None
        return name

    def _segment(self) -> Segment | None:
        section = self.doc.get("segment")
        if section is None:
            return Segment()
        line = self.doc.line_of("segment")
        if not isinstance(section, LocatedDict):
            self.error(line, "segment must be a mapping with tags:, attributes: or where:")
            return None
        self.unknown_keys(section, SEGMENT_KEYS, "segment ")
        tags = section.get("tags", [])
        if isinstance(tags, str):
            tags = [tags]
        if not isinstance(tags, list) or not all(isinstance(tag, str | int) for tag in tags):
            self.error(section.line_of("tags"), "segment tags must be a list of words")
            tags = []
        attributes = section.get("attributes", {})
        if not isinstance(attributes, dict) or any(
            isinstance(value, dict | list) for value in attributes.values()
        ):
            self.error(
                section.line_of("attributes"),
                "segment attributes must map names to single values, e.g. {city: Boston}",
            )
            attributes = {}
        where = self._where(section)
        return Segment(tuple(str(tag) for tag in tags), dict(attributes), where)

    def _where(self, section: LocatedDict) -> Expression | None:
        source = section.get("where")
        if source is None:
            return None
        line = section.line_of("where")
        if isinstance(source, bool):
            source = "true" if source else "false"
        if not isinstance(source, str | int | float):
            self.error(line, "where: a condition is written as text, e.g. orders >= 2")
            return None
        try:
            return parse_expression(str(source))
        except ExpressionError as error:
            self.error(line, f"where: condition {str(source)!r} does not parse: {error.message}")
            return None

    def _send_at(self) -> datetime | None:
        value = self.doc.get("send_at", "now")
        line = self.doc.line_of("send_at")
        if isinstance(value, datetime):  # YAML reads "2026-12-01 10:00:00" as a timestamp
            return value.replace(tzinfo=None)
        if isinstance(value, str):
            if value.strip().lower() == "now":
                return None
            for form in SEND_AT_FORMS:
                try:
                    return datetime.strptime(value.strip(), form)
                except ValueError:
                    continue
        hint = " (add the time of day)" if isinstance(value, date) else ""
        self.error(
            line,
            f"send_at {str(value)!r} is neither now nor a local date and time like "
            f"2026-12-01 10:00{hint}",
        )
        return None

    def _variants(self) -> list[Variant]:
        nodes = self.doc.get("variants")
        line = self.doc.line_of("variants")
        if isinstance(nodes, str):  # one text needs no A/B structure
            nodes = LocatedList([{"text": nodes}])
            nodes.line, nodes.item_lines = line, [line]
        if not isinstance(nodes, LocatedList) or not nodes:
            self.error(line, "a campaign needs variants: a list with at least one text")
            return []
        alone = len(nodes) == 1  # nothing to split: a single text needs no weight
        variants: list[Variant] = []
        names: dict[str, int] = {}
        for index, (node, item_line) in enumerate(zip(nodes, nodes.item_lines, strict=True)):
            variant = self._variant(node, item_line, index, alone=alone)
            if variant is None:
                continue
            if variant.name in names:
                self.error(
                    item_line,
                    f"variant name {variant.name!r} is already used on line {names[variant.name]}",
                )
                continue
            names[variant.name] = item_line
            variants.append(variant)
        return variants

    def _variant(self, node: Any, line: int, index: int, *, alone: bool) -> Variant | None:
        if isinstance(node, str):
            node = {"text": node}
        if not isinstance(node, dict):
            self.error(line, "a variant is a mapping such as `- name: a` with weight: and text:")
            return None
        if isinstance(node, LocatedDict):
            self.unknown_keys(node, VARIANT_KEYS, "variant ")
        line_of = node.line_of if isinstance(node, LocatedDict) else (lambda _key: line)
        name = str(node.get("name", chr(ord("a") + index) if index < 26 else index + 1))
        # Between two or more variants each says its share: a forgotten one is no silent 1.
        weight = node.get("weight", 1 if alone else None)
        if weight is None:
            self.error(line, f"variant {name!r} needs weight: (e.g. weight: 50)")
            return None
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not math.isfinite(weight)
            or weight <= 0
        ):
            self.error(line_of("weight"), f"variant {name!r}: weight must be a positive number")
            return None
        source = node.get("text")
        if isinstance(source, int | float) and not isinstance(source, bool):
            source = str(source)
        if not isinstance(source, str) or not source.strip():
            self.error(line_of("text"), f"variant {name!r} needs some text")
            return None
        text_line = line_of("text")
        try:
            template = parse_template(source)
        except TemplateError as error:
            self.error(text_line, f"variant {name!r}: text: {error.message}")
            return None
        known = ", ".join(sorted(TEMPLATE_NAMES))
        unknown = sorted(template.names - TEMPLATE_NAMES)
        for unknown_name in unknown:
            self.error(
                text_line,
                f"unknown template variable {{{unknown_name}}} (known: {known}; "
                f"write {{attributes.{unknown_name}}} for an attribute)",
            )
        media = self._media(node, line_of("media"), name)
        if unknown or media is None:
            return None
        return Variant(name, float(weight), template, text_line, media)

    def _media(self, node: dict[str, Any], line: int, name: str) -> tuple[str, ...] | None:
        """A variant's MMS media: https URLs within Twilio's count; None after an error."""
        if "media" not in node:
            return ()
        problems = media_problems(node["media"])
        for problem in problems:
            self.error(line, f"variant {name!r}: {problem}")
        if problems:
            return None
        urls = node["media"]
        return tuple(url.strip() for url in ([urls] if isinstance(urls, str) else urls))

    def _test(self, variants: int) -> SplitTest | None:
        """`test: {split: 20%, wait: 4h, pick_by: clicks}`: the test split sent before the rest."""
        section = self.doc.get("test")
        if section is None:
            return None
        line = self.doc.line_of("test")
        if not isinstance(section, LocatedDict):
            self.error(line, "test must be a mapping like {split: 20%, wait: 4h, pick_by: clicks}")
            return None
        self.unknown_keys(section, TEST_KEYS, "test ")
        if variants < 2:
            self.error(line, "test: a test split needs at least two variants to pick from")
        share = _percent(section.get("split"))
        if share is None:
            self.error(
                section.line_of("split"),
                f"test: split {section.get('split')!r} must be a percentage between 1% and 99%"
                " (e.g. split: 20%)",
            )
        try:
            wait = parse_duration(section.get("wait"))
        except DurationError as error:
            self.error(section.line_of("wait"), f"test: wait: {error}")
            wait = None
        pick_by = section.get("pick_by", PickBy.CLICK.value)
        if pick_by not in {choice.value for choice in PickBy}:
            known = " or ".join(choice.value for choice in PickBy)
            self.error(section.line_of("pick_by"), f"test: pick_by {pick_by!r} must be {known}")
            return None
        if share is None or wait is None or variants < 2:
            return None
        return SplitTest(share, wait, PickBy(pick_by), line)

    def _reply_flow(self) -> str | None:
        value = self.doc.get("reply_flow")
        if value is None:
            return None
        line = self.doc.line_of("reply_flow")
        if not isinstance(value, str):
            self.error(line, "reply_flow must be the name of a flow, e.g. nps")
            return None
        if self.flow_names is not None and value not in self.flow_names:
            known = ", ".join(sorted(self.flow_names)) or "none"
            self.error(
                line,
                f"reply_flow: no flow named {value!r}{did_you_mean(value, self.flow_names)} "
                f"(known: {known})",
            )
        return value

    def _lint(self, variant: Variant) -> None:
        for message in text_lints(variant.text, brand=self.brand):
            self.warning(variant.line, f"variant {variant.name!r}: {message}")
        self._lint_sender(variant)

    def _lint_sender(self, variant: Variant) -> None:
        if not names_the_brand(variant.text, self.brand):
            self.warning(
                variant.line,
                f"variant {variant.name!r}: promotional text does not name the brand "
                f"({BRAND_ADVICE})",
            )


def _percent(value: object) -> float | None:
    """ "20%" or 20 as the share 0.2; None unless strictly between 0 and 100 percent."""
    if isinstance(value, str) and value.strip().endswith("%"):
        value = value.strip().removesuffix("%").strip()
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number / 100 if 0 < number < 100 and math.isfinite(number) else None


def text_lints(template: Template, *, brand: str) -> Iterator[str]:
    """What the flow checker would warn about a promotional text: length, UCS-2, no opt-out."""
    rendered = template.render(TypicalVariables(brand))
    info = count_segments(rendered)
    if info.segments > MAX_SEGMENTS:
        yield (
            f"this text is {info.segments} segments with typical values "
            f"({info.encoding}, {info.units} units); the limit is {MAX_SEGMENTS}"
        )
    culprits = [char for char in info.culprits if char in template.source]
    if culprits:
        as_gsm7 = count_segments(gsm_lookalike(rendered)).segments
        yield ucs2_message(culprits, info.segments, as_gsm7)
    yield from url_lints(template)
    if not OPT_OUT_WORDING.search(template.source):
        yield "promotional text does not say how to opt out (add e.g. 'Reply STOP to opt out')"
