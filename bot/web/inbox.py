"""The agent inbox: log in, see who needs a human, take a chat over, reply, hand it back."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

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
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from bot.accounts.agents import (
    AgentError,
    TooManyAttempts,
    authenticate,
    change_password,
    list_agents,
    set_disabled,
)
from bot.accounts.presence import available_agents, set_available
from bot.accounts.sessions import (
    EndReason,
    end_agent_sessions,
    end_session,
    start_session,
)
from bot.conversations.assignment import (
    MAX_CAPACITY,
    AssignError,
    assign_by_hand,
    assign_waiting,
    set_capacity,
)
from bot.conversations.inbox_lists import (
    HISTORY_LIMIT,
    QUEUE_VIEWS,
    conversation_news,
    conversation_page,
    inbox_queue,
    queue_views,
    recent_conversations,
    texts_waiting_on_provider,
    waiting_people,
)
from bot.conversations.takeover import (
    CSAT_FLOW,
    ReplyRefused,
    TakeoverError,
    agent_reply,
    hand_back,
    mark_done,
    take_from_queue,
    take_over,
)
from bot.domain.segments import count_segments
from bot.domain.vocabulary import Direction, HandledBy
from bot.engine.answers import show_answer
from bot.engine.durations import format_duration
from bot.sending.outbox import MAX_TEXT_CHARS
from bot.store.db import transaction
from bot.web import contacts, context, notice_views, team
from bot.web.chat_state import chat_state
from bot.web.csrf import csrf_ok, csrf_token, renew_csrf_token
from bot.web.errors import problem
from bot.web.limits import MAX_ROW_ID, int_arg, whole_number

INBOX_PREFIX = "/inbox"
bp = Blueprint("inbox", __name__, url_prefix=INBOX_PREFIX)
bp.register_blueprint(contacts.bp)  # /inbox/contacts: under the inbox's rules (login, CSRF)
bp.register_blueprint(team.bp)  # notes, saved replies, labels: behind the same login and CSRF
bp.register_blueprint(notice_views.bp)  # /inbox/events: the agent's counts and news, same rules

PUBLIC_ENDPOINTS = frozenset({"inbox.login"})
JSON_ENDPOINTS = (
    frozenset({"inbox.segments", "inbox.events"})
    | team.JSON_ENDPOINTS
    | notice_views.JSON_ENDPOINTS
)
NO_SUCH_CONVERSATION = "There is no such conversation."
MAX_SEGMENT_TEXT = 10_000  # the live counter's input; more is not a draft but an attack
SECURITY_HEADERS = {
    # Only our own files run: a customer's text can never become a script.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@bp.before_request
def _require_agent() -> BaseResponse | tuple[BaseResponse, int] | None:
    """Every page but the login needs an enabled agent; every POST needs the CSRF token."""
    g.agent = None
    if request.endpoint not in PUBLIC_ENDPOINTS:
        g.agent = context.logged_in_agent(
            touch=request.endpoint not in notice_views.PASSIVE_ENDPOINTS
        )
        if g.agent is None:
            session.pop(context.SESSION_TOKEN, None)
            if request.endpoint in JSON_ENDPOINTS:
                return problem(401, "log in to the inbox first")
            return redirect(url_for("inbox.login", next=context.here()))
    if request.method == "POST" and not csrf_ok():
        abort(400, description="csrf")
    return None


@bp.after_request
def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@bp.context_processor
def template_globals() -> dict[str, Any]:
    """What every inbox page's template may use (the analytics pages share it)."""
    return {"csrf_token": csrf_token, "agent": g.get("agent"), "unread": notice_views.unread}


# Every page of the inbox (the analytics pages too) shows an answer as a person writes it.
bp.add_app_template_filter(show_answer, "answer")


