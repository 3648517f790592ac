"""Parley: self-hosted two-way SMS conversations between a brand and its customers."""

__version__ = "0.1.0"
