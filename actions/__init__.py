"""Parley's custom actions: rasa-sdk Action classes that flow steps call by name."""
