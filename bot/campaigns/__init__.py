"""Campaigns as files: one promotional text (with A/B variants) to a segment of subscribers."""
