"""The public sign-up page: /join, its "text JOIN" QR code, and the form a shop can embed.

A valid sign-up goes the way of every web-form sign-up (`ConversationService.sign_up`): the
number becomes PENDING, the double opt-in text goes out, and the ledger keeps the source and
the very consent wording the page showed. No login and no cookie: the form carries a signed
token (`bot.web.csrf.public_form_token`), so it also works inside a shop's iframe.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import segno
from flask import Blueprint, Response, abort, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from bot.conversations.signup import OptedOutBySms
from bot.conversations.signup_limits import SignupLimits, TooManySignups, reserve_signup
from bot.domain.phones import InvalidPhone, normalise_phone
from bot.domain.signup_page import (
    InvalidSource,
    consent_wording,
    page_source,
    sms_link,
    wording_digest,
)
from bot.settings import Settings
from bot.web import context
from bot.web.csrf import public_form_ok, public_form_token

bp = Blueprint("join", __name__, url_prefix="/join")

MAX_FIRST_NAME = 100  # subscriber.first_name holds this much
DEFAULT_KEYWORD = "JOIN"


@dataclass(frozen=True)
class JoinPage:
    """What the page shows: the brand, the consent wording, the incentive, the texting link.

    `incentive` is INCENTIVE, the same words the double opt-in invitation names.
    """

    brand: str
    wording: str
    incentive: str
    sms_link: str | None
    keyword: str

    @classmethod
    def of(cls, settings: Settings) -> JoinPage:
        number = settings.join_number
        keyword = settings.join_keywords[0] if settings.join_keywords else DEFAULT_KEYWORD
        return cls(
            brand=settings.BRAND_NAME,
            wording=consent_wording(settings.JOIN_CONSENT_TEXT, brand=settings.BRAND_NAME),
            incentive=settings.INCENTIVE.strip(),
            sms_link=sms_link(number, keyword) if number else None,
            keyword=keyword,
        )


@bp.after_request
def _security_headers(response: Response) -> Response:
    """Nothing runs but our stylesheet; only the shops named in JOIN_EMBED_ORIGINS may frame it."""
    origins = context.services().settings.JOIN_EMBED_ORIGINS
    framers = origins or "'none'"
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        f"base-uri 'none'; frame-ancestors {framers}",
    )
    if not origins:
        response.headers.setdefault("X-Frame-Options", "DENY")  # for browsers without CSP 2
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")  # each form has its own token
    return response


@bp.errorhandler(HTTPException)
def _error_page(error: HTTPException) -> tuple[str, int]:
    code = error.code or 500
    return render_template("join/error.html", title=error.name, detail=error.description), code


@bp.get("")
def form() -> tuple[str, int]:
    """The sign-up form; `?source=` tags where the visitor came from (in the ledger)."""
    page = _page()
    tag = request.args.get("source", "")
    try:
        page_source(tag)
    except InvalidSource as error:
        abort(400, description=str(error))
    return _form(page, tag=tag), 200


@bp.post("")
def sign_up() -> tuple[str, int] | Response:
    """Sign the number up: the double opt-in text goes out, and the page says to look for it."""
    page = _page()
    if not public_form_ok(wording_digest(page.wording)):
        # An old form, another site's, or one that showed other words: show the page afresh,
        # the box unticked, for the person to agree to the words it shows now.
        error = "This form had expired. Please tick the box again and send it."
        values = {**_values(), "consent": ""}
        return _form(page, tag=_field("source"), error=error, values=values), 400
    values = _values()
    problem = _check(values)
    if problem is not None:
        field, message = problem
        return _form(page, tag=values["source"], error=message, field=field, values=values), 422
    parley = context.services()
    phone = _phone(values["phone"])
    try:
        reserve_signup(
            parley.db,
            _limits(parley.settings),
            remote_addr=context.client_address(),
            phone=phone,
            now=context.now(),
        )
        result = parley.conversations.sign_up(
            phone,
            source=page_source(values["source"]),
            consent_text=page.wording,
            first_name=values["first_name"] or None,
        )
    except TooManySignups as error:
        page_html = _form(page, tag=values["source"], error=str(error), values=values)
        return Response(page_html, 429, headers={"Retry-After": str(error.seconds)})
    except OptedOutBySms:
        message = "This number opted out by text. To join again, text START from that phone."
        return _form(page, tag=values["source"], error=message, field="phone", values=values), 409
    parley.dispatcher.send(result.message_ids)
    return render_template("join/done.html", page=page), 200


@bp.get("/qr.svg")
def qr_code() -> Response:
    """A QR code of the "text JOIN" link: a phone's camera opens a text to the brand."""
    page = _page()
    if page.sms_link is None:
        abort(404, description="No number to text is set (JOIN_SMS_NUMBER or TWILIO_FROM).")
    svg = io.BytesIO()
    segno.make(page.sms_link, error="m").save(svg, kind="svg", scale=8, title=page.sms_link)
    response = Response(svg.getvalue(), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def _page() -> JoinPage:
    return JoinPage.of(context.services().settings)


def _form(
    page: JoinPage,
    *,
    tag: str,
    error: str | None = None,
    field: str | None = None,
    values: dict[str, str] | None = None,
) -> str:
    """The form, with a fresh token bound to the wording it shows."""
    return render_template(
        "join/form.html",
        page=page,
        token=public_form_token(wording_digest(page.wording)),
        source=tag if _valid_tag(tag) else "",
        qr_url=url_for("join.qr_code") if page.sms_link else None,
        error=error,
        field=field,
        values=values or {"phone": "", "first_name": "", "consent": ""},
    )


def _values() -> dict[str, str]:
    return {name: _field(name) for name in ("phone", "first_name", "consent", "source")}


def _field(name: str) -> str:
    return request.form.get(name, "").strip()


def _check(values: dict[str, str]) -> tuple[str, str] | None:
    """(field, what is wrong) for the first unusable value, else None."""
    try:
        page_source(values["source"])
    except InvalidSource as error:
        return "source", str(error)
    try:
        _phone(values["phone"])
    except InvalidPhone as error:
        return "phone", f"Please enter the mobile number to text: {error}."
    name = values["first_name"]
    if len(name) > MAX_FIRST_NAME or any(ord(char) < 32 or ord(char) == 127 for char in name):
        return "first_name", f"Your first name: at most {MAX_FIRST_NAME} letters, on one line."
    if values["consent"] != "yes":
        return "consent", "Please tick the box to agree to receive texts."
    return None


def _phone(raw: str) -> str:
    return normalise_phone(raw[:40], context.services().settings.DEFAULT_COUNTRY)


def _valid_tag(tag: str) -> bool:
    try:
        page_source(tag)
    except InvalidSource:
        return False
    return True


def _limits(settings: Settings) -> SignupLimits:
    return SignupLimits(settings.JOIN_LIMIT_PER_ADDRESS, settings.JOIN_LIMIT_PER_NUMBER)
