"""Custom flow actions: run rasa-sdk actions in-process or on a Rasa action server."""
