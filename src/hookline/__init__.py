"""Hookline: webhook delivery for messaging, email and phone platforms."""

__version__ = "0.1.0"
