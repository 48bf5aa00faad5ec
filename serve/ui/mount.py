"""Mount the dashboard on an ingress app: find the store (actor or direct), the bus URL, include the router."""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import SecretStr

from cluster.settings import CoinraySettings, load_settings
from serve.ui.source import ActorSource, OpsSource, UiSource

logger = logging.getLogger(__name__)


def bus_url(settings: CoinraySettings) -> str | None:
    """``COINRAY_REDIS_URL``, else the managed local server of this data dir if one is running, else None."""
    import redis

    from cluster.bus import STATE_FILE

    if settings.redis_url is not None:
        return settings.redis_url.get_secret_value()
    state = settings.bus_dir / STATE_FILE
    try:
        url = str(json.loads(state.read_text())["url"])
    except (OSError, ValueError, KeyError):
        return None
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return url if client.ping() else None
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return None
    finally:
        client.close()


def store_source(settings: CoinraySettings) -> UiSource:
    """The ``store`` actor when Ray runs one (chdb: one process per data dir), else the store opened here."""
    import ray

    from actors.store_writer import STORE_ACTOR_NAME

    if ray.is_initialized():
        try:
            return ActorSource(ray.get_actor(STORE_ACTOR_NAME), database=settings.store.database)
        except ValueError:
            logger.warning("ui: no %r actor in this Ray namespace; opening the store directly", STORE_ACTOR_NAME)
    from cluster.store import open_store

    return OpsSource(open_store(settings))


def mount_dashboard(api: Any, *, settings: CoinraySettings | None = None, api_token: SecretStr | None = None,
                    prefix: str = "/ui") -> Any:
    """Include the dashboard router in the FastAPI ``api`` under ``prefix``; return the router.

    Parameters
    ----------
    api:
        The ingress FastAPI application (``serve.app.create_api``'s result).
    settings:
        Resolved settings; None = :func:`cluster.settings.load_settings`.
    api_token:
        The ingress's API token (model actions on the Models page).
    """
    from serve.ui.router import build_ui_router

    settings = settings or load_settings()
    router = build_ui_router(store_source(settings), redis_url=bus_url(settings), api_token=api_token)
    api.include_router(router, prefix=prefix)
    return router
