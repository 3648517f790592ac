"""The WSGI entry point: `gunicorn webhook:app`."""

from bot.app import create_app

app = create_app()
