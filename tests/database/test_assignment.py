"""Assignment: people waiting for a human go round robin to available agents, up to capacity.

Through the real webhook and inbox pages, on SQLite and PostgreSQL; the race of two processes
assigning at once is run with threads (on PostgreSQL it is a real race for the row locks).
"""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, func, select, update

from bot.accounts.presence import set_available
from bot.cli import main
from bot.conversations.assignment import assign_waiting, next_away
from bot.store.db import transaction
from bot.store.subscribers import opt_out_by_carrier
from bot.store.tables import (
    AGENT_CHATS,
    AGENTS,
    ASSIGNMENTS,
    CONVERSATIONS,
    SUBSCRIBERS,
    UNANSWERED_TEXTS,
)
from tests.support.databases import SQLITE_WORK_ONLY
from tests.support.inbox import NOON_IN_SF, Inbox, post
from tests.support.paths import SHIPPED_FLOWS
from tests.support.sms import ALICE, reply_to
from tests.support.statements import StatementCounter

QUESTION = "Where is my order #4411?"
DEFAULT_ACK = "Thanks for your message! A person will get back to you shortly."
PEOPLE = [f"+1415555{n:04d}" for n in range(200, 260)]
# NOON_IN_SF is Monday 5 January 2026, 12:00 in San Francisco: the team below is out until
# Wednesday (Tuesday is closed).
HOURS = """\
zone: America/Los_Angeles
label: PT
hours:
  monday: "09:00-11:00"
  tuesday: "09:00-17:00"
  wednesday: "09:00-17:00"
closed: [2026-01-06]
"""
AFTER_HOURS_ACK = "Thanks! Our team is back Wednesday at 9:00 AM (PT); we'll reply then."


class Team(Inbox):
    """The inbox with Dana and Eli at their desks (Ada, the admin, sets capacities)."""

    def __init__(self, database_url: str, **settings: object) -> None:
        super().__init__(database_url, **settings)
        self.dana_client = self.logged_in("dana@acme.test")
        self.eli_client = self.logged_in("eli@acme.test")

    def available(self, client: FlaskClient, available: bool = True) -> None:
        response = post(client, "/inbox/availability", available="1" if available else "0")
        assert response.status_code == 302

    def asks(self, phone: str, body: str = QUESTION) -> list[str]:
        """A person texts something no flow can take: they wait in the queue."""
        return reply_to(self.new_client(), body, phone=phone)

    def assigned(self) -> dict[str, str]:
        """Who answers whom, as the queue's "all" view shows it: phone -> agent's name."""
        with self.db.connect() as connection:
            rows = connection.execute(
                select(ASSIGNMENTS.c.subscriber_id, ASSIGNMENTS.c.agent_id)
            ).all()
        names = {self.dana.id: "Dana", self.eli.id: "Eli", self.ada.id: "Ada"}
        phones = self._phones()
        return {phones[row.subscriber_id]: names[row.agent_id] for row in rows}

    def mine(self, client: FlaskClient) -> str:
        page = client.get("/inbox/?view=mine")
        assert page.status_code == 200
        return page.get_data(as_text=True)

    def _phones(self) -> dict[int, str]:
        with self.db.connect() as connection:
            return dict(connection.execute(select(SUBSCRIBERS.c.id, SUBSCRIBERS.c.phone)).all())


@pytest.fixture
def team(database_url: str) -> Team:
    return Team(database_url)


def test_waiting_people_go_to_the_agent_with_fewest_open_chats(team: Team) -> None:
    team.available(team.dana_client)
    team.available(team.eli_client)

    for phone in PEOPLE[:4]:
        assert team.asks(phone) == [DEFAULT_ACK]

    assigned = team.assigned()
    assert Counter(assigned.values()) == {"Dana": 2, "Eli": 2}
    # Ties go to whoever was given one least recently: they alternate.
    assert [assigned[phone] for phone in PEOPLE[:4]] == ["Dana", "Eli", "Dana", "Eli"]
    danas = team.mine(team.dana_client)
    assert PEOPLE[0] in danas and PEOPLE[2] in danas
    assert PEOPLE[1] not in danas and PEOPLE[3] not in danas


