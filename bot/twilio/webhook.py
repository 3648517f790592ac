"""The Twilio edge: inbound texts and status callbacks."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request

from bot.conversations.service import InboundResult, SidInUse
from bot.conversations.turn import PendingAction
from bot.sending.status_updates import apply_status_update
from bot.twilio.forms import FORM_TYPES, BadField, parse_inbound, parse_status
from bot.twilio.paths import INBOUND_SMS_PATH, PREFIX, STATUS_CALLBACK_PATH
from bot.twilio.signature import twilio_signed
from bot.twilio.twiml import TwimlMessage, messaging_response
from bot.web import context
from bot.web.errors import problem

log = logging.getLogger(__name__)

bp = Blueprint("twilio", __name__, url_prefix=PREFIX)


@bp.before_request
def _forms_only() -> tuple[Response, int] | None:
    if request.mimetype not in FORM_TYPES:
        return problem(415, "Twilio webhooks are form-encoded (application/x-www-form-urlencoded)")
    return None


@bp.post(INBOUND_SMS_PATH.removeprefix(PREFIX))
@twilio_signed
def inbound_sms() -> Response | tuple[Response, int]:
    """A customer's text: answer with TwiML."""
    parley = context.services()
    try:
        sms = parse_inbound(
            request.form,
            default_region=parley.settings.DEFAULT_COUNTRY,
            max_body_chars=parley.settings.MAX_BODY_CHARS,
        )
    except BadField as error:
        return problem(400, error.message, field=error.field)
    try:
        result = parley.conversations.handle_inbound(sms)
    except SidInUse:
        return problem(409, "MessageSid is already used by another message", field="MessageSid")
    if result.duplicate:
        log.info("MessageSid %s seen before: answering as the first time", sms.message_sid)
    if result.action is not None:
        _after_answer(result, result.action)
    return Response(_twiml(result), mimetype="application/xml")


def _after_answer(result: InboundResult, action: PendingAction) -> None:
    """Make the turn's call (a custom action, an http step's) once the webhook has answered,
    and send what follows."""
    parley = context.services()
    # Off the request thread: a sync worker waiting on an action server answers nobody else.
    # A failure, a full pool or a crash loses nothing: the calling step's timer calls again.
    parley.action_pool.submit(
        lambda: parley.conversations.after_answer(result, parley.dispatcher.send),
        f"{action.describe()} after the answer to {action.phone}",
    )


@bp.post(STATUS_CALLBACK_PATH.removeprefix(PREFIX))
@twilio_signed
def status_callback() -> Response | tuple[Response, int]:
    """A delivery report for one of our texts; stale or repeated reports change nothing."""
    try:
        update = parse_status(request.form, request.args.get("mid"))
    except BadField as error:
        return problem(400, error.message, field=error.field)
    if update is not None:
        parley = context.services()
        apply_status_update(db=parley.db, update_=update, now=parley.conversations.clock())
    return Response(status=204)


def _twiml(result: InboundResult) -> str:
    public_url = context.services().settings.PUBLIC_URL
    # Twilio reports each reply's fate to `action`; `mid` ties the report to our row.
    return messaging_response(
        TwimlMessage(
            reply.body, f"{public_url or ''}{STATUS_CALLBACK_PATH}?mid={reply.id}", reply.media_urls
        )
        for reply in result.replies
    )
