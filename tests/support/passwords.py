"""The one test password, hashed and checked once a run: scrypt costs 0.1-0.2 s of CPU a call.

A login in a test checks the same (stored hash, password) pairs again and again; remembering
the answer of the real check gives the same answer without paying for it again.
"""

from __future__ import annotations

import functools

from werkzeug.security import check_password_hash

from bot.accounts import agents

hash_once = functools.cache(agents.hash_password)
check_once = functools.cache(check_password_hash)


# `bot.accounts.agents.authenticate` with the remembering check: the same limits and answers,
# without a scrypt for every attempt a test makes.
authenticate = functools.partial(agents.authenticate, check_password=check_once)
