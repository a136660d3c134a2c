"""One router per resource.

The API's routers carry their whole path (``API_PREFIX`` and the resource's own), and the app
takes their routes as they are (``api/app.py``): ``include_router`` would build every route
again for each app, at its first requests (docs/perf/2026-12-08-routes-built-once.md). Built
outside any app, they do not see an app's ``dependency_overrides`` (Hookline sets none).
"""

API_PREFIX = "/api/v1"
