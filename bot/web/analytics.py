"""Analytics pages of the agent inbox: campaign results, flow funnels and the agents' reports,
with SVG charts."""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from bot.accounts.agents import list_agents
from bot.campaigns.decision import split_state
from bot.campaigns.parser import read_campaigns
from bot.campaigns.stats import (
    CampaignStats,
    campaign_stats,
    campaigns_with_texts,
    has_messages,
)
from bot.conversations.results import flow_results, flow_summaries
from bot.domain.spreadsheet import csv_writer
from bot.store.models import Agent
from bot.web import context, inbox
from bot.web.charts import COLORS, Series, bar_chart, funnel_chart, percent
from bot.web.report_views import REPORTS, BadPeriod, Period, period_from

bp = Blueprint("analytics", __name__, url_prefix="/inbox")


@bp.before_request
def _require_agent() -> BaseResponse | None:
    """The same rule as the inbox: only a logged-in, enabled agent sees these pages."""
    g.agent = context.logged_in_agent()
    if g.agent is None:
        return redirect(url_for("inbox.login", next=context.here()))
    return None


@bp.after_request
def _security_headers(response: Response) -> Response:
    for name, value in inbox.SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


bp.context_processor(inbox.template_globals)  # the same header: agent, badges, CSRF


@bp.errorhandler(HTTPException)
def _error_page(error: HTTPException) -> tuple[str, int]:
    title, detail = error.name, error.description or ""
    return render_template("inbox/error.html", title=title, detail=detail), error.code or 500


@bp.get("/campaigns")
def campaigns() -> str:
    """Every campaign, from its file or its texts, with sends, clicks, conversions, revenue."""
    files = _campaign_files()
    with context.services().db.connect() as connection:
        names = sorted(set(files) | campaigns_with_texts(connection))
        rows = [_stats(connection, name, files.get(name, [])) for name in names]
    return render_template("inbox/campaigns.html", rows=rows)


@bp.get("/campaigns/<name>")
def campaign(name: str) -> str:
    """One campaign: a row per variant, conversion and click rates charted, the winner."""
    files = _campaign_files()
    with context.services().db.connect() as connection:
        if name not in files and not has_messages(connection, name):
            abort(404, description=f"No campaign is named {name!r}.")
        stats = _stats(connection, name, files.get(name, []))
        test = split_state(connection, name)
    labels = [_variant_label(row.variant) for row in stats.variants]
    chart = bar_chart(
        f"Conversion and click rate per variant of {name}",
        labels,
        [
            Series("conversion rate", [row.conversion_rate for row in stats.variants], COLORS[0]),
            Series(
                "click rate",
                [row.clicked / row.sent if row.sent else 0.0 for row in stats.variants],
                COLORS[1],
            ),
        ],
        fmt=percent,
    )
    return render_template(
        "inbox/campaign.html", stats=stats, chart=chart, label=_variant_label, test=test
    )


@bp.get("/flows")
def flows() -> str:
    """Every flow in force with its conversation counts."""
    parley = context.services()
    with parley.db.connect() as connection:
        summaries = flow_summaries(connection, parley.flows.catalog())
    return render_template("inbox/flows.html", flows=summaries)


@bp.get("/flows/<name>")
def flow(name: str) -> str:
    """One flow's funnel: who reached each step and who dropped out there."""
    parley = context.services()
    found = parley.flows.catalog().flows.get(name)
    if found is None:
        abort(404, description=f"No flow named {name!r} is in force.")
    with parley.db.connect() as connection:
        results = flow_results(connection, found)
    steps = results["steps"]
    chart = funnel_chart(
        f"Funnel of {name}",
        [step["label"] for step in steps],
        [step["reached"] for step in steps],
        [step["dropped_out"] for step in steps],
    )
    questions = [(question, _answers_chart(question)) for question in results["questions"]]
    return render_template("inbox/flow.html", results=results, chart=chart, questions=questions)


@bp.get("/reports")
def reports() -> str:
    """Every agent's (admins too): response and resolution times, ratings, the queue per day."""
    period, agents = _period()
    now = context.now()
    with context.services().db.connect() as connection:
        charts = [
            (name, report.title, report.chart(connection, period, now))
            for name, report in REPORTS.items()
        ]
    return render_template("inbox/reports.html", period=period, agents=agents, charts=charts)


@bp.get("/reports/<report>.csv")
def report_csv(report: str) -> Response:
    """One report's numbers, as its chart shows them, for a spreadsheet."""
    found = REPORTS.get(report)
    if found is None:
        abort(404, description=f"No report is named {report!r}; there are {', '.join(REPORTS)}.")
    period, _ = _period()
    with context.services().db.connect() as connection:
        rows = found.rows(connection, period, context.now())
    buffer = io.StringIO()
    writer = csv_writer(buffer, lineterminator="\n")
    writer.writerow(found.columns)
    writer.writerows(rows)
    name = f"{report}-{period.first}-{period.last}.csv"
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _period() -> tuple[Period, list[Agent]]:
    """The period the query string asks for, and every agent (for the agent picker)."""
    agents = list_agents(context.services().db)
    try:
        period = period_from(
            request.args, context.now().date(), [a.id for a in agents if a.id is not None]
        )
    except BadPeriod as error:
        abort(400, description=f"{error}.")
    return period, agents


def _answers_chart(question: dict[str, Any]) -> Markup | None:
    """A question's answers as bars, most given first; None for free text (listed instead)."""
    tally = question["answers"]
    if not isinstance(tally, dict) or not tally:
        return None
    return bar_chart(
        f"Answers to {question['question']}",
        list(tally),
        [Series("answers", list(tally.values()), COLORS[1])],
    )


def _campaign_files() -> dict[str, list[str]]:
    """The campaigns defined in files, by name, with their variant names in file order."""
    parley = context.services()
    settings = parley.settings
    parsed = read_campaigns(
        settings.FLOWS_DIR, brand=settings.BRAND_NAME, flow_names=parley.flows.catalog().flows
    )
    return {
        item.campaign.name: [variant.name for variant in item.campaign.variants]
        for item in parsed
        if item.campaign is not None
    }


def _stats(connection: Any, name: str, variant_names: list[str]) -> CampaignStats:
    settings = context.services().settings
    return campaign_stats(
        connection,
        name,
        variant_names=variant_names,
        price_per_segment=settings.PRICE_PER_SEGMENT,
        price_per_mms=settings.PRICE_PER_MMS,
        currency=settings.CURRENCY,
        attribution_days=settings.ATTRIBUTION_DAYS,
    )


def _variant_label(variant: str | None) -> str:
    return "(no variant)" if variant is None else variant
