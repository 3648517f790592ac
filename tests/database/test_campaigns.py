"""Campaign files: checker messages, variant assignment, audience, preview and the CLI."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from textwrap import dedent

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, insert

from bot.campaigns.assign import assign_variant
from bot.campaigns.audience import audience
from bot.campaigns.model import Campaign, Variant
from bot.campaigns.parser import check_campaigns, parse_campaign, read_campaigns
from bot.campaigns.preview import Pricing, describe, format_duration, preview_campaign
from bot.cli import main
from bot.domain.vocabulary import SubscriberStatus
from bot.engine.templates import parse_template
from bot.store.models import Subscriber
from tests.support.paths import ROOT, SHIPPED_FLOWS

FLOWS = frozenset({"nps", "feedback"})
OK_TEXT = "{brand}: boots 20% off, {first_name|friend}! Reply STOP to opt out."
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def problems(text: str) -> list[str]:
    """What `bot flows check` prints for one campaign file."""
    parsed = parse_campaign(dedent(text).lstrip("\n"), "c.yaml", flow_names=FLOWS)
    return [str(problem) for problem in parsed.problems]


def case(label: str, text: str, *expected: str) -> object:
    return pytest.param(text, list(expected), id=label)


CASES = [
    case(
        "a good campaign",
        f"""
        campaign: sale
        segment: {{tags: [vip], attributes: {{city: Boston}}, where: "orders >= 2"}}
        send_at: "2026-12-01 10:00"
        variants:
          - {{name: a, weight: 50, text: "{OK_TEXT}"}}
          - {{name: b, weight: 50, text: "{OK_TEXT} Hi {{attributes.city}}"}}
        reply_flow: nps
        """,
    ),
    case(
        "bad YAML",
        """
        campaign: sale
        variants:
          - text: "hi
        """,
        "c.yaml:4:1: bad YAML: found unexpected end of stream; a quote is opened and never closed",
    ),
    case(
        "unknown keys, at every level",
        f"""
        campaign: sale
        audience: all
        segment:
          tag: [vip]
        variants:
          - text: "{OK_TEXT}"
            wieght: 5
        """,
        "c.yaml:2: unknown key 'audience' (known: campaign, description, reply_flow, segment,"
        " send_at, test, variants)",
        "c.yaml:4: unknown segment key 'tag' (known: attributes, tags, where)",
        "c.yaml:7: unknown variant key 'wieght' (known: media, name, text, weight)",
    ),
    case(
        "no variants",
        """
        campaign: sale
        variants: []
        """,
        "c.yaml:2: a campaign needs variants: a list with at least one text",
    ),
    case(
        "weights must be positive",
        f"""
        campaign: sale
        variants:
          - {{name: a, weight: 0, text: "{OK_TEXT}"}}
          - name: b
            weight: -3
            text: "{OK_TEXT}"
          - {{name: c, weight: lots, text: "{OK_TEXT}"}}
        """,
        "c.yaml:3: variant 'a': weight must be a positive number",
        "c.yaml:5: variant 'b': weight must be a positive number",
        "c.yaml:7: variant 'c': weight must be a positive number",
    ),
    case(
        "between two variants each needs its weight",
        f"""
        campaign: sale
        variants:
          - {{name: a, weight: 1, text: "{OK_TEXT}"}}
          - {{name: b, text: "{OK_TEXT}"}}
        """,
        "c.yaml:4: variant 'b' needs weight: (e.g. weight: 50)",
    ),
    case(
        "media: https URLs, at most ten",
        f"""
        campaign: sale
        variants:
          - name: a
            weight: 1
            text: "{OK_TEXT}"
            media: [http://cdn.acme.test/boots.jpg]
          - name: b
            weight: 1
            text: "{OK_TEXT}"
            media: {[f"https://cdn.acme.test/{n}.jpg" for n in range(11)]}
          - {{name: c, weight: 1, text: "{OK_TEXT}", media: "ftp://x"}}
          - {{name: d, weight: 1, text: "{OK_TEXT}", media: []}}
        """,
        "c.yaml:6: variant 'a': media: http://cdn.acme.test/boots.jpg must use https://"
        " (Twilio fetches media over the internet; use TLS)",
        "c.yaml:10: variant 'b': media: 11 URLs; a text carries at most 10",
        "c.yaml:11: variant 'c': media: 'ftp://x' is not an https URL such as"
        " https://cdn.example.com/boots.jpg",
        "c.yaml:12: variant 'd': media: give a list of https URLs, e.g."
        " [https://cdn.example.com/boots.jpg]",
    ),
    case(
        "a test split: a percentage, a duration, clicks or conversions, two variants",
        f"""
        campaign: sale
        test: {{split: 120%, wait: 4, pick_by: opens, when: later}}
        variants:
          - {{name: a, weight: 1, text: "{OK_TEXT}"}}
        """,
        "c.yaml:2: unknown test key 'when' (known: pick_by, split, wait)",
        "c.yaml:2: test: a test split needs at least two variants to pick from",
        "c.yaml:2: test: split '120%' must be a percentage between 1% and 99% (e.g. split: 20%)",
        "c.yaml:2: test: wait: '4' has no unit; add one, e.g. 4m or 4h (units: s, m, h, d, w)",
        "c.yaml:2: test: pick_by 'opens' must be clicks or conversions",
    ),
    case(
        "two variants with one name",
        f"""
        campaign: sale
        variants:
          - {{name: a, weight: 1, text: "{OK_TEXT}"}}
          - {{name: a, weight: 1, text: "{OK_TEXT}"}}
        """,
        "c.yaml:4: variant name 'a' is already used on line 3",
    ),
    case(
        "bad send_at",
        f"""
        campaign: sale
        send_at: tomorrow
        variants: "{OK_TEXT}"
        """,
        "c.yaml:2: send_at 'tomorrow' is neither now nor a local date and time like"
        " 2026-12-01 10:00",
    ),
    case(
        "send_at without a time of day",
        f"""
        campaign: sale
        send_at: 2026-12-01
        variants: "{OK_TEXT}"
        """,
        "c.yaml:2: send_at '2026-12-01' is neither now nor a local date and time like"
        " 2026-12-01 10:00 (add the time of day)",
    ),
    case(
        "a template that does not parse",
        """
        campaign: sale
        variants:
          - text: "Hi {first_name, Reply STOP to opt out"
        """,
        "c.yaml:3: variant 'a': text: unclosed '{': end the placeholder with '}', or write '{{'"
        " for a literal brace",
    ),
    case(
        "an unknown template variable",
        """
        campaign: sale
        variants:
          - text: "Hi {frist_name}, Reply STOP to opt out"
        """,
        "c.yaml:3: unknown template variable {frist_name} (known: attributes, brand, first_name,"
        " phone, support; write {attributes.frist_name} for an attribute)",
    ),
    case(
        "a where that does not parse",
        f"""
        campaign: sale
        segment:
          where: "orders >="
        variants: "{OK_TEXT}"
        """,
        "c.yaml:3: where: condition 'orders >=' does not parse: unexpected end of expression;"
        " expected an expression",
    ),
    case(
        "reply_flow names no flow",
        f"""
        campaign: sale
        variants: "{OK_TEXT}"
        reply_flow: npx
        """,
        "c.yaml:3: reply_flow: no flow named 'npx' (did you mean 'nps'?) (known: feedback, nps)",
    ),
    case(
        "a bad campaign name",
        f"""
        campaign: Winter Sale
        variants: "{OK_TEXT}"
        """,
        "c.yaml:1: campaign name 'Winter Sale' must be lower-case letters, digits and _"
        " (e.g. winter_sale)",
    ),
    case(
        "no opt-out wording is a warning",
        """
        campaign: sale
        variants:
          - text: "{brand}: boots 20% off!"
        """,
        "c.yaml:3: warning: variant 'a': promotional text does not say how to opt out"
        " (add e.g. 'Reply STOP to opt out')",
    ),
    case(
        "a variant that never names the brand is a warning; the brand written out is enough",
        """
        campaign: sale
        variants:
          - {weight: 1, text: "Boots 20% off! Reply STOP to opt out."}
          - {weight: 1, text: "Parley: boots 20% off! Reply STOP to opt out."}
        """,
        "c.yaml:3: warning: variant 'a': promotional text does not name the brand (start it with"
        " '{brand}: ' so people know who is texting)",
    ),
    case(
        "a person's value in a URL is a warning",
        f"""
        campaign: sale
        variants:
          - {{weight: 1, text: "{OK_TEXT} https://acme.test/{{attributes.ref}}"}}
          - {{weight: 1, text: "{OK_TEXT} https://acme.test/boots"}}
        """,
        "c.yaml:3: warning: variant 'a': {attributes.ref} runs into a URL: a URL with a person's"
        " value in it goes out as plain text, never as a tracked link (put a space between them)",
    ),
    case(
        "UCS-2 and length are warnings",
        f"""
        campaign: sale
        variants:
          - {{weight: 1, text: "{OK_TEXT} It’s on!"}}
          - {{weight: 1, text: "{OK_TEXT}{" Boots, boots, boots and more boots for winter." * 12}"}}
        """,
        "c.yaml:3: warning: variant 'a': ’ (RIGHT SINGLE QUOTATION MARK) turns this text into"
        " UCS-2: 70 characters a segment instead of 160",
        "c.yaml:4: warning: variant 'b': this text is 5 segments with typical values"
        " (GSM-7, 620 units); the limit is 3",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_campaign_problems(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_a_campaign_name_used_twice(tmp_path: Path) -> None:
    folder = tmp_path / "campaigns"
    folder.mkdir()
    for stem in ("one", "two"):
        (folder / f"{stem}.yaml").write_text(f'campaign: sale\nvariants: "{OK_TEXT}"\n')
    assert [str(p) for p in check_campaigns(tmp_path, brand="Acme")] == [
        f"{folder / 'two.yaml'}:1: campaign 'sale' is already defined in {folder / 'one.yaml'}"
    ]


def test_the_shipped_campaigns_check_clean() -> None:
    parsed = read_campaigns(SHIPPED_FLOWS, brand="Parley")
    assert [Path(item.file).name for item in parsed] == ["vip_preview.yaml", "winter_sale.yaml"]
    assert [problem for item in parsed for problem in item.problems] == []
    winter = parsed[1].campaign
    assert winter is not None and winter.reply_flow == "nps"


def test_the_sample_vips_fall_into_both_variants_of_the_demo_campaign() -> None:
    demo = read_campaigns(SHIPPED_FLOWS, brand="Parley")[0].campaign
    assert demo is not None and demo.name == "vip_preview"
    with (ROOT / "data" / "sample_subscribers.csv").open(encoding="utf-8") as sample:
        vips = [
            "+1" + "".join(ch for ch in row["phone"] if ch.isdigit())[-10:]
            for row in csv.DictReader(sample)
            if "vip" in row["tags"].split(";")
        ]
    assert len(vips) == 4  # the README's walkthrough says so
    got = Counter(assign_variant(demo.name, phone, demo.variants).name for phone in vips)
    assert got == {"short": 2, "warm": 2}


# --- assignment -------------------------------------------------------------------------------


def variants(*weights: float) -> tuple[Variant, ...]:
    text = parse_template("hi")
    return tuple(Variant(chr(97 + i), w, text, 1) for i, w in enumerate(weights))


PHONES = [f"+1415{n:07d}" for n in range(10_000)]


def test_the_same_person_always_gets_the_same_variant() -> None:
    split = variants(50, 50)
    first = [assign_variant("sale", phone, split).name for phone in PHONES[:200]]
    again = [assign_variant("sale", phone, split).name for phone in PHONES[:200]]
    assert first == again
    other = [assign_variant("other", phone, split).name for phone in PHONES[:200]]
    assert other != first  # each campaign splits people afresh


@pytest.mark.parametrize("weights", [(50, 50), (80, 20), (1, 1, 2)])
def test_the_split_follows_the_weights(weights: tuple[float, ...]) -> None:
    split = variants(*weights)
    counts = Counter(assign_variant("sale", phone, split).name for phone in PHONES)
    for variant in split:
        expected = variant.weight / sum(weights)
        assert abs(counts[variant.name] / len(PHONES) - expected) < 0.03


# --- audience and preview on both databases ---------------------------------------------------


PEOPLE = [
    # phone, status, first name, zone, tags, attributes
    (
        "+16175550001",
        "subscribed",
        "Ann",
        "America/New_York",
        ["vip"],
        {"city": "Boston", "orders": 3},
    ),
    (
        "+16175550002",
        "subscribed",
        None,
        "America/New_York",
        ["vip", "x"],
        {"city": "Boston", "orders": "2"},
    ),
    (
        "+16175550003",
        "subscribed",
        "Cy",
        "America/Los_Angeles",
        ["vip"],
        {"city": "Boston", "orders": 1},
    ),
    ("+16175550004", "subscribed", "Di", None, [], {"city": "Boston", "orders": 5}),
    ("+16175550005", "subscribed", "Ed", None, ["vip"], {"city": "Denver", "orders": 5}),
    ("+16175550006", "unsubscribed", "Fay", None, ["vip"], {"city": "Boston", "orders": 9}),
    ("+16175550007", "pending", "Gus", None, ["vip"], {"city": "Boston", "orders": 9}),
    ("+16175550008", "new", "Hal", None, ["vip"], {"city": "Boston", "orders": 9}),
]


def seed(db: Engine) -> None:
    rows = [
        {
            "phone": phone,
            "status": SubscriberStatus(status),
            "first_name": name,
            "timezone": zone,
            "tags": tags,
            "attributes": attributes,
            "created_at": NOW,
            "updated_at": NOW,
        }
        for phone, status, name, zone, tags, attributes in PEOPLE
    ]
    with db.begin() as connection:
        connection.execute(insert(Subscriber.__table__), rows)  # type: ignore[attr-defined]


def campaign(
    segment: str, *, send_at: str = "now", texts: tuple[str, ...] = (OK_TEXT,)
) -> Campaign:
    listed = "\n".join(f'  - {{weight: 1, text: "{text}"}}' for text in texts)
    text = f"campaign: sale\nsegment: {segment}\nsend_at: {send_at}\nvariants:\n{listed}\n"
    parsed = parse_campaign(text, "c.yaml")
    assert parsed.campaign is not None, parsed.problems
    return parsed.campaign


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        ("{}", ["+16175550001", "+16175550002", "+16175550003", "+16175550004", "+16175550005"]),
        ("{tags: [vip]}", ["+16175550001", "+16175550002", "+16175550003", "+16175550005"]),
        ("{tags: [vip, x]}", ["+16175550002"]),
        ("{attributes: {city: Denver}}", ["+16175550005"]),
        ("{attributes: {orders: 2}}", ["+16175550002"]),
        (
            '{tags: [vip], attributes: {city: Boston}, where: "number(orders) >= 2"}',
            ["+16175550001", "+16175550002"],
        ),
        ('{where: "\\"x\\" in tags"}', ["+16175550002"]),
    ],
)
def test_the_audience_is_subscribed_people_in_the_segment(
    db: Engine, segment: str, expected: list[str]
) -> None:
    seed(db)
    with db.connect() as connection:
        found = [r.phone for r in audience(connection, campaign(segment).segment)]
    assert found == expected


PRICING = Pricing(price_per_segment=0.01, currency="USD", send_rate=0.001)


def test_the_preview_counts_costs_and_times_the_send(db: Engine) -> None:
    seed(db)
    long_text = OK_TEXT + " Boots, boots, boots and more boots for winter." * 3  # 2 segments
    sale = campaign("{tags: [vip]}", texts=(OK_TEXT, long_text))
    with db.connect() as connection:
        preview = preview_campaign(
            sale,
            audience(connection, sale.segment),
            brand="Acme",
            support="help@acme.test",
            pricing=PRICING,
            default_zone="America/New_York",
            now=NOW,
        )
    by_name = {variant.name: variant for variant in preview.variants}
    assert preview.recipients == 4
    assert sum(v.recipients for v in preview.variants) == 4
    assert preview.segments == by_name["a"].recipients * 1 + by_name["b"].recipients * 2
    assert preview.cost == pytest.approx(preview.segments * 0.01)
    assert preview.send_seconds == preview.segments / 0.001
    assert preview.starts_at == NOW
    assert preview.ends_at is not None
    assert (preview.ends_at - NOW).total_seconds() == pytest.approx(preview.send_seconds)
    samples = [s for v in preview.variants for s in v.samples]
    assert any(s.startswith("Acme: boots 20% off, Ann! Reply STOP") for s in samples)
    assert any(s.startswith("Acme: boots 20% off, friend! Reply STOP") for s in samples)
    if by_name["b"].longest is not None:
        assert by_name["b"].longest.segments == 2
    text = describe(preview)
    assert "Recipients: 4 subscribed (tags vip)" in text
    assert f"cost about {preview.cost:.2f} USD" in text


def test_a_local_send_at_starts_in_the_first_zone_and_ends_after_the_last(db: Engine) -> None:
    seed(db)
    sale = campaign("{tags: [vip]}", send_at='"2026-12-01 10:00"')
    with db.connect() as connection:
        preview = preview_campaign(
            sale,
            audience(connection, sale.segment),
            brand="Acme",
            support="help@acme.test",
            pricing=Pricing(0.0079, "USD", 1.0),
            default_zone="America/New_York",
            now=NOW,
        )
    assert preview.starts_at == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 10:00 in Boston
    assert preview.first_zone == "America/New_York"
    assert preview.last_zone == "America/Los_Angeles"
    # Cy in Los Angeles gets it at 10:00 there (18:00 UTC): one segment, one second.
    assert preview.ends_at == datetime(2026, 12, 1, 18, 0, 1, tzinfo=UTC)
    assert "Starts 2026-12-01 10:00 America/New_York (2026-12-01 15:00 UTC)" in describe(preview)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0 s"),
        (40.2, "41 s"),
        (60, "1 min"),
        (61, "2 min"),
        (3600, "1 h"),
        (10_020, "2 h 47 min"),
    ],
)
def test_durations_read_like_people_write_them(seconds: float, expected: str) -> None:
    assert format_duration(seconds) == expected


# --- the command ------------------------------------------------------------------------------


@pytest.fixture
def flows_dir(flows_dir: Path) -> Path:
    """The shared flows folder with the NPS flow and a sale campaign for VIPs."""
    folder = flows_dir
    (folder / "campaigns").mkdir()
    (folder / "nps.yaml").write_text((SHIPPED_FLOWS / "nps.yaml").read_text())
    (folder / "campaigns" / "sale.yaml").write_text(
        f'campaign: sale\ndescription: Boots\nsegment: {{tags: [vip]}}\nvariants: "{OK_TEXT}"\n'
    )
    return folder


def test_cli_lists_and_previews_a_campaign(
    db: Engine, database_url: str, flows_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(db)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("FLOWS_DIR", str(flows_dir))
    monkeypatch.setenv("BRAND_NAME", "Acme")
    monkeypatch.setenv("SEND_RATE", "1")
    runner = CliRunner()
    listed = runner.invoke(main, ["campaign", "list"])
    assert listed.exit_code == 0, listed.output
    assert listed.output == "sale: Boots; variants a (1); now\n"
    shown = runner.invoke(main, ["campaign", "preview", "sale"])
    assert shown.exit_code == 0, shown.output
    assert "Recipients: 4 subscribed (tags vip)" in shown.output
    assert "Segments: 4; cost about 0.03 USD at 0.0079 USD a segment" in shown.output
    assert "Time to send: 4 s at 1 segments/s" in shown.output
    unknown = runner.invoke(main, ["campaign", "preview", "nope"])
    assert unknown.exit_code == 1
    assert unknown.output == (
        "Error: no campaign named 'nope' that passes the check (known: sale);"
        " see `bot flows check`\n"
    )


def test_flows_check_reports_a_broken_campaign(
    flows_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = flows_dir / "campaigns" / "broken.yaml"
    broken.write_text("campaign: broken\nvariants: []\nreply_flow: nope\n")
    monkeypatch.setenv("FLOWS_DIR", str(flows_dir))
    result = CliRunner().invoke(main, ["flows", "check"])
    assert result.exit_code == 1
    assert f"{broken}:2: a campaign needs variants: a list with at least one text" in result.output
    assert f"{broken}:3: reply_flow: no flow named 'nope' (known: nps)" in result.output
    assert "1 flow file: 2 errors, 0 warnings" in result.output
