"""The API's OpenAPI document: in step with the routes, and the API held to it by schemathesis
on both databases (no 5xx, every response as documented)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from bot.app import create_app, services_of
from bot.sending.gateways.fake import FakeGateway
from bot.sending.outbox import MAX_TEXT_CHARS
from bot.web.api import MAX_PAGE, SUBSCRIBERS_PAGE, openapi
from bot.web.api_bodies import MAX_MEDIA
from bot.web.limits import MAX_ROW_ID
from tests.support.harness import API_KEY, make_settings
from tests.support.paths import SHIPPED_FLOWS
from tests.support.sms import ALICE

BEARER = {"Authorization": f"Bearer {API_KEY}"}
EXAMPLES = 25  # per operation and database: the suite has a budget
IGNORED_METHODS = {"HEAD", "OPTIONS"}  # Flask adds them to every route


def _flask_path(rule: str) -> str:
    """/api/flows/<name>/results as OpenAPI writes it: /api/flows/{name}/results."""
    parts = rule.replace(">", "<").split("<")
    return "".join(
        part if i % 2 == 0 else "{" + part.split(":")[-1] + "}" for i, part in enumerate(parts)
    )


def test_every_api_route_is_in_the_document_and_nothing_else(client) -> None:  # type: ignore[no-untyped-def]
    routes = {
        (_flask_path(rule.rule), method.lower())
        for rule in client.application.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in rule.methods or ()
        if method not in IGNORED_METHODS
    }
    documented = {(path, method) for path, item in openapi()["paths"].items() for method in item}
    assert routes == documented


def test_the_document_is_served_without_the_api_key(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json == openapi()
    assert response.json["openapi"].startswith("3.1")


def test_the_limits_a_client_can_hit_are_in_the_document() -> None:
    parameters = {
        p["name"]: p["schema"] for p in openapi()["paths"]["/api/messages"]["get"]["parameters"]
    }
    assert parameters["limit"]["maximum"] == MAX_PAGE
    assert parameters["after"]["maximum"] == MAX_ROW_ID
    signup = openapi()["components"]["schemas"]["SignupRequest"]["properties"]
    assert signup["first_name"]["anyOf"][0]["maxLength"] == 100
    listing = {
        p["name"]: p["schema"] for p in openapi()["paths"]["/api/subscribers"]["get"]["parameters"]
    }
    assert (listing["limit"]["maximum"], listing["limit"]["default"]) == (
        MAX_PAGE,
        SUBSCRIBERS_PAGE,
    )
    assert listing["after"]["maximum"] == MAX_ROW_ID
    text = openapi()["components"]["schemas"]["MessageRequest"]["properties"]
    assert text["body"]["maxLength"] == MAX_TEXT_CHARS
    assert text["media_urls"]["maxItems"] == MAX_MEDIA


def test_the_bodies_a_body_nests_are_in_the_document() -> None:
    schemas = openapi()["components"]["schemas"]
    assert schemas["ProfileChanges"]["properties"]["tags"]["$ref"] == (
        "#/components/schemas/TagChanges"
    )
    assert "TagChanges" in schemas


@pytest.fixture
def api_app(database_url: str) -> Iterator[Flask]:
    app = create_app(make_settings(database_url, FLOWS_DIR=SHIPPED_FLOWS), gateway=FakeGateway())
    app.config["TESTING"] = True
    yield app
    services_of(app).close()


OPERATIONS = sorted((path, method) for path, item in openapi()["paths"].items() for method in item)


def _with_a_real_phone(generated: tuple[schemathesis.Case, bool]) -> schemathesis.Case:
    """Half the valid cases use a real number: a random string is no phone, and would never get
    past the phone check to the database."""
    case, real = generated
    if real:
        for values in (case.query, case.path_parameters, case.body):
            if isinstance(values, dict) and "phone" in values:
                values["phone"] = ALICE
    return case


def _resolved(parameter: dict[str, Any]) -> dict[str, Any]:
    """A parameter as written, or the one its `$ref` names in the document's components."""
    reference = parameter.get("$ref")
    if reference is None:
        return parameter
    found: Any = openapi()
    for key in reference.removeprefix("#/").split("/"):
        found = found[key]
    return dict(found)


def _only_nominally_invalid(case: schemathesis.Case, documented_query: set[str]) -> bool:
    """A negative case whose invalid parts are an absent header we add anyway, or a query
    parameter the document does not name."""
    components = case.meta.components if case.meta is not None else {}
    if components.get(ParameterLocation.HEADER, None) is not None and (
        components[ParameterLocation.HEADER].mode is GenerationMode.NEGATIVE
    ):
        return True
    query = case.query if isinstance(case.query, dict) else {}
    return any(name not in documented_query for name in query)


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_the_api_keeps_to_its_document(api_app: Flask, path: str, method: str) -> None:
    """Valid and invalid requests alike: no 5xx, and every answer as the document says."""
    operation = schemathesis.openapi.from_wsgi("/api/openapi.json", api_app)[path][method]
    documented_query = {
        parameter["name"]
        for parameter in map(_resolved, openapi()["paths"][path][method].get("parameters", []))
        if parameter["in"] == "query"
    }
    requests = st.one_of(
        st.tuples(operation.as_strategy(GenerationMode.POSITIVE), st.booleans()).map(
            _with_a_real_phone
        ),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=requests)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,  # the same examples every run: CI is repeatable
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_documented(case: schemathesis.Case) -> None:
        # Two kinds of "invalid" request are not invalid here: one without the Authorization
        # header (we send it with every case), and one with a query parameter the document
        # does not name (ignored, as web APIs do, so a cache-buster never breaks a client).
        assume(not _only_nominally_invalid(case, documented_query))
        # A string the schema allows is not always a phone number (only a phone library can
        # tell), so valid-looking data may rightly get a 422: that check is left out.
        case.call_and_validate(headers=BEARER, excluded_checks=[positive_data_acceptance])

    answers_as_documented()
