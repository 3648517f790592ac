"""The inbox's team work: private notes with @mentions, saved replies, labels on conversations.

A blueprint nested in the inbox's (`bot/web/inbox.py`), so its login, CSRF and error pages
cover every route here.
"""

from __future__ import annotations

import heapq
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from bot.campaigns.audience import Recipient
from bot.conversations.inbox_lists import ConversationPage, person_in
from bot.conversations.labels import (
    LabelInfo,
    LabelRefused,
    add_label,
    create_label,
    known_labels,
    labels_on,
    remove_label,
)
from bot.conversations.notes import (
    MAX_NOTE_CHARS,
    NoteRefused,
    add_note,
    mark_mention_read,
    person_notes,
    unread_mentions,
)
from bot.engine.conversation_labels import LabelsFile
from bot.web import context
from bot.web.errors import problem

bp = Blueprint("team", __name__)

JSON_ENDPOINTS = frozenset({"inbox.team.saved_reply"})


def conversation_extras(page: ConversationPage, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """What the conversation page adds for the team: its timeline with notes, labels, replies."""
    services = context.services()
    notes = [
        {
            "id": note.id,
            "kind": "note",
            "who": f"Note by {note.agent_name}",
            "body": note.body,
            "time": note.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            "at": note.created_at,
        }
        for note in person_notes(services.db, page.chat.subscriber_id)
    ]
    texts = [
        {**message, "at": row.created_at} for message, row in zip(messages, page.texts, strict=True)
    ]
    # Texts and notes, by time; a note written in the same instant as a text comes after it.
    timeline = list(heapq.merge(texts, notes, key=lambda entry: entry["at"]))
    on = labels_on(services.db, page.chat.id)
    return {
        "timeline": timeline,
        "labels_on": on,
        "labels_to_add": [
            label for label in _known(services.labels.current()) if label.name not in on
        ],
        "saved_replies": services.replies.current().replies,
        "max_note_chars": MAX_NOTE_CHARS,
    }


def queue_extras() -> dict[str, Any]:
    """What the queue page adds: the agent's unread mentions."""
    return {"mentions": unread_mentions(context.services().db, g.agent.id)}


def conversations_extras() -> dict[str, Any]:
    """What the conversations list adds: the labels to filter by, and the one chosen."""
    return {"labels": _known(context.services().labels.current()), "label": chosen_label()}


def chosen_label() -> str | None:
    """The `?label=` filter of the conversations list, or None."""
    written = request.args.get("label", "").strip().lower()[:40]
    return written or None


@bp.post("/conversations/<id:conversation_id>/notes")
def note(conversation_id: int) -> BaseResponse:
    """Add a private note; colleagues it names with @name get a mention."""
    try:
        added = add_note(
            context.services().db,
            conversation_id=conversation_id,
            agent_id=g.agent.id,
            body=request.form.get("body", ""),
            now=context.now(),
        )
    except NoteRefused as error:
        abort(422, description=str(error))
    told = f" Mentioned: {', '.join(added.mentioned)}." if added.mentioned else ""
    flash(f"Note added (agents only).{told}", "info")
    return redirect(url_for("inbox.conversation", conversation_id=conversation_id))


@bp.get("/mentions")
def mentions() -> str:
    """The agent's unread mentions, newest first (the navigation's Mentions badge counts them)."""
    return render_template("inbox/mentions.html", **queue_extras())


@bp.post("/mentions/<id:mention_id>/read")
def mention_read(mention_id: int) -> BaseResponse:
    """Mark one of your mentions read: it leaves your queue and mentions pages."""
    mark_mention_read(
        context.services().db, mention_id=mention_id, agent_id=g.agent.id, now=context.now()
    )
    back = url_for("inbox.team.mentions")
    return redirect(back if request.form.get("next") == back else url_for("inbox.queue"))


@bp.get("/conversations/<id:conversation_id>/replies/<shortcut>")
def saved_reply(conversation_id: int, shortcut: str) -> tuple[Response, int]:
    """A saved reply filled in for this conversation's person: {"shortcut", "title", "text"}."""
    services = context.services()
    reply = services.replies.current().find(shortcut)
    if reply is None:
        return problem(404, f"no saved reply /{shortcut[:40]}", field="shortcut")
    person = person_in(services.db, conversation_id)
    if person is None:
        abort(404, description="There is no such conversation.")
    recipient = Recipient(
        phone=person.phone, first_name=person.first_name, attributes=person.attributes or {}
    )
    settings = services.settings
    variables = recipient.template_variables(
        brand=settings.BRAND_NAME, support=settings.SUPPORT_CONTACT
    )
    body = {"shortcut": reply.shortcut, "title": reply.title, "text": reply.render(variables)}
    return jsonify(body), 200


@bp.route("/labels", methods=["GET", "POST"])
def labels() -> BaseResponse | tuple[str, int] | str:
    """Every label; admins create new ones here."""
    services = context.services()
    if request.method == "GET":
        return _labels_page(None, 200)
    if not g.agent.is_admin:
        abort(403, description="Only an admin can create labels.")
    known = {label.name for label in _known(services.labels.current())}
    try:
        name = create_label(
            services.db,
            written=request.form.get("name", ""),
            agent_id=g.agent.id,
            known=known,
            now=context.now(),
        )
    except LabelRefused as error:
        return _labels_page(str(error), 422)
    flash(f"Label {name} created.", "info")
    return redirect(url_for("inbox.team.labels"))


@bp.post("/conversations/<id:conversation_id>/labels")
def label_add(conversation_id: int) -> BaseResponse:
    """Put a label on the conversation."""
    services = context.services()
    try:
        add_label(
            services.db,
            conversation_id=conversation_id,
            written=request.form.get("label", ""),
            agent_id=g.agent.id,
            known={label.name for label in _known(services.labels.current())},
            now=context.now(),
        )
    except LabelRefused as error:
        abort(422, description=str(error))
    return redirect(url_for("inbox.conversation", conversation_id=conversation_id))


@bp.post("/conversations/<id:conversation_id>/labels/remove")
def label_remove(conversation_id: int) -> BaseResponse:
    """Take a label off the conversation."""
    try:
        remove_label(
            context.services().db,
            conversation_id=conversation_id,
            written=request.form.get("label", ""),
        )
    except LabelRefused as error:
        abort(404, description=str(error))
    return redirect(url_for("inbox.conversation", conversation_id=conversation_id))


def _known(from_file: LabelsFile) -> list[LabelInfo]:
    return known_labels(context.services().db, from_file)


def _labels_page(error: str | None, status: int) -> tuple[str, int]:
    labels = _known(context.services().labels.current())
    return render_template("inbox/labels.html", labels=labels, error=error), status
