"""The actor-debugging dashboard: an opt-in HTTP page and JSON API.

Started by `server.app.Server.start` when ``dashboard-port`` is non-zero and
served on the server's own event loop (aiohttp), bound to ``bind``'s address.
See docs/dashboard.md.  aiohttp is imported only when the dashboard is on, so
the server itself does not need it.
"""

from __future__ import annotations

__all__ = ["start_dashboard", "stop_dashboard"]


async def start_dashboard(server) -> None:
    try:
        from .app import Dashboard
    except ImportError as e:   # run() reports OSError as "cannot start: ..."
        raise OSError(f"dashboard-port is set but the dashboard cannot load ({e}): "
                      "pip install aiohttp") from e
    dash = Dashboard(server)
    await dash.start()
    server.extensions["dashboard"] = dash


async def stop_dashboard(server) -> None:
    dash = server.extensions.pop("dashboard", None)
    if dash is not None:
        await dash.stop()
