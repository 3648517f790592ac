"""The baseline: a bare Flask app that answers every webhook with one fixed TwiML reply."""

from flask import Flask, Response

app = Flask(__name__)

FIXED_TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
    "Acme: Help at help@acme.test. Msg &amp; data rates may apply. Reply STOP to opt out."
    "</Message></Response>"
)


@app.post("/twilio/sms")
def inbound_sms() -> Response:
    """Answer without looking at the request."""
    return Response(FIXED_TWIML, mimetype="application/xml")
