"""The web console: server-rendered pages for people (see DESIGN.md, "Console").

``hookline.console.app.create_console`` builds it; the API's app factory mounts it.
"""
