"""Agent accounts: passwords, login limits and sessions."""