@bp.errorhandler(HTTPException)
def _error_page(error: HTTPException) -> tuple[Response | str, int]:
    code = error.code or 500
    if request.endpoint in JSON_ENDPOINTS:
        return problem(code, error.description or error.name)
    if error.description == "csrf":
        title = "This form has expired"
        detail = (
            "The form did not carry this session's security token (it was open before you "
            "logged in again, or it came from another site). Nothing was changed: go back, "
            "reload the page and try again."
        )
    else:
        title, detail = error.name, error.description or ""
    return render_template("inbox/error.html", title=title, detail=detail), code


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | tuple[str, int] | str:
    """The login form, and logging in with it."""
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if context.logged_in_agent() is not None:
            return redirect(next_url)
        csrf_token()
        return render_template("inbox/login.html", next=next_url, email="", error=None)
    email = request.form.get("email", "")
    password = request.form.get("password", "")
    try:
        services = context.services()
        agent = authenticate(
            services.db,
            email,
            password,
            context.client_address(),
            context.now(),
            check_password=services.check_password,
        )
    except TooManyAttempts as error:
        return _login_failed(str(error), email, next_url, 429, retry_after=error.seconds)
    if agent is None:
        return _login_failed("Wrong email or password.", email, next_url, 401)
    assert agent.id is not None  # a stored agent always has its id
    _start_session(agent.id)
    _assign_round()  # an agent who left available is back: waiting people may go to them
    return redirect(next_url)


@bp.post("/logout")
def logout() -> BaseResponse:
    """End this browser's session: a copy of its cookie opens nothing from now on."""
    end_session(
        context.services().db,
        session.get(context.SESSION_TOKEN),
        EndReason.LOGOUT,
        now=context.now(),
    )
    return _logged_out("You are logged out.")


@bp.post("/logout-everywhere")
def logout_everywhere() -> BaseResponse:
    """End every session of this agent, on every browser and device."""
    with transaction(context.services().db) as connection:
        end_agent_sessions(connection, g.agent.id, EndReason.LOGOUT_EVERYWHERE, now=context.now())
    return _logged_out("You are logged out everywhere.")


@bp.route("/account", methods=["GET", "POST"])
def account() -> BaseResponse | tuple[str, int] | str:
    """The agent's own account: change the password (which ends every session of theirs)."""
    if request.method == "GET":
        return render_template("inbox/account.html", error=None)
    new = request.form.get("new_password", "")
    if new != request.form.get("confirm_password", ""):
        return _account_refused("The new passwords do not match.", 422)
    try:
        services = context.services()
        change_password(
            services.db,
            g.agent.id,
            request.form.get("current_password", ""),
            new,
            context.client_address(),
            context.now(),
            check_password=services.check_password,
        )
    except TooManyAttempts as error:
        return _account_refused(str(error), 429)
    except AgentError as error:
        return _account_refused(f"{str(error).capitalize()}.", 422)
    # Every session ended with the change; this browser gets a new one.
    _start_session(g.agent.id)
    flash("Your password is changed; you are logged out everywhere else.", "info")
    return redirect(url_for("inbox.account"))


@bp.get("/")
def queue() -> str:
    """Chats waiting for a human, oldest first, and the chats this agent holds; `view` shows
    those assigned to this agent (mine), to nobody (unassigned) or everything (all)."""
    view = request.args.get("view", "all")
    if view not in QUEUE_VIEWS:
        abort(400, description=f"view: one of {', '.join(QUEUE_VIEWS)}, not {view[:20]!r}")
    db = context.services().db
    items = inbox_queue(db, g.agent.id)
    waiting = [item for item in items if item.handled_by is HandledBy.WAITING_FOR_AGENT]
    mine = [item for item in items if item.handled_by is HandledBy.AGENT]
    views = queue_views(waiting, waiting_people(db), g.agent.id)
    return render_template(
        "inbox/queue.html",
        view=view,
        views=views,
        waiting=views[view].waiting,
        mine=mine,
        people=views[view].people,
        provider=texts_waiting_on_provider(db),
        retry_window=format_duration(context.services().settings.SEND_RETRY_WINDOW),
        **team.queue_extras(),
    )


