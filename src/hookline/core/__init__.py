"""The pure domain: no I/O, no clock. Time and randomness are arguments."""
