"""What flows achieved: conversations started and finished, the funnel of steps, the answers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from sqlalchemy import Select, Text, case, cast, distinct, func, not_, or_, select
from sqlalchemy.engine import Connection

from bot.conversations.flow_registry import FlowCatalog
from bot.domain.vocabulary import ConversationStatus
from bot.engine.answers import AnswerKind
from bot.engine.labels import step_label
from bot.engine.model import Flow
from bot.engine.steps.ask import AskStep
from bot.engine.steps.split import SplitStep
from bot.store.models import status_is
from bot.store.tables import ANSWERS, CONVERSATIONS
from bot.store.tables import STEP_VISITS as VISITS

COMPLETED = "completed"  # the end_reason of a conversation that reached the end of its flow
# Endings that also mean the flow did its job: the event it was waiting for came (an order ends
# the cart reminders), or it handed the person on to another flow (start_flow).
SUCCESSFUL_ENDING = or_(
    CONVERSATIONS.c.end_reason == COMPLETED,
    CONVERSATIONS.c.end_reason.like("cancelled by %"),
    CONVERSATIONS.c.end_reason.like("started %"),
)
LATEST_TEXTS = 20  # free-text questions show their latest answers, not a tally
FREE_TEXT = frozenset({AnswerKind.TEXT, AnswerKind.EMAIL})
EXPORT_BATCH = 1000  # rows fetched from the database at a time while exporting


class AnswerRow(NamedTuple):
    """One answer, as an export writes it."""

    answered_at: str  # ISO 8601, UTC
    phone: str
    flow: str
    step: str
    name: str
    value: str  # strings as they are, anything else JSON-encoded
    conversation_id: int


EXPORT_COLUMNS = AnswerRow._fields


def flow_summaries(connection: Connection, catalog: FlowCatalog) -> list[dict[str, Any]]:
    """Each flow in force, by name: what it is, what starts it, and how it has done."""
    names = sorted(catalog.flows)
    conversations = _conversation_counts(connection, names)
    answers = _counts_by_key(
        connection,
        select(ANSWERS.c.flow, func.count())
        .where(ANSWERS.c.flow.in_(names))
        .group_by(ANSWERS.c.flow),
    )
    summaries = []
    for name in names:
        flow = catalog.flows[name]
        summaries.append(
            {
                "name": flow.name,
                "description": flow.description,
                "triggers": {
                    "keywords": list(flow.triggers.keywords),
                    "events": list(flow.triggers.events),
                    "intents": list(flow.triggers.intents),
                },
                "promotional": flow.settings.promotional,
                **conversations.get(name, _NO_CONVERSATIONS),
                "answers": answers.get(name, 0),
            }
        )
    return summaries


def flow_results(connection: Connection, flow: Flow) -> dict[str, Any]:
    """One flow's funnel (reached and dropped out per step, in file order) and its answers."""
    reached = _counts_by_key(
        connection,
        select(VISITS.c.step, func.count(distinct(VISITS.c.conversation_id)))
        .where(VISITS.c.flow == flow.name)
        .group_by(VISITS.c.step),
    )
    answered = _counts_by_key(
        connection,
        select(ANSWERS.c.step, func.count())
        .where(ANSWERS.c.flow == flow.name)
        .group_by(ANSWERS.c.step),
    )
    dropped_out = _dropped_out(connection, flow.name)
    distributions = _distributions(connection, flow)
    return {
        "flow": flow.name,
        **_conversation_counts(connection, [flow.name]).get(flow.name, _NO_CONVERSATIONS),
        "steps": [
            {
                "step": step.id,
                "label": step_label(flow, step),
                "kind": step.kind,
                "reached": reached.get(step.id, 0),
                "dropped_out": dropped_out.get(step.id, 0),
                "answers": answered.get(step.id, 0),
            }
            for step in flow.steps
        ],
        "answers": distributions,
        "splits": _splits(connection, flow),
        "questions": [
            {
                "step": step.id,
                "question": step.question.source,
                "save_as": step.save_as,
                "expect": step.spec.kind.value,
                "answers": distributions[step.id],
            }
            for step in flow.steps
            if isinstance(step, AskStep)
        ],
    }


def _splits(connection: Connection, flow: Flow) -> list[dict[str, Any]]:
    """Each `split` step's branches: their weight and the people (runs) who went down each."""
    results = []
    for step in flow.steps:
        if not isinstance(step, SplitStep):
            continue
        through = select(VISITS.c.conversation_id).where(
            VISITS.c.flow == flow.name, VISITS.c.step == step.id
        )
        taken = _counts_by_key(
            connection,
            select(VISITS.c.step, func.count(distinct(VISITS.c.conversation_id)))
            .where(
                VISITS.c.flow == flow.name,
                VISITS.c.step.in_([arm.target for arm in step.arms]),
                VISITS.c.conversation_id.in_(through),
            )
            .group_by(VISITS.c.step),
        )
        branches = [
            {"goto": arm.target, "weight": arm.weight, "people": taken.get(arm.target, 0)}
            for arm in step.arms
        ]
        results.append({"step": step.id, "branches": branches})
    return results


