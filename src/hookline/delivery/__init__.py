"""The delivery worker: dispatcher (claims, capacity), sender (HTTP), resolver (SSRF guard)."""
