"""Conversations: texts, events, timers, takeovers and sign-ups in; effects applied in apply.py."""