def answer_rows(connection: Connection, flow_name: str) -> Iterator[AnswerRow]:
    """A flow's answers, oldest first, in batches (consume it while `connection` is open)."""
    result = connection.execute(
        select(
            ANSWERS.c.created_at,
            ANSWERS.c.phone,
            ANSWERS.c.flow,
            ANSWERS.c.step,
            ANSWERS.c.name,
            ANSWERS.c.value,
            ANSWERS.c.conversation_id,
        )
        .where(ANSWERS.c.flow == flow_name)
        .order_by(ANSWERS.c.created_at, ANSWERS.c.id),
        execution_options={"yield_per": EXPORT_BATCH},
    )
    for row in result:
        yield AnswerRow(
            answered_at=row.created_at.isoformat(),
            phone=row.phone,
            flow=row.flow,
            step=row.step,
            name=row.name,
            value=answer_text(row.value),
            conversation_id=row.conversation_id,
        )


def has_answers(connection: Connection, flow_name: str) -> bool:
    """Whether any answer to this flow is stored (the flow file may be gone since)."""
    return (
        connection.execute(select(ANSWERS.c.id).where(ANSWERS.c.flow == flow_name).limit(1)).first()
        is not None
    )


def answer_text(value: Any) -> str:
    """An answer as text: a string as it is, anything else (10, true, 7.5) as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


_NO_CONVERSATIONS: Mapping[str, int] = {"started": 0, "completed": 0, "active": 0}


def _conversation_counts(connection: Connection, names: Iterable[str]) -> dict[str, dict[str, int]]:
    rows = connection.execute(
        select(
            CONVERSATIONS.c.flow,
            func.count(),
            func.sum(case((SUCCESSFUL_ENDING, 1), else_=0)),
            func.sum(
                case(
                    (status_is(CONVERSATIONS.c.status, ConversationStatus.ACTIVE), 1),
                    else_=0,
                )
            ),
        )
        .where(CONVERSATIONS.c.flow.in_(list(names)))
        .group_by(CONVERSATIONS.c.flow)
    )
    return {
        flow: {"started": started, "completed": int(completed), "active": int(active)}
        for flow, started, completed, active in rows
    }


def _dropped_out(connection: Connection, flow_name: str) -> dict[str, int]:
    # Visits of one conversation are written one turn at a time under its row lock, so the
    # highest id is the step it was on when it ended.
    last_visit = (
        select(VISITS.c.conversation_id, func.max(VISITS.c.id).label("visit_id"))
        .where(VISITS.c.flow == flow_name)
        .group_by(VISITS.c.conversation_id)
        .subquery()
    )
    return _counts_by_key(
        connection,
        select(VISITS.c.step, func.count())
        .select_from(last_visit)
        .join(VISITS, VISITS.c.id == last_visit.c.visit_id)
        .join(CONVERSATIONS, CONVERSATIONS.c.id == last_visit.c.conversation_id)
        .where(
            status_is(CONVERSATIONS.c.status, ConversationStatus.ENDED),
            or_(CONVERSATIONS.c.end_reason.is_(None), not_(SUCCESSFUL_ENDING)),
        )
        .group_by(VISITS.c.step),
    )


def _counts_by_key(connection: Connection, statement: Select[str, int]) -> dict[str, int]:
    return {key: count for key, count in connection.execute(statement)}


def _distributions(connection: Connection, flow: Flow) -> dict[str, Any]:
    """Per question: a {value: count} tally, or the latest answers for free text."""
    questions = [step for step in flow.steps if isinstance(step, AskStep)]
    tallied = [step.id for step in questions if step.spec.kind not in FREE_TEXT]
    # Grouped on the stored JSON text: PostgreSQL's json type cannot be compared, its text can.
    stored = cast(ANSWERS.c.value, Text)
    tallies: dict[str, dict[str, int]] = {step_id: {} for step_id in tallied}
    rows = connection.execute(
        select(ANSWERS.c.step, stored, func.count())
        .where(ANSWERS.c.flow == flow.name, ANSWERS.c.step.in_(tallied))
        .group_by(ANSWERS.c.step, stored)
        .order_by(func.count().desc(), stored)
    )
    for step_id, json_text, count in rows:
        value = None if json_text is None else json.loads(json_text)
        label = answer_text(value)
        tallies[step_id][label] = tallies[step_id].get(label, 0) + count
    distributions: dict[str, Any] = {}
    for step in questions:
        if step.spec.kind in FREE_TEXT:
            distributions[step.id] = _latest_answers(connection, flow.name, step.id)
        else:
            distributions[step.id] = tallies[step.id]
    return distributions


def _latest_answers(connection: Connection, flow_name: str, step_id: str) -> list[str]:
    values = connection.execute(
        select(ANSWERS.c.value)
        .where(ANSWERS.c.flow == flow_name, ANSWERS.c.step == step_id)
        .order_by(ANSWERS.c.created_at.desc(), ANSWERS.c.id.desc())
        .limit(LATEST_TEXTS)
    ).scalars()
    return [answer_text(value) for value in values]
