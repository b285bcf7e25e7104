"""The composition root: builds the application and runs the listeners.

Startup order: config → database (migrated) → signing key → services →
listeners. Shutdown runs the other way: listeners stop accepting, in-flight
requests finish (up to a grace period), background tasks are cancelled, the
database closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from signedjson.key import generate_signing_key, read_signing_keys, write_signing_keys
from signedjson.types import SigningKey

from homeserver.api.http import SERVICES_KEY
from homeserver.api.metrics import METRICS_KEY, Metrics, collect, get_health
from homeserver.api.middleware import request_context
from homeserver.api.routing import install_routes
from homeserver.config.model import Config, ListenerConfig
from homeserver.services.clock import Clock, SystemClock
from homeserver.services.container import Services, build_services
from homeserver.storage.db.migrate import migrate
from homeserver.storage.db.open import open_database

logger = logging.getLogger(__name__)

ALL_RESOURCES = {"client", "federation", "keys", "media", "admin", "metrics"}


def signing_key_path(config: Config) -> Path:
    return Path(config.signing_key_path or Path(config.data_dir) / "signing.key")


def load_or_create_signing_key(config: Config) -> SigningKey:
    """Reads the server's signing key, creating one on first start."""
    path = signing_key_path(config)
    if path.exists():
        with path.open() as f:
            keys = read_signing_keys(f)
        if not keys:
            raise SystemExit(f"signing key file {path} holds no key")
        key: SigningKey = keys[0]
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_signing_key("a_" + _random_key_version())
    with path.open("w") as f:
        write_signing_keys(f, [key])
    path.chmod(0o600)
    logger.info("Generated a new signing key in %s", path)
    return key


def _random_key_version() -> str:
    import secrets
    import string

    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(4))


async def open_services(config: Config, clock: Clock | None = None) -> Services:
    """Opens the database, applies migrations and builds the services."""
    # Start-up, before serving: a blocking mkdir is fine here.
    Path(config.data_dir).mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
    db = await open_database(
        config.database.url,
        readers=config.database.readers,
        max_connections=config.database.pool_max,
    )
    try:
        applied = await migrate(db)
        if applied:
            logger.info("Applied schema deltas: %s", ", ".join(applied))
        key = load_or_create_signing_key(config)
        return await build_services(config, db, clock or SystemClock(), key)
    except BaseException:
        await db.close()
        raise


async def close_services(svc: Services) -> None:
    closer = getattr(svc, "close", None)
    if closer is not None:
        await closer()
    await svc.db.close()


def create_app(
    config: Config,
    *,
    services: Services | None = None,
    resources: set[str] | None = None,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
) -> web.Application:
    """Builds the aiohttp application.

    Args:
        config: the validated configuration.
        services: an already-open service graph (several listeners share one);
            when None the app opens and closes its own.
        resources: which APIs to serve (default: all).
        clock: injected clock (tests).
        metrics: the process's metrics (several listeners share one).
    """
    app = web.Application(
        middlewares=[collect, request_context],
        client_max_size=max(config.limits.max_request_body_bytes, config.limits.max_upload_bytes),
    )
    if services is not None:
        app[SERVICES_KEY] = services
    else:

        async def services_ctx(app: web.Application) -> AsyncIterator[None]:
            svc = await open_services(config, clock)
            app[SERVICES_KEY] = svc
            yield
            await close_services(svc)

        app.cleanup_ctx.append(services_ctx)

    async def end_long_polls(app: web.Application) -> None:
        # Shutdown waits for in-flight requests: long-polls answer now.
        app[SERVICES_KEY].notifier.shutdown()

    app.on_shutdown.append(end_long_polls)
    install_routes(app, resources or ALL_RESOURCES)
    app[METRICS_KEY] = metrics or Metrics()
    app.router.add_get("/health", get_health)

    async def attach_metrics(app: web.Application) -> None:
        app[METRICS_KEY].attach(app[SERVICES_KEY])

    app.on_startup.append(attach_metrics)
    return app


def _ssl_context(listener: ListenerConfig) -> ssl.SSLContext | None:
    if not listener.tls:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    assert listener.tls_certificate_path
    assert listener.tls_private_key_path
    ctx.load_cert_chain(listener.tls_certificate_path, listener.tls_private_key_path)
    return ctx


async def serve(config: Config, *, ready: asyncio.Event | None = None) -> None:
    """Runs every listener until SIGTERM/SIGINT, then shuts down gracefully."""
    svc = await open_services(config)
    runners: list[web.AppRunner] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    metrics = Metrics()
    try:
        for listener in config.listeners:
            app = create_app(
                config, services=svc, resources=set(listener.resources), metrics=metrics
            )
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=10.0)
            await runner.setup()
            runners.append(runner)
            site = web.TCPSite(
                runner,
                host=listener.bind_address,
                port=listener.port,
                ssl_context=_ssl_context(listener),
            )
            await site.start()
            scheme = "https" if listener.tls else "http"
            for addr in runner.addresses:
                host, port = addr[0], addr[1]
                logger.info(
                    "Listening on %s://%s:%s (%s)",
                    scheme,
                    host,
                    port,
                    ", ".join(listener.resources),
                )
        logger.info("Homeserver %s is ready", config.server_name)
        if ready is not None:
            ready.set()
        await stop.wait()
        logger.info("Shutting down: finishing in-flight requests")
        # Long-polling /sync requests answer now rather than at their timeout.
        svc.notifier.shutdown()
    finally:
        for runner in runners:
            await runner.cleanup()
        await close_services(svc)
        logger.info("Stopped")
