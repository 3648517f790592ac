"""An unknown email costs one scrypt, as a known one does: the stand-in hash is a real one."""

from __future__ import annotations

from werkzeug.security import check_password_hash

from bot.accounts.agents import NO_SUCH_AGENT_HASH, hash_password


def test_the_stand_in_hash_has_the_parameters_of_a_stored_one() -> None:
    stored = hash_password("a password long enough")
    assert NO_SUCH_AGENT_HASH.split("$")[0] == stored.split("$")[0]  # method, N, r, p
    assert check_password_hash(NO_SUCH_AGENT_HASH, "no such agent: never matches")
    assert not check_password_hash(NO_SUCH_AGENT_HASH, "a password long enough")
