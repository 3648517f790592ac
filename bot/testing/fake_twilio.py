"""Deprecated name of `python -m bot.twilio.fake_server` (the README named it before issue 13).

Kept so scripts written against the old command still start the fake Twilio server.
"""

from __future__ import annotations

import runpy
import sys

if __name__ == "__main__":
    print(
        "bot.testing.fake_twilio is deprecated: use `python -m bot.twilio.fake_server`",
        file=sys.stderr,
    )
    runpy.run_module("bot.twilio.fake_server", run_name="__main__", alter_sys=True)
