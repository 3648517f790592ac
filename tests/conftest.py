"""Fixtures: a real app on a real database (SQLite and PostgreSQL), a fake gateway, no mocks."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session

from bot.app import create_app, services_of
from bot.sending.gateways.fake import FakeGateway
from bot.settings import Settings
from bot.store.db import make_db
from tests.support.databases import PostgresDatabase, SqliteTemplate, postgres_server_url
from tests.support.harness import make_settings
from tests.support.passwords import check_once
from tests.support.route_builders import install as reuse_route_builders

reuse_route_builders()  # before any app is made: 14-17 % of the database tests' CPU

# Tests that start processes or a browser: seconds each, against milliseconds for the rest.
SLOW_FOLDERS = ("process", "browser")


@pytest.hookimpl(trylast=True)  # after pytest's own reordering, so that nothing undoes this
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deal the slow test files out to the xdist workers, each worker's first.

    pytest-xdist (worksteal) hands each worker one contiguous slice of the collection, then a
    worker that runs dry steals the end of another's queue. In collection order every slow file
    fell in the first worker's slice, and the run ended on the last slow tests while the other
    worker waited. Here slice i starts with every i-th slow file (whole files, so their module
    fixtures start once) and the quick tests fill the rest, so the end of each queue is quick
    tests that stealing can balance.
    """
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    slow = [item for item in items if item.path.parent.name in SLOW_FOLDERS]
    quick = iter([item for item in items if item.path.parent.name not in SLOW_FOLDERS])
    file_number = {path: number for number, path in enumerate(dict.fromkeys(i.path for i in slow))}
    ordered: list[pytest.Item] = []
    for worker in range(workers):
        ordered += [item for item in slow if file_number[item.path] % workers == worker]
        slice_end = len(items) * (worker + 1) // workers
        ordered += itertools.islice(quick, max(0, slice_end - len(ordered)))
    items[:] = [*ordered, *quick]


@pytest.fixture(autouse=True, scope="session")
def _no_settings_from_the_environment() -> Iterator[None]:
    """A developer's own DATABASE_URL or TWILIO_* must never leak into a test."""
    saved = {
        name: os.environ.pop(name) for name in list(os.environ) if name in Settings.model_fields
    }
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[PostgresDatabase]:
    server_url = postgres_server_url()
    if server_url is None:
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL (CI sets it; see .ci/run)")
    database = PostgresDatabase(server_url)
    yield database
    database.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """A migrated, empty database: every database test runs on both backends."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_template").fresh(tmp_path)
    return request.getfixturevalue("postgres_database").fresh()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def app(settings: Settings, gateway: FakeGateway) -> Iterator[Flask]:
    app = create_app(settings, gateway=gateway, check_password=check_once)
    app.config["TESTING"] = True
    yield app
    services_of(app).close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A session for reading what the app stored; call rollback() before reading again (on
    SQLite a read transaction keeps seeing the snapshot it started with)."""
    with Session(services_of(app).db) as session:
        yield session


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    """A db on the test database, for tests that drive the store without the app."""
    db = make_db(database_url)
    yield db
    db.dispose()


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    """An empty flows folder the test writes its flows into; a file's own `flows_dir` fixture
    may take this one and add files to it."""
    folder = tmp_path / "flows"
    folder.mkdir()
    return folder
