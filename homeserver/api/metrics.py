"""Prometheus metrics and the health check.

``GET /metrics`` is served only on listeners whose resources include
``metrics``; ``GET /health`` answers ``OK`` on every listener. One
:class:`Metrics` (its own registry, no process globals) is shared by all
listeners of a process.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from homeserver.api.http import SERVICES_KEY
from homeserver.api.routing import Auth, Handler, Route


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "homeserver_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "homeserver_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            registry=self.registry,
        )
        self.events_persisted = Counter(
            "homeserver_events_persisted",
            "Events persisted by this process",
            registry=self.registry,
        )
        self.waiting_syncs = Gauge(
            "homeserver_sync_waiters", "Long-polling /sync requests waiting", registry=self.registry
        )
        self._attached: set[int] = set()

    def attach(self, services: Any) -> None:
        """Hooks the event counter and the sync gauge onto a service graph (once)."""
        if id(services) in self._attached:
            return
        self._attached.add(id(services))

        async def count(stored: Sequence[Any]) -> None:
            self.events_persisted.inc(len(stored))

        services.rooms.persister.after_commit.append(count)
        self.waiting_syncs.set_function(lambda: float(services.notifier.waiter_count()))


METRICS_KEY = web.AppKey("metrics", Metrics)


@web.middleware
async def collect(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts each request under its route template (never the raw path)."""
    metrics = request.app.get(METRICS_KEY)
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as e:
        status = e.status
        raise
    finally:
        if metrics is not None:
            info = request.match_info.route.resource
            route = info.canonical if info is not None else "unmatched"
            metrics.requests.labels(request.method, route, str(status)).inc()
            metrics.latency.labels(request.method, route).observe(time.perf_counter() - start)


async def get_metrics(request: web.Request) -> web.Response:
    """GET /metrics

    - Prometheus text exposition of this process's metrics.
    """
    metrics = request.app[METRICS_KEY]
    metrics.attach(request.app[SERVICES_KEY])
    return web.Response(
        body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


async def get_health(request: web.Request) -> web.Response:
    """GET /health

    - ``OK`` while the process serves requests.
    """
    return web.Response(text="OK")


routes = [
    Route("GET", "/metrics", get_metrics, Auth.NONE, resource="metrics"),
]
