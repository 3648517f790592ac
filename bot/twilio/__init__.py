"""Everything that knows Twilio: webhook, forms, signatures, TwiML, gateway, a fake server."""
