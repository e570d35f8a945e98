"""create_app(settings) -> Litestar: routes, lifespan, error handler. No logic here."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator
from urllib.parse import urlsplit

from arq.connections import ArqRedis
from litestar import Litestar, Response
from litestar.config.cors import CORSConfig
from litestar.datastructures import CacheControlHeader
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router

from service import health
from service.auth.middleware import PUBLIC_PATHS, TokenAuthMiddleware
from service.auth.routes import ROUTES as AUTH_ROUTES
from service.config import Settings, load_settings
from service.db import create_pool
from service.deps import DEPENDENCIES
from service.files.routes import ROUTES as FILE_ROUTES
from service.http_errors import exception_handler
from service.storage import cold_storage, hot_storage
from service.tiering.routes import ROUTES as TIERING_ROUTES
from service.uploads.routes import ROUTES as UPLOAD_ROUTES

log = logging.getLogger("mybox.app")
WEB_DIR = Path(__file__).parent / "web"


def _ui_headers(settings: Settings) -> dict[str, str]:
    """Security headers for the web UI's static files: scripts only from here (no inline code);
    the browser may talk to the API and to the public S3 endpoint (presigned part PUTs)."""
    s3 = urlsplit(settings.s3_public_endpoint)
    s3_origin = f"{s3.scheme}://{s3.netloc}"
    csp = "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "worker-src 'self'",
        f"img-src 'self' blob: data: {s3_origin}", f"connect-src 'self' {s3_origin}",
        "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'",
    ])
    return {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}


async def _connect_pool(settings: Settings, attempts: int = 30):
    for attempt in range(attempts):
        try:
            return await create_pool(settings.database_url)
        except (OSError, ConnectionError) as exc:
            if attempt == attempts - 1:
                raise
            log.warning("Postgres not reachable yet (%s); retrying", exc)
            await asyncio.sleep(1)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.pool = await _connect_pool(settings)
        app.state.storage = hot_storage(settings)
        app.state.cold_storage = cold_storage(settings)
        app.state.redis = ArqRedis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
        for store in (app.state.storage, app.state.cold_storage):
            try:
                await store.ensure_bucket(settings.cors_origins)
            except Exception:
                log.warning("could not prepare bucket %s (S3 down?); /readyz will say so", store.bucket, exc_info=True)
        try:
            yield
        finally:
            await app.state.redis.aclose()
            await app.state.storage.close()
            await app.state.cold_storage.close()
            await app.state.pool.close()

    route_handlers: list = [*health.ROUTES, *AUTH_ROUTES, *FILE_ROUTES, *UPLOAD_ROUTES, *TIERING_ROUTES]
    if WEB_DIR.is_dir() and (WEB_DIR / "index.html").is_file():
        ui_headers = _ui_headers(settings)

        async def add_ui_headers(response: Response) -> Response:
            response.headers.update(ui_headers)
            return response

        route_handlers.append(create_static_files_router(path="/", directories=[WEB_DIR], html_mode=True,
                                                         include_in_schema=False, name="web",
                                                         after_request=add_ui_headers,
                                                         cache_control=CacheControlHeader(no_cache=True)))

    return Litestar(
        route_handlers=route_handlers,
        dependencies=DEPENDENCIES,
        lifespan=[lifespan],
        middleware=[DefineMiddleware(TokenAuthMiddleware, exclude=PUBLIC_PATHS)],
        exception_handlers={Exception: exception_handler},
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins), allow_credentials=True,
                               allow_headers=["authorization", "content-type", "x-csrf-token", "range",
                                              "if-none-match", "if-range"],
                               expose_headers=["content-range", "content-disposition", "etag", "repr-digest",
                                               "accept-ranges", "content-length"]),
        openapi_config=OpenAPIConfig(
            title="mybox", version="0.1.0", path="/schema",
            description="Self-hosted file store: upload, list, download; multipart for large files.",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
            components=Components(security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}),
            security=[{"bearer": []}],
        ),
        request_max_body_size=1024 * 1024,
        debug=False,
    )