def test_nobody_available_leaves_people_unassigned_until_someone_is(team: Team) -> None:
    team.asks(PEOPLE[0])
    team.asks(PEOPLE[1])
    assert team.assigned() == {}
    unassigned = team.eli_client.get("/inbox/?view=unassigned").get_data(as_text=True)
    assert PEOPLE[0] in unassigned and 'id="view-unassigned"' in unassigned

    team.available(team.eli_client)

    assert team.assigned() == {PEOPLE[0]: "Eli", PEOPLE[1]: "Eli"}
    assert (
        team.eli_client.get("/inbox/?view=unassigned").get_data(as_text=True).count(PEOPLE[0]) == 0
    )


def test_with_nobody_on_duty_a_question_is_one_transaction_on_sqlite(team: Team) -> None:
    begun: list[object] = []
    event.listen(team.db, "begin", begun.append)
    team.asks(PEOPLE[0])
    # On SQLite the turn itself saw nobody to give to, holding the only write lock; on
    # PostgreSQL a round runs after the commit (a change there could slip in between).
    assert len(begun) == (1 if team.db.dialect.name == "sqlite" else 2)
    team.available(team.eli_client)  # an agent coming on duty runs a round of their own
    assert team.assigned() == {PEOPLE[0]: "Eli"}


def test_with_someone_on_duty_a_question_is_one_transaction_on_sqlite(team: Team) -> None:
    team.available(team.dana_client)
    begun: list[object] = []
    event.listen(team.db, "begin", begun.append)
    team.asks(PEOPLE[0])
    # On SQLite the round runs at the end of the turn, which holds the only write lock; on
    # PostgreSQL after its commit.
    assert len(begun) == (1 if team.db.dialect.name == "sqlite" else 2)
    assert team.assigned() == {PEOPLE[0]: "Dana"}


@pytest.mark.parametrize("refused", ["assignment", "last_assigned_at"])
def test_a_round_that_fails_is_never_the_texts_failure(team: Team, refused: str) -> None:
    """The question is answered and waits, given to nobody (what the round wrote before it
    failed is taken back); the next round gives it out."""
    team.available(team.dana_client)
    with _refused(team.db, refused):
        assert team.asks(PEOPLE[0]) == [DEFAULT_ACK]
        assert team.assigned() == {}
    unassigned = team.eli_client.get("/inbox/?view=unassigned").get_data(as_text=True)
    assert PEOPLE[0] in unassigned
    team.available(team.eli_client)  # a round of Eli's own, once the database takes it
    assert team.assigned() == {PEOPLE[0]: "Dana"}


# What a round writes, refused by a trigger as a failing disk or a bug would fail it half-way:
# a new assignment (its first write), or the agent's last assignment time (its last).
_REFUSALS = {
    "assignment": ("assignment", "INSERT"),
    "last_assigned_at": ("agent", "UPDATE OF last_assigned_at"),
}