@bp.get("/conversations")
def conversations() -> str:
    """Recent conversations, active and ended, newest first; `q` searches phone or first name,
    `label` keeps those with that label."""
    query = request.args.get("q", "").strip()[:100]
    items = recent_conversations(context.services().db, query or None, label=team.chosen_label())
    return render_template(
        "inbox/conversations.html", items=items, query=query, **team.conversations_extras()
    )


@bp.get("/conversations/<id:conversation_id>")
def conversation(conversation_id: int, *, draft: str = "", error: str | None = None) -> str:
    """One subscriber's whole history, with the takeover buttons and the reply box."""
    page = conversation_page(context.services().db, conversation_id)
    if page is None:
        abort(404, description=NO_SUCH_CONVERSATION)
    messages = [_message(row) for row in page.texts]
    return render_template(
        "inbox/conversation.html",
        chat=page.chat,
        state=chat_state(page.chat, g.agent.id),
        subscriber=page.subscriber,
        messages=messages,
        answers=page.answers,
        consent=page.consent,
        others=page.others,
        unanswered=page.unanswered,
        colleagues=[each for each in list_agents(context.services().db) if not each.disabled],
        last_id=messages[-1]["id"] if messages else 0,
        draft=draft,
        error=error,
        max_reply_chars=MAX_TEXT_CHARS,
        history_limit=HISTORY_LIMIT,
        **team.conversation_extras(page, messages),
        rating_question=_rating_question(),
    )


@bp.get("/conversations/<id:conversation_id>/events")
def events(conversation_id: int) -> tuple[Response, int]:
    """What changed since the page loaded: new texts, delivery statuses, who has the chat."""
    after = int_arg("after", default=0, low=0, high=MAX_ROW_ID)
    news = conversation_news(context.services().db, conversation_id, after=after)
    if news is None:
        abort(404, description=NO_SUCH_CONVERSATION)
    body = {
        "messages": [_message(row) for row in news.texts],
        "statuses": {str(text_id): str(status) for text_id, status in news.statuses.items()},
        "conversation": chat_state(news.chat, g.agent.id).as_json(),
    }
    return jsonify(body), 200


@bp.post("/conversations/<id:conversation_id>/take")
def take(conversation_id: int) -> BaseResponse:
    """Take the chat over: the bot goes quiet until it is handed back."""
    try:
        take_over(context.services(), conversation_id=conversation_id, agent_id=g.agent.id)
    except TakeoverError as error:
        flash(str(error), "error")
    else:
        flash("You have this chat now: the bot is quiet until you hand it back.", "info")
    return redirect(url_for("inbox.conversation", conversation_id=conversation_id))


@bp.post("/conversations/<id:conversation_id>/hand-back")
def give_back(conversation_id: int) -> BaseResponse:
    """Give the chat back to the bot; with the box ticked, the person is asked to rate it."""
    ask_rating = request.form.get("ask_rating") == "yes"
    try:
        hand_back(
            context.services(),
            conversation_id=conversation_id,
            agent_id=g.agent.id,
            ask_rating=ask_rating,
        )
    except TakeoverError as error:
        flash(str(error), "error")
    else:
        flash("Handed back to the bot.", "info")
    return redirect(url_for("inbox.conversation", conversation_id=conversation_id))


@bp.post("/conversations/<id:conversation_id>/assign")
def assign(conversation_id: int) -> BaseResponse:
    """Give the person to a colleague (a chat you hold goes with it), or back to round robin."""
    to_agent = _form_number("agent_id", low=1, high=MAX_ROW_ID)  # empty: round robin
    try:
        name = assign_by_hand(
            context.services().db,
            conversation_id=conversation_id,
            to_agent=to_agent,
            by_agent=g.agent.id,
            now=context.now(),
        )
    except AssignError as error:
        flash(str(error), "error")
    else:
        flash(f"Assigned to {name}." if name else "Back to round robin.", "info")
        _assign_round()
    return redirect(url_for("inbox.conversation", conversation_id=conversation_id))


