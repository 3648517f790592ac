"""Keyword offers (`FLOWS_DIR/offers.yaml`): a word people text, and the flow or reply it gets them.

```yaml
offers:
  - keyword: WIN                        # one word; any case; the whole text or its first word
    offer: a chance to win a $500 gift card   # named in the invitation a non-subscriber gets
    reply: "{brand}: You're in the draw! 10% off meanwhile: {coupon_code}. Reply STOP to opt out."
    coupon: true                        # optional: their own code, as {coupon_code} in the reply
  - keyword: SPRING
    offer: 15% off the spring collection
    flow: spring_sale                   # or start a flow (its own coupon step, if any)
```
A subscriber who texts the keyword gets the offer at once. Anyone else (new, or waiting to
confirm) is invited to join, with the offer named, and gets the offer after replying Y. A reply
offer runs as a small promotional flow of its own, `offer_<keyword>`, so its texts pass the same
send policy and its results show like a flow's. Its coupon comes from `action_create_coupon`
once per person (`once_per_person`): someone who has their code already (the welcome's) sees
that same code in the reply. Every problem is reported as `file:line: message`.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from bot.domain.keywords import KeywordKind, Vocabulary, classify, normalise
from bot.domain.yamlsource import LocatedDict, LocatedList
from bot.engine.model import Flow, FlowSettings, Restart, Triggers
from bot.engine.problems import Problem, article, load_document
from bot.engine.steps.action import ActionStep
from bot.engine.steps.base import Step
from bot.engine.steps.send import SendStep
from bot.engine.templates import Template, TemplateError, parse_template

OFFERS_FILE = "offers.yaml"  # in FLOWS_DIR, beside the flows (not a flow itself)
OFFER_KEYS = frozenset({"keyword", "offer", "reply", "flow", "coupon"})
COUPON_ACTION = "action_create_coupon"  # the person's own code, for {coupon_code} (no text)
COUPON_SLOT = "coupon_code"
OFFER_RESTART = Restart(timedelta(days=1))  # a reply offer, at most once a day per person
_KEYWORD = re.compile(r"[A-Za-z0-9]{1,20}")
_SHAPE = "an offers file holds `offers:`, a list of {keyword, offer, reply or flow}"


@dataclass(frozen=True)
class Offer:
    """One keyword offer: the keyword as written, what it promises, and the flow that gives it."""

    keyword: str
    promise: str  # "a chance to win a $500 gift card": the invitation names it
    flow: str  # the flow it starts: a flow file's, or its own reply flow's (offer_<keyword>)
    line: int


@dataclass
class OffersFile:
    """The offers file read: the offers, the reply offers' own flows, every problem."""

    file: str
    offers: tuple[Offer, ...] = ()
    flows: tuple[Flow, ...] = ()
    problems: list[Problem] = field(default_factory=list)


def parse_offers(
    text: str, file: str, *, flows: Mapping[str, Flow], vocabulary: Vocabulary
) -> OffersFile:
    """Read an offers file against the flows beside it; problems are reported, not raised.

    A keyword may not be a compliance keyword (STOP, JOIN, HELP … mean the same everywhere),
    another offer's, or a flow's trigger keyword; a `flow:` must name a flow that exists.
    """
    document, problems = load_document(text, file, _SHAPE)
    parsed = OffersFile(file, problems=problems)
    if document is None:
        return parsed
    reader = _Reader(file, flows, vocabulary, parsed.problems)
    items = document.get("offers")
    for key in sorted(set(document) - {"offers"}):
        reader.problem(document.line_of(key), f"unknown key {key!r} (the file holds offers:)")
    if not isinstance(items, LocatedList):
        reader.problem(document.line_of("offers"), _SHAPE)
        return parsed
    version = hashlib.sha256(text.encode()).hexdigest()[:12]
    offers: list[Offer] = []
    own_flows: list[Flow] = []
    for item, line in zip(items, items.item_lines, strict=True):
        read = reader.offer(item, line, version)
        if read is not None:
            offer, own_flow = read
            offers.append(offer)
            own_flows.extend([own_flow] if own_flow is not None else [])
    if not parsed.problems:
        parsed.offers, parsed.flows = tuple(offers), tuple(own_flows)
    return parsed


def reply_flow_name(keyword: str) -> str:
    """The name of the flow a reply offer runs as."""
    return f"offer_{keyword.lower()}"


