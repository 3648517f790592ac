"""The inbox's contacts: every subscriber, searched and paged, and one person's page, where an
agent texts them first, changes their tags, records an opt-out they asked for elsewhere, or
(an admin) erases them.

Nested in the inbox's blueprint (`/inbox/contacts`), so its rules hold here too: a logged-in
agent on every route, the CSRF token on every POST, the security headers and the error page.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from pydantic import ValidationError
from werkzeug.wrappers import Response as BaseResponse

from bot.conversations.contacts import (
    CONTACT_TEXTS,
    ContactSearch,
    contact_page,
    contact_phone,
    search_contacts,
)
from bot.conversations.opt_outs import MAX_NOTE_CHARS, record_opt_out
from bot.conversations.requests import ProfilePatch, UnknownNumber
from bot.conversations.takeover import ReplyRefused, TakeoverError, start_chat
from bot.privacy.bulk import erase_subscriber
from bot.sending.outbox import MAX_TEXT_CHARS
from bot.web import context
from bot.web.api_bodies import TagChanges
from bot.web.chat_state import SUBSCRIBER_STATUS
from bot.web.limits import MAX_ROW_ID, int_arg

bp = Blueprint("contacts", __name__, url_prefix="/contacts")

NO_SUCH_CONTACT = "There is no such contact."
MAX_SEARCH_CHARS = 100
BAD_TAG = "A tag is 1 to 64 characters on one line, without ';'."


@bp.get("")
def search() -> str:
    """Every contact, newest first, 50 a page; `q` finds a phone, first name, tag or
    `attribute=value`; `before` pages on."""
    query = request.args.get("q", "").strip()[:MAX_SEARCH_CHARS]
    before = int_arg("before", default=0, low=0, high=MAX_ROW_ID) or None
    found = ContactSearch.read(query, context.services().settings.DEFAULT_COUNTRY)
    page = search_contacts(context.services().db, found, before=before)
    return render_template(
        "inbox/contacts.html",
        contacts=page.contacts,
        next_before=page.next_before,
        paged=before is not None,
        query=query,
        statuses=SUBSCRIBER_STATUS,
    )


@bp.get("/<id:subscriber_id>")
def contact(subscriber_id: int, *, draft: str = "", error: str | None = None) -> str:
    """One person: profile, consent ledger, texts, answers, campaigns, clicks, orders, chats."""
    page = contact_page(context.services().db, subscriber_id)
    if page is None:
        abort(404, description=NO_SUCH_CONTACT)
    return render_template(
        "inbox/contact.html",
        page=page,
        person=page.subscriber,
        active=page.active,
        statuses=SUBSCRIBER_STATUS,
        draft=draft,
        error=error,
        max_text_chars=MAX_TEXT_CHARS,
        max_note_chars=MAX_NOTE_CHARS,
        texts_limit=CONTACT_TEXTS,
    )


@bp.post("/<id:subscriber_id>/text")
def text(subscriber_id: int) -> BaseResponse | tuple[str, int]:
    """Text the contact first as this agent (a support text), who then holds their chat."""
    phone = _phone_of(subscriber_id)
    body = request.form.get("body", "")
    if len(body) > MAX_TEXT_CHARS:
        too_long = f"A text can be at most {MAX_TEXT_CHARS} characters; this one has {len(body)}."
        return contact(subscriber_id, draft=body, error=too_long), 422
    try:
        conversation_id = start_chat(
            context.services(), phone=phone, agent_id=g.agent.id, body=body
        )
    except (TakeoverError, ReplyRefused) as refused:
        return contact(subscriber_id, draft=body, error=str(refused)), 409
    flash("Sent. You have this chat now: the bot is quiet until you hand it back.", "info")
    return redirect(url_for("inbox.conversation", conversation_id=conversation_id))


@bp.post("/<id:subscriber_id>/tags")
def tags(subscriber_id: int) -> BaseResponse | tuple[str, int]:
    """Add a tag (`add`) or take one off (`remove`), as PATCH /api/subscribers does."""
    phone = _phone_of(subscriber_id)
    asked = {key: [request.form[key].strip()] for key in ("add", "remove") if key in request.form}
    try:
        changes = TagChanges.model_validate(asked)
    except ValidationError:
        return contact(subscriber_id, error=BAD_TAG), 422
    if not changes.add and not changes.remove:
        return contact(subscriber_id, error="Name a tag to add or remove."), 422
    patch = ProfilePatch(add_tags=tuple(changes.add), remove_tags=tuple(changes.remove))
    try:
        context.services().conversations.update_profile(phone, patch)
    except UnknownNumber:
        abort(404, description=NO_SUCH_CONTACT)
    return redirect(url_for("inbox.contacts.contact", subscriber_id=subscriber_id))


@bp.post("/<id:subscriber_id>/opt-out")
def opt_out(subscriber_id: int) -> BaseResponse | tuple[str, int]:
    """Record that the person asked, by another channel, to get no more texts."""
    phone = _phone_of(subscriber_id)
    note = request.form.get("note", "").strip()
    if len(note) > MAX_NOTE_CHARS:
        too_long = f"How they asked: at most {MAX_NOTE_CHARS} characters, not {len(note)}."
        return contact(subscriber_id, error=too_long), 422
    done = record_opt_out(
        context.services().conversations, phone, agent_email=g.agent.email, note=note
    )
    told = "Opted out: in the consent ledger under your name." if done else "Already opted out."
    flash(told, "info")
    return redirect(url_for("inbox.contacts.contact", subscriber_id=subscriber_id))


@bp.post("/<id:subscriber_id>/erase")
def erase(subscriber_id: int) -> BaseResponse | tuple[str, int]:
    """Admins: erase the person's data, as `bot subscribers erase` does."""
    if not g.agent.is_admin:
        abort(403, description="Only an admin can erase a person's data.")
    phone = _phone_of(subscriber_id)
    if request.form.get("confirm") != "yes":
        return contact(subscriber_id, error="Tick the box to confirm the erasure first."), 422
    erase_subscriber(context.services().db, phone, context.now())
    flash("Erased: texts, answers and profile are gone; the number stays opted out.", "info")
    return redirect(url_for("inbox.contacts.contact", subscriber_id=subscriber_id))


def _phone_of(subscriber_id: int) -> str:
    phone = contact_phone(context.services().db, subscriber_id)
    if phone is None:
        abort(404, description=NO_SUCH_CONTACT)
    return phone