@bp.post("/availability")
def availability() -> BaseResponse:
    """The agent's toggle: available for new chats, or away (their round-robin chats go on)."""
    available = request.form.get("available") == "1"
    set_available(context.services().db, g.agent.id, available)
    _assign_round()
    flash(
        "You are available: new chats come to you."
        if available
        else "You are away: no new chats come to you.",
        "info",
    )
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/conversations/<id:conversation_id>/reply")
def reply(conversation_id: int) -> BaseResponse | tuple[str, int]:
    """Text the customer as this agent; a refusal keeps the draft on the page."""
    body = request.form.get("body", "")
    if len(body) > MAX_TEXT_CHARS:
        problem_text = (
            f"A reply can be at most {MAX_TEXT_CHARS} characters; this one has {len(body)}."
        )
        return conversation(conversation_id, draft=body, error=problem_text), 422
    try:
        agent_reply(
            context.services(), conversation_id=conversation_id, agent_id=g.agent.id, body=body
        )
    except (TakeoverError, ReplyRefused) as error:
        return conversation(conversation_id, draft=body, error=str(error)), 409
    return redirect(url_for("inbox.conversation", conversation_id=conversation_id))


@bp.post("/texts/<int:text_id>/take")
def take_text(text_id: int) -> BaseResponse:
    """Take over the chat of someone whose text waits in the queue, to answer them."""
    try:
        conversation_id = take_from_queue(context.services(), text_id=text_id, agent_id=g.agent.id)
    except TakeoverError as error:
        flash(str(error), "error")
        return redirect(url_for("inbox.queue"))
    flash("You have this chat now: the bot is quiet until you hand it back.", "info")
    return redirect(url_for("inbox.conversation", conversation_id=conversation_id))


@bp.post("/texts/<int:text_id>/done")
def text_done(text_id: int) -> BaseResponse:
    """Take a person's texts (up to this one) out of the queue: they need no answer."""
    try:
        mark_done(context.services(), text_id=text_id, agent_id=g.agent.id)
    except TakeoverError as error:
        flash(str(error), "error")
    else:
        flash("Marked done: out of the queue.", "info")
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/segments")
def segments() -> tuple[Response, int]:
    """A draft's cost: {"segments", "encoding", "units", "left", "culprits"}; one implementation."""
    if request.is_json:
        payload = request.get_json(silent=True)
        text = payload.get("text") if isinstance(payload, dict) else None
    else:
        text = request.form.get("text")
    if not isinstance(text, str):
        return problem(422, 'send {"text": "..."}', field="text")
    if len(text) > MAX_SEGMENT_TEXT:
        return problem(422, f"text: at most {MAX_SEGMENT_TEXT} characters", field="text")
    info = count_segments(text)
    body = {
        "segments": info.segments,
        "encoding": str(info.encoding),
        "units": info.units,
        "left": info.units_left,
        "culprits": list(info.culprits),
    }
    return jsonify(body), 200


@bp.get("/agents")
def agents() -> str:
    """Admins: every agent, with a button to disable or enable each."""
    _require_admin()
    services = context.services()
    with services.db.connect() as connection:
        available = available_agents(
            connection, now=context.now(), away_after=services.settings.agent_away_after
        )
    return render_template(
        "inbox/agents.html",
        agents=list_agents(services.db),
        available=available,
        max_capacity=MAX_CAPACITY,
        away_minutes=f"{services.settings.AGENT_AWAY_MINUTES:g}",
    )


@bp.post("/agents/<id:agent_id>/capacity")
def agent_capacity(agent_id: int) -> BaseResponse:
    """Admins: how many open chats round robin may give an agent."""
    _require_admin()
    capacity = _form_number("capacity", low=0, high=MAX_CAPACITY)
    if capacity is None:
        abort(422, description=f"capacity: a whole number from 0 to {MAX_CAPACITY}")
    try:
        set_capacity(context.services().db, agent_id, capacity)
    except AssignError as error:
        abort(404, description=str(error))
    flash(f"Capacity set to {capacity}.", "info")
    _assign_round()
    return redirect(url_for("inbox.agents"))