@contextmanager
def _refused(db: Engine, what: str) -> Iterator[None]:
    table, writes = _REFUSALS[what]
    if db.dialect.name == "sqlite":
        create = [
            f"CREATE TRIGGER refuse_round BEFORE {writes} ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        ]
        drop = ["DROP TRIGGER refuse_round"]
    else:
        create = [
            "CREATE FUNCTION refuse_round() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused'; END $$",
            f"CREATE TRIGGER refuse_round BEFORE {writes} ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_round()",
        ]
        drop = [f"DROP TRIGGER refuse_round ON {table}", "DROP FUNCTION refuse_round"]
    with db.begin() as connection:
        for statement in create:
            connection.exec_driver_sql(statement)
    try:
        yield
    finally:
        with db.begin() as connection:
            for statement in drop:
                connection.exec_driver_sql(statement)


def test_a_round_sees_the_turn_as_it_commits(team: Team) -> None:
    """Taking a text from the queue asks for a round before the taking is written: run then,
    it would give the person to a colleague with a free slot; run as the turn commits, it
    sees the chat held."""
    team.available(team.dana_client)
    admin = team.logged_in("ada@acme.test")
    assert post(admin, f"/inbox/agents/{team.dana.id}/capacity", capacity="0").status_code == 302
    team.asks(PEOPLE[0])
    with team.db.begin() as connection:  # a slot, with no round of its own to fill it
        connection.execute(update(AGENTS).where(AGENTS.c.id == team.dana.id).values(capacity=1))
    with team.db.connect() as connection:
        text_id = connection.execute(select(func.max(UNANSWERED_TEXTS.c.id))).scalar_one()

    assert post(team.eli_client, f"/inbox/texts/{text_id}/take").status_code == 302

    assert team.assigned() == {}  # Eli holds the chat: nothing left to give Dana


def test_with_nobody_on_duty_a_round_does_not_read_the_queue(team: Team) -> None:
    for phone in PEOPLE[:5]:
        team.asks(phone)  # on PostgreSQL each question runs a round after its turn
    counter = StatementCounter(team.db)

    given = assign_waiting(team.db, now=team.clock(), away_after=timedelta(minutes=15))

    # The agents locked with who is available, what is assigned: a burst of questions with
    # nobody on duty must not read the whole queue again for every text.
    assert (given, counter.count) == (0, 2)
    assert team.assigned() == {}


def test_with_every_slot_taken_a_round_does_not_read_the_queue(team: Team) -> None:
    """A burst of questions while the team is busy: each question runs a round, and the queue
    grows with each. A round that read it whole made every question cost more than the one
    before (40 ms of CPU at 5 000 waiting); it must cost the same at 5 waiting as at 59."""
    admin = team.logged_in("ada@acme.test")
    assert post(admin, f"/inbox/agents/{team.dana.id}/capacity", capacity="1").status_code == 302
    team.available(team.dana_client)
    for phone in PEOPLE[:6]:
        team.asks(phone)
    few = _round_work(team)
    for phone in PEOPLE[6:]:
        team.asks(phone)
    many = _round_work(team)

    assert team.assigned() == {PEOPLE[0]: "Dana"}  # the rest wait: Dana is full
    assert many == few, f"5 waiting: {few}; {len(PEOPLE) - 1} waiting: {many}"


@SQLITE_WORK_ONLY
def test_a_round_with_a_slot_to_fill_reads_past_no_one_who_opted_out(team: Team) -> None:
    """People who ask and then text STOP leave their questions open in the inbox. Every round
    with a slot to fill read past each of them again (7 ms of PostgreSQL's CPU a question at
    3 000 of them); a round must do the same work at 5 of them as at 60."""
    team.available(team.dana_client)  # five slots, and each STOP frees the one it held

    def ask_stop_and_ask_again(phone: str) -> None:
        team.asks(phone)
        team.asks(phone, "STOP")
        team.asks(phone, "Why did you stop texting me?")  # listed too, never given out

    for phone in PEOPLE[:5]:
        ask_stop_and_ask_again(phone)
    few = _round_work(team)
    for phone in PEOPLE[5:]:
        ask_stop_and_ask_again(phone)
    many = _round_work(team)

    assert team.assigned() == {}
    assert many == few, f"5 opted out: {few}; {len(PEOPLE)} opted out: {many}"


def test_a_question_a_stop_left_open_waits_again_when_they_rejoin(team: Team) -> None:
    team.asks(PEOPLE[0])  # nobody on duty: the question waits
    team.asks(PEOPLE[0], "STOP")
    team.available(team.dana_client)
    assert team.assigned() == {}  # nobody may text them

    team.asks(PEOPLE[0], "START")
    team.available(team.dana_client)  # any action of hers runs a round
    assert team.assigned() == {PEOPLE[0]: "Dana"}


def _round_work(team: Team) -> tuple[int, int]:
    """A round's statements, and the work they did: on SQLite the steps its virtual machine
    took between BEGIN and COMMIT (not a WAL checkpoint after), on PostgreSQL the rows its
    statements returned (what this process reads; SQLite's count also sees what the database
    read to find them). A statement that reads more rows for more waiting people does more."""
    statements = StatementCounter(team.db)
    work = Counter[str]()
    drivers: list[Any] = []
    in_transaction: list[bool] = []

    def count_work(driver: Any, *_args: object) -> None:
        drivers.append((driver, getattr(driver, "cursor_factory", None)))
        if team.db.dialect.name == "sqlite":
            step = ("done",)
            driver.set_progress_handler(lambda: in_transaction and work.update(step), 1)
        else:
            driver.cursor_factory = _counting_cursor(driver.cursor_factory, work)

    def began(*_args: object) -> None:
        in_transaction.append(True)

    def ended(*_args: object) -> None:
        in_transaction.clear()

    listeners = [("checkout", count_work), ("begin", began), ("commit", ended)]
    for name, listener in listeners:
        event.listen(team.db, name, listener)
    try:
        given = assign_waiting(team.db, now=team.clock(), away_after=timedelta(minutes=15))
    finally:
        for name, listener in listeners:
            event.remove(team.db, name, listener)
        statements.stop()
        for driver, factory in drivers:
            if team.db.dialect.name == "sqlite":
                driver.set_progress_handler(None, 1)
            else:
                driver.cursor_factory = factory
    assert given == 0
    return statements.count, work["done"]


def _counting_cursor(factory: Any, work: Counter[str]) -> Any:
    """psycopg's cursor class, counting the rows each statement returned before it closes."""

    class Counting(factory):  # type: ignore[misc,valid-type]
        def close(self) -> None:
            work.update({"done": max(self.rowcount, 0)})
            super().close()

    return Counting


def test_capacity_caps_an_agent_and_a_freed_slot_takes_the_next(team: Team) -> None:
    admin = team.logged_in("ada@acme.test")
    assert post(admin, f"/inbox/agents/{team.dana.id}/capacity", capacity="1").status_code == 302
    team.available(team.dana_client)
    team.asks(PEOPLE[0])
    team.asks(PEOPLE[1])
    assert team.assigned() == {PEOPLE[0]: "Dana"}  # the second waits: Dana is full

    page = team.dana_client.get("/inbox/?view=mine").get_data(as_text=True)
    done = page.split(f"{PEOPLE[0]}", 1)[1].split('action="', 3)
    done_url = next(part.split('"')[0] for part in done if "/done" in part.split('"')[0])
    assert post(team.dana_client, done_url).status_code == 302  # Mark done: the slot frees

    assert team.assigned() == {PEOPLE[1]: "Dana"}


def test_a_chat_held_without_an_assignment_takes_a_slot(team: Team) -> None:
    admin = team.logged_in("ada@acme.test")
    assert post(admin, f"/inbox/agents/{team.dana.id}/capacity", capacity="1").status_code == 302
    conversation_id = team.handed_off()  # nobody is available: Alice is not assigned
    assert post(team.dana_client, f"/inbox/conversations/{conversation_id}/take").status_code == 302
    team.available(team.dana_client)
    team.asks(PEOPLE[0])
    assert team.assigned() == {}  # Dana's one slot is Alice's chat


def test_a_stop_takes_a_person_with_open_texts_out_of_assignment(team: Team) -> None:
    team.available(team.dana_client)
    team.asks(PEOPLE[0])
    assert team.assigned() == {PEOPLE[0]: "Dana"}
    counts = team.dana_client.get("/inbox/events").get_json()["counts"]
    assert counts["queue"] == 1

    team.asks(PEOPLE[0], "STOP")
    team.available(team.dana_client)  # any action of hers runs a round
    assert team.assigned() == {}
    assert team.dana_client.get("/inbox/events").get_json()["counts"]["queue"] == 0
    with team.db.connect() as connection:
        outcomes = connection.execute(select(AGENT_CHATS.c.outcome)).scalars().all()
    assert outcomes == ["opted out"]  # not waiting forever in the reports


def test_a_carriers_opt_out_takes_a_waiting_person_out_too(team: Team) -> None:
    team.available(team.dana_client)
    team.asks(PEOPLE[0])
    with transaction(team.db) as connection:  # the dispatcher hears 21610 from Twilio
        opt_out_by_carrier(connection, PEOPLE[0], None, team.clock())
    team.available(team.dana_client)
    assert team.assigned() == {}
    with team.db.connect() as connection:
        outcomes = connection.execute(select(AGENT_CHATS.c.outcome)).scalars().all()
    assert outcomes == ["opted out"]


def test_an_agent_who_goes_away_hands_their_waiting_people_round_again(team: Team) -> None:
    team.available(team.dana_client)
    team.asks(PEOPLE[0])
    assert team.assigned() == {PEOPLE[0]: "Dana"}
    team.available(team.eli_client)

    team.available(team.dana_client, available=False)

    assert team.assigned() == {PEOPLE[0]: "Eli"}
    assert PEOPLE[0] not in team.mine(team.dana_client)


def test_logging_out_or_going_idle_counts_as_away(team: Team) -> None:
    team.available(team.dana_client)
    team.available(team.eli_client)
    post(team.dana_client, "/inbox/logout")
    team.asks(PEOPLE[0])
    assert team.assigned() == {PEOPLE[0]: "Eli"}

    dana = team.logged_in("dana@acme.test")  # back, and still available as she left it
    team.asks(PEOPLE[1])
    assert team.assigned()[PEOPLE[1]] == "Dana"

    # Eli makes no request for longer than AGENT_AWAY_MINUTES; Dana keeps working.
    team.clock.advance(timedelta(minutes=16))
    dana.get("/inbox/")
    assign_waiting(team.db, now=team.clock(), away_after=timedelta(minutes=15))  # the clock's tick

    assert team.assigned() == {PEOPLE[0]: "Dana", PEOPLE[1]: "Dana"}


def test_assigned_is_not_taken_over_and_a_colleague_can_be_given_the_chat(team: Team) -> None:
    team.available(team.dana_client)
    chat = team.handed_off()  # Alice asks for a human at the end of the feedback flow
    assert team.assigned() == {ALICE: "Dana"}
    with team.db.connect() as connection:
        handled_by = connection.execute(
            select(CONVERSATIONS.c.handled_by).where(CONVERSATIONS.c.id == chat)
        ).scalar_one()
    assert handled_by == "waiting_for_agent"  # still the bot's: nobody took it over

    page = team.dana_client.get(f"/inbox/conversations/{chat}").get_data(as_text=True)
    assert 'id="assign-to"' in page and "Take over" in page
    response = post(
        team.dana_client, f"/inbox/conversations/{chat}/assign", agent_id=str(team.eli.id)
    )
    assert response.status_code == 302

    assert team.assigned() == {ALICE: "Eli"}
    assert ALICE in team.mine(team.eli_client)  # Eli is away, yet a colleague's choice stays
    assert ALICE not in team.mine(team.dana_client)


def test_a_held_chat_given_to_a_colleague_goes_with_its_reply_box(team: Team) -> None:
    chat = team.handed_off()
    assert post(team.dana_client, f"/inbox/conversations/{chat}/take").status_code == 302

    post(team.dana_client, f"/inbox/conversations/{chat}/assign", agent_id=str(team.eli.id))

    reply = post(team.eli_client, f"/inbox/conversations/{chat}/reply", body="Eli here, sorry!")
    assert reply.status_code == 302
    assert "Eli here, sorry!" in team.sent_to(ALICE)
    refused = post(team.dana_client, f"/inbox/conversations/{chat}/reply", body="Dana again")
    assert refused.status_code == 409


def test_the_tabs_count_each_view(team: Team) -> None:
    team.available(team.dana_client)
    team.asks(PEOPLE[0])
    team.available(team.dana_client, available=False)  # round robin takes it back
    team.asks(PEOPLE[1])
    danas = team.dana_client.get("/inbox/").get_data(as_text=True)
    assert (_count(danas, "mine"), _count(danas, "unassigned"), _count(danas, "all")) == (0, 2, 2)

    team.available(team.eli_client)

    elis = team.eli_client.get("/inbox/?view=mine").get_data(as_text=True)
    assert (_count(elis, "mine"), _count(elis, "unassigned"), _count(elis, "all")) == (2, 0, 2)
    assert 'id="view-mine" aria-current="page"' in elis


@pytest.mark.parametrize(
    ("path", "form", "status"),
    [
        pytest.param("/inbox/agents/{dana}/capacity", {"capacity": "lots"}, 422, id="capacity"),
        pytest.param("/inbox/agents/{dana}/capacity", {"capacity": "101"}, 422, id="too-many"),
        pytest.param("/inbox/agents/999999/capacity", {"capacity": "3"}, 404, id="no-agent"),
    ],
)
def test_bad_capacities_are_refused_and_change_nothing(
    team: Team, path: str, form: dict[str, str], status: int
) -> None:
    admin = team.logged_in("ada@acme.test")
    response = post(admin, path.format(dana=team.dana.id), **form)
    assert response.status_code == status
    assert "capacity" in response.get_data(as_text=True).lower() or status == 404
    assert team.dana_client.get("/inbox/").status_code == 200
    agents = admin.get("/inbox/agents").get_data(as_text=True)
    assert 'value="5"' in agents  # Dana's capacity is still the default


def test_only_admins_set_capacity_and_views_are_checked(team: Team) -> None:
    assert (
        post(team.dana_client, f"/inbox/agents/{team.eli.id}/capacity", capacity="9").status_code
        == 403
    )
    assert team.dana_client.get("/inbox/?view=everything").status_code == 400


def test_assigning_is_refused_clearly(team: Team) -> None:
    chat = team.handed_off()
    bad = post(team.dana_client, f"/inbox/conversations/{chat}/assign", agent_id="x")
    assert bad.status_code == 422 and "agent_id" in bad.get_data(as_text=True)
    nobody = post(team.dana_client, f"/inbox/conversations/{chat}/assign", agent_id="424242")
    page = team.dana_client.get(nobody.headers["Location"]).get_data(as_text=True)
    assert "There is no such agent" in page
    assert team.assigned() == {}
    # A chat Dana holds: Eli cannot pass it on.
    post(team.dana_client, f"/inbox/conversations/{chat}/take")
    post(team.eli_client, f"/inbox/conversations/{chat}/assign", agent_id=str(team.eli.id))
    assert team.assigned() == {}


def test_a_person_who_opted_out_cannot_be_assigned_by_hand(team: Team) -> None:
    """Nobody may text them: there is nothing to give a colleague, nor round robin."""
    team.asks(PEOPLE[0])  # someone else still waits
    chat = team.handed_off()
    with transaction(team.db) as connection:  # the carrier says Alice opted out
        opt_out_by_carrier(connection, ALICE, None, team.clock())

    for agent_id in (str(team.eli.id), ""):  # to a colleague, or back to round robin
        refused = post(team.dana_client, f"/inbox/conversations/{chat}/assign", agent_id=agent_id)
        page = team.dana_client.get(refused.headers["Location"]).get_data(as_text=True)
        assert "Nobody is waiting here" in page, agent_id
    assert team.assigned() == {}


def test_with_nobody_available_out_of_hours_the_person_hears_when_the_team_is_back(
    database_url: str, tmp_path: Path
) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(SHIPPED_FLOWS, flows)
    (flows / "business_hours.yaml").write_text(HOURS, "utf-8")
    team = Team(database_url, flows_dir=flows)

    assert team.asks(PEOPLE[0]) == [AFTER_HOURS_ACK]

    team.available(team.eli_client)
    assert team.asks(PEOPLE[1]) == [DEFAULT_ACK]  # someone is in: the usual promise


def test_two_processes_assigning_at_once_keep_to_capacity(team: Team) -> None:
    admin = team.logged_in("ada@acme.test")
    post(admin, f"/inbox/agents/{team.dana.id}/capacity", capacity="7")
    post(admin, f"/inbox/agents/{team.eli.id}/capacity", capacity="11")
    for phone in PEOPLE[:30]:
        team.asks(phone)  # nobody available: all 30 wait
    # Both turn available with no round run; then many rounds race for the 30.
    set_available(team.db, team.dana.id, True)
    set_available(team.db, team.eli.id, True)
    parallel = 8
    start = threading.Barrier(parallel)

    def one_round(_: int) -> int:
        start.wait()
        return assign_waiting(team.db, now=team.clock(), away_after=timedelta(minutes=15))

    with ThreadPoolExecutor(parallel) as pool:
        given = sum(pool.map(one_round, range(parallel)))

    assert Counter(team.assigned().values()) == {"Dana": 7, "Eli": 11}
    assert given == 18  # each person given once, by exactly one of the rounds


def _count(page: str, view: str) -> int:
    tab = page.split(f'id="view-{view}"', 1)[1].split("</a>", 1)[0]
    return int(tab.split('<span class="count">', 1)[1].split("<", 1)[0])


def test_the_clock_sees_nothing_to_do_without_assignments(team: Team) -> None:
    with team.db.connect() as connection:
        assert next_away(connection, now=NOON_IN_SF, away_after=timedelta(minutes=15)) is None
    team.available(team.dana_client)
    team.asks(PEOPLE[0])
    with team.db.connect() as connection:
        due = next_away(connection, now=team.clock(), away_after=timedelta(minutes=15))
    assert due is not None and team.clock() < due <= team.clock() + timedelta(minutes=15)


def test_flows_check_names_a_mistake_in_the_hours_file_at_its_line(
    flows_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hours_file = flows_dir / "business_hours.yaml"
    hours_file.write_text(HOURS.replace('"09:00-17:00"', '"9 to 5"', 1), "utf-8")
    monkeypatch.setenv("FLOWS_DIR", str(flows_dir))

    result = CliRunner().invoke(main, ["flows", "check"])

    assert result.exit_code == 1
    assert f"{hours_file}:5: hours: tuesday: expected HH:MM-HH:MM" in result.output


def test_disabling_an_agent_sends_even_their_by_hand_chats_round_again(team: Team) -> None:
    team.available(team.dana_client)
    chat = team.handed_off()
    post(team.dana_client, f"/inbox/conversations/{chat}/assign", agent_id=str(team.eli.id))
    assert team.assigned() == {ALICE: "Eli"}
    admin = team.logged_in("ada@acme.test")

    assert post(admin, f"/inbox/agents/{team.eli.id}/disable").status_code == 302

    assert team.assigned() == {ALICE: "Dana"}
