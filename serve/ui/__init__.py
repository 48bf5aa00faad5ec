"""The web dashboard at ``/ui``: pages, data endpoints, live updates (SSE) and alerts.

``build_ui_router(source, redis_url=..., api_token=...)`` returns a FastAPI ``APIRouter``;
the Serve ingress includes it with ``app.include_router(router, prefix="/ui")``.
"""

from __future__ import annotations

from serve.ui.router import build_ui_router
from serve.ui.source import ActorSource, OpsSource, UiSource

__all__ = ["ActorSource", "OpsSource", "UiSource", "build_ui_router"]
