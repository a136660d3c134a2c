"""Tests of the hookline-sdk distribution (sdk/), against the real server and CLI."""
