"""The WSGI entry point: `gunicorn webhook:app`."""

import sys

from bot.app import create_app
from bot.campaigns.collector import freeze_start_up
from bot.settings import ConfigError
from bot.store.secret_key import NoSecretKey

try:
    app = create_app()
except (ConfigError, NoSecretKey) as error:
    # One line instead of a traceback per worker; exit status 3 is gunicorn's "worker failed to
    # boot", which stops the whole server rather than restarting workers for ever.
    print(f"parley: {error}", file=sys.stderr)
    sys.exit(3)
# The built app is frozen (in each worker; with --preload, in the arbiter before it forks): the
# collector's full collections then scan only what requests make, not the app
# (bot/campaigns/collector.py).
freeze_start_up()
