"""Which texts need a human: "ok", "thanks" and 👍 do not; questions and anything real do."""

from __future__ import annotations

import pytest

from bot.domain.pleasantries import needs_a_human

NO_HUMAN_NEEDED = [
    "ok",
    "OK!",
    "Okay.",
    "k",
    "kk",
    "okkk",
    "cool",
    "Coooool",
    "thanks",
    "Thanks!!",
    "thanksss",
    "thank you!",
    "Thank you so much",
    "thanks again",
    "thx",
    "ty",
    "ok thanks",
    "Ok, thank you.",
    "great, thanks!",
    "got it",
    "Got it 👍",
    "sounds good",
    "no worries",
    "no thanks",
    "👍",
    "👍🏽",
    "❤️",
    "🙏🙏",
    "😊 thanks",
    "haha",
    "lol",
    "perfect, thank you",
    "very good",
    "bye!",
    "merci",
    "Merci beaucoup !",
    "d'accord",
    "D’accord merci",
    "génial",
    "gracias",
    "Muchas gracias!",
    "vale",
    "jajaja",
    "danke",
    "Danke schön",
    "dankeschön",
    "vielen Dank",
    "alles klar",
    "bedankt",
    "dank je wel",
    "  ",
    "...",
]

NEEDS_A_HUMAN = [
    "Where is my order #4411?",
    "where is my order",
    "ok?",
    "thanks but where is my order",
    "do you ship to Canada",
    "3",
    "ok 3",
    "yes",
    "no",
    "hi",
    "hello",
    "so",
    "very",
    "😡",
    "👎",
    "thanks 👎",
    "my package never arrived",
    "I was charged twice",
    "cancel my order",
    "the box was crushed",
    "¿Dónde está mi pedido?",
    "merci mais le colis est cassé",
    "danke aber wo ist meine Bestellung",
    "ok ok ok ok ok ok ok ok ok",  # long: a person should look
    "thanks for nothing",
    "great, another broken product",
]


@pytest.mark.parametrize("text", NO_HUMAN_NEEDED)
def test_pleasantries_need_no_human(text: str) -> None:
    assert needs_a_human(text) is False


@pytest.mark.parametrize("text", NEEDS_A_HUMAN)
def test_questions_and_anything_substantive_need_a_human(text: str) -> None:
    assert needs_a_human(text) is True
