"""The web console: server-rendered pages for people (see DESIGN.md, "Console").

``hookline.console.app.create_console`` builds it; the server mounts it beside the API.
"""