class _Reader:
    def __init__(
        self,
        file: str,
        flows: Mapping[str, Flow],
        vocabulary: Vocabulary,
        problems: list[Problem],
    ) -> None:
        self.file = file
        self.flows = flows
        self.vocabulary = vocabulary
        self.problems = problems
        self.flow_keywords = {
            normalise(keyword): flow
            for flow in flows.values()
            for keyword in flow.triggers.keywords
        }
        self.seen: dict[str, int] = {}  # normalised keyword -> the line of its first offer

    def problem(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))

    def offer(self, item: object, line: int, version: str) -> tuple[Offer, Flow | None] | None:
        if not isinstance(item, LocatedDict):
            self.problem(line, "an offer is a mapping: keyword, offer, and reply or flow")
            return None
        for key in sorted(set(item) - OFFER_KEYS):
            self.problem(
                item.line_of(key), f"unknown key {key!r} ({', '.join(sorted(OFFER_KEYS))})"
            )
        keyword = self._keyword(item)
        promise = self._text(item, "offer", "names the offer in the invitation to join")
        flow_name, own_flow = self._target(item, keyword, version)
        if keyword is None or promise is None or flow_name is None:
            return None
        return Offer(keyword, promise, flow_name, item.line), own_flow

    def _keyword(self, item: LocatedDict) -> str | None:
        line = item.line_of("keyword")
        keyword = item.get("keyword")
        if not isinstance(keyword, str) or not _KEYWORD.fullmatch(keyword.strip()):
            self.problem(line, "keyword must be one word of letters and digits, e.g. WIN")
            return None
        keyword = keyword.strip()
        kind = classify(keyword, self.vocabulary).kind
        if kind is not KeywordKind.NONE:
            said = kind.value.replace("_", "-")
            self.problem(
                line,
                f"{keyword!r} is reserved: it is {article(said)} {said} keyword that always "
                "means the same thing to carriers",
            )
            return None
        words = normalise(keyword)
        flow = self.flow_keywords.get(words)
        if flow is not None:
            where = f"{flow.file}:{flow.triggers.lines.get('keywords', 1)}"
            self.problem(
                line, f"{keyword!r} is also a trigger keyword of flow {flow.name!r} ({where})"
            )
            return None
        first = self.seen.setdefault(words, line)
        if first != line:
            self.problem(line, f"{keyword!r} is already an offer (line {first})")
            return None
        return keyword

    def _text(self, item: LocatedDict, key: str, why: str) -> str | None:
        value = item.get(key)
        if not isinstance(value, str) or not value.strip():
            self.problem(item.line_of(key), f"{key} needs some text: it {why}")
            return None
        return value.strip()

    def _target(
        self, item: LocatedDict, keyword: str | None, version: str
    ) -> tuple[str | None, Flow | None]:
        """The flow the offer starts, and the reply offer's own flow (None for a flow offer)."""
        coupon = item.get("coupon", False)
        if not isinstance(coupon, bool):
            self.problem(item.line_of("coupon"), "coupon must be true or false")
            return None, None
        if ("reply" in item) == ("flow" in item):
            self.problem(item.line, "an offer has either reply: (a text) or flow: (a flow's name)")
            return None, None
        if "flow" in item:
            if coupon:
                self.problem(
                    item.line_of("coupon"),
                    "coupon: goes with a reply; a flow issues its own coupon (an action step "
                    "with once_per_person: true)",
                )
            return self._flow(item), None
        reply = self._reply(item)
        if reply is None or keyword is None:
            return None, None
        if coupon and COUPON_SLOT not in reply.names:
            self.problem(
                item.line_of("coupon"),
                f"coupon: true gives the person a code: say it in the reply as {{{COUPON_SLOT}}}",
            )
            return None, None
        flow = _reply_flow(keyword, reply, coupon, item, self.file, version)
        if flow.name in self.flows:
            self.problem(
                item.line, f"flow {flow.name!r} exists: a reply offer runs as a flow by that name"
            )
            return None, None
        return flow.name, flow

    def _flow(self, item: LocatedDict) -> str | None:
        name = item.get("flow")
        line = item.line_of("flow")
        if isinstance(name, str) and name.strip() in self.flows:
            return name.strip()
        nearest = difflib.get_close_matches(str(name), list(self.flows), n=1)
        hint = f"; did you mean {nearest[0]!r}?" if nearest else f" ({_known(self.flows)})"
        self.problem(line, f"flow: no flow named {name!r}{hint}")
        return None

    def _reply(self, item: LocatedDict) -> Template | None:
        text = self._text(item, "reply", "is what the offer texts")
        if text is None:
            return None
        try:
            return parse_template(text)
        except TemplateError as error:
            self.problem(item.line_of("reply"), f"reply: {error.message}")
            return None


def _reply_flow(
    keyword: str, reply: Template, coupon: bool, item: LocatedDict, file: str, version: str
) -> Flow:
    """A reply offer as a promotional flow: the person's coupon if it has one, then the reply."""
    steps: list[Step] = []
    if coupon:
        coupon_line = item.line_of("coupon")
        provides = (COUPON_SLOT,)
        steps.append(
            ActionStep(
                "coupon", coupon_line, None, {}, COUPON_ACTION, provides, once_per_person=True
            )
        )
    steps.append(SendStep("reply", item.line_of("reply"), None, {}, text=reply))
    return Flow(
        name=reply_flow_name(keyword),
        file=file,
        version=version,
        description=f"the {keyword} offer",
        triggers=Triggers(
            keywords=(keyword,),
            # It answers the person's own text, so no quiet hours or caps hold it (they asked):
            # once a day at most, or a keyword texted over and over would be a promotion each time.
            restart=OFFER_RESTART,
            lines={"keywords": item.line_of("keyword")},
        ),
        settings=FlowSettings(promotional=True),
        steps=tuple(steps),
    )


def _known(flows: Iterable[str]) -> str:
    names = sorted(flows)
    return f"known: {', '.join(names)}" if names else "there are no flows"
