"""Actions that misbehave, for testing how runners report failures."""
