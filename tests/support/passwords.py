"""The one test password, hashed and checked once a run: scrypt costs 0.1-0.2 s of CPU a call.

A login in a test checks the same (stored hash, password) pairs again and again; remembering
the answer of the real check gives the same answer without paying for it again.
"""

from __future__ import annotations

import functools

from werkzeug.security import check_password_hash

from bot.accounts.agents import hash_password

hash_once = functools.cache(hash_password)
check_once = functools.cache(check_password_hash)
