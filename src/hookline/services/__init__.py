"""Use cases shared by the API, the CLI and the dashboard. Authorization is decided here."""
