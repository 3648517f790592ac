"""`where_in` finds the rows `column IN (...)` finds, on every engine (PostgreSQL probes each),
and so does `where_in_bound`, the values bound when a driver statement runs it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from bot.store.db import json_array, where_in, where_in_bound
from bot.store.driver_sql import DriverStatement
from bot.store.tables import LINKS

NOW = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["+12125550101"],
        ["+12125550101", "+12125550103", "+19999999999"],
        ["+12125550102", "+12125550102"],
    ],
)
@pytest.mark.parametrize("bound", [False, True], ids=["values in the statement", "bound"])
def test_where_in_finds_what_in_finds(db: Engine, values: list[str], bound: bool) -> None:
    links = [
        {"code": f"c{index}", "url": url, "phone": f"+1212555010{index % 3 + 1}",
         "created_at": NOW, "clicks": 0}
        for index, url in enumerate(["https://a.example", "https://b.example"] * 3)
    ]  # fmt: skip
    query = select(LINKS.c.id, LINKS.c.phone).where(LINKS.c.url == "https://a.example")
    with db.begin() as connection:
        connection.execute(LINKS.insert(), links)
        dialect = connection.dialect.name
        if bound:
            statement = DriverStatement(where_in_bound(query, LINKS.c.phone, dialect, "phones"))
            found = list(statement.run(connection, {"phones": json_array(values)}))
        else:
            found = connection.execute(where_in(query, LINKS.c.phone, values, dialect)).all()
        expected = connection.execute(query.where(LINKS.c.phone.in_(values))).all()
    assert sorted(found) == sorted(expected)
    assert {phone for _, phone in found} == {
        link["phone"] for link in links if link["url"] == "https://a.example"
    } & set(values)