@bp.post("/agents/<id:agent_id>/disable")
def disable_agent(agent_id: int) -> BaseResponse:
    """Admins: stop an agent from logging in; their open sessions end at once."""
    return _set_disabled(agent_id, disabled=True)


@bp.post("/agents/<id:agent_id>/enable")
def enable_agent(agent_id: int) -> BaseResponse:
    """Admins: let a disabled agent log in again."""
    return _set_disabled(agent_id, disabled=False)


def _set_disabled(agent_id: int, *, disabled: bool) -> BaseResponse:
    _require_admin()
    if disabled and agent_id == g.agent.id:
        flash("You cannot disable yourself.", "error")
        return redirect(url_for("inbox.agents"))
    target = next((a for a in list_agents(context.services().db) if a.id == agent_id), None)
    if target is None:
        abort(404, description="There is no such agent.")
    try:
        set_disabled(context.services().db, target.email, disabled, now=context.now())
    except AgentError as error:
        flash(str(error), "error")
    else:
        flash(f"{target.name} is {'disabled' if disabled else 'enabled'}.", "info")
        _assign_round()  # a disabled agent is away: their round-robin chats go round again
    return redirect(url_for("inbox.agents"))


def _form_number(name: str, *, low: int, high: int) -> int | None:
    """A form field as a whole number in [low, high], None when empty; 422 naming it if not."""
    try:
        return whole_number(request.form.get(name), low=low, high=high)
    except ValueError as error:
        abort(422, description=f"{name}: {error}")


def _assign_round() -> None:
    """Availability or a slot changed: give waiting people to whoever has room now."""
    services = context.services()
    assign_waiting(services.db, now=context.now(), away_after=services.settings.agent_away_after)


def _rating_question() -> dict[str, bool] | None:
    """The hand-back form's "ask for a rating" box: None when no `csat` flow is in force."""
    parley = context.services()
    if CSAT_FLOW not in parley.flows.catalog().flows:
        return None
    return {"ticked": parley.settings.CSAT_AFTER_HAND_BACK}


def _require_admin() -> None:
    if not g.agent.is_admin:
        abort(403, description="Only an admin can manage agents.")


def _start_session(agent_id: int) -> None:
    session.clear()  # nothing from before the login survives it (no session fixation)
    session[context.SESSION_TOKEN] = start_session(
        context.services().db,
        agent_id,
        user_agent=request.headers.get("User-Agent"),
        remote_addr=context.client_address(),
        now=context.now(),
    )
    renew_csrf_token()


def _logged_out(message: str) -> BaseResponse:
    session.clear()
    _assign_round()  # a logged-out agent is away: their round-robin chats go round again
    flash(message, "info")
    return redirect(url_for("inbox.login"))


def _account_refused(message: str, status: int) -> tuple[str, int]:
    return render_template("inbox/account.html", error=message), status


def _safe_next(raw: str | None) -> str:
    """Where to go after logging in: only a page of the inbox, never another site."""
    default = url_for("inbox.queue")
    if not raw:
        return default
    if any(ord(char) < 32 or ord(char) == 127 for char in raw):  # CR/LF would split the header
        return default
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or "\\" in raw or not parts.path.startswith(INBOX_PREFIX):
        return default
    return raw


def _login_failed(
    message: str, email: str, next_url: str, status: int, *, retry_after: int | None = None
) -> Response:
    page = render_template("inbox/login.html", next=next_url, email=email, error=message)
    response = Response(page, status=status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _message(row: Any) -> dict[str, Any]:
    if row.direction is Direction.INBOUND:
        kind, who = "customer", "Customer"
    elif row.agent_id is not None:
        kind, who = "agent", f"Agent {row.agent_name}"
    else:
        kind, who = "bot", f"Bot ({row.flow})" if row.flow else "Bot"
    return {
        "id": row.id,
        "kind": kind,
        "who": who,
        "body": row.body,
        "media_urls": list(row.media_urls or []),
        "status": str(row.status),
        "segments": row.segments,
        "encoding": row.encoding,
        "time": row.created_at.strftime("%Y-%m-%d %H:%M UTC"),
    }
