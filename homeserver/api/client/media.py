"""Content repository endpoints (client-server spec: "Content repository").

https://spec.matrix.org/v1.19/client-server-api/#content-repository

Authenticated media (``/_matrix/client/v1/media/*``, spec v1.11) is the way
to read media. The old unauthenticated ``/_matrix/media/v3/download`` and
``/thumbnail`` are kept for older clients; ``media.allow_legacy_unauthenticated``
and ``media.legacy_endpoints`` decide what they still serve. Uploads stay under
``/_matrix/media``.

Every file is served with headers that keep a browser from running it:
a sandboxing Content-Security-Policy, ``nosniff``, and ``attachment``
disposition unless the type is on the spec's list of types safe inline.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from homeserver.api.http import json_response, query_bool, query_int, requester, services
from homeserver.api.routing import CLIENT_V1, Auth, Handler, Route
from homeserver.core.errors import MissingParam
from homeserver.services.media import MediaFile
from homeserver.services.media.service import base_content_type

MEDIA_V3 = "/_matrix/media/v3"
MEDIA_R0 = "/_matrix/media/r0"
MEDIA_V1 = "/_matrix/media/v1"

#: Types a browser may show inline (spec: "Serving inline content").
INLINE_CONTENT_TYPES = frozenset(
    {
        "text/css",
        "text/plain",
        "text/csv",
        "application/json",
        "application/ld+json",
        "image/jpeg",
        "image/gif",
        "image/png",
        "image/apng",
        "image/webp",
        "image/avif",
        "video/mp4",
        "video/webm",
        "video/ogg",
        "video/quicktime",
        "audio/mp4",
        "audio/webm",
        "audio/aac",
        "audio/mpeg",
        "audio/ogg",
        "audio/wave",
        "audio/wav",
        "audio/x-wav",
        "audio/x-pn-wav",
        "audio/flac",
        "audio/x-flac",
    }
)

#: Even a type served inline may not run scripts or load anything.
CONTENT_SECURITY_POLICY = (
    "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; "
    "style-src 'unsafe-inline'; media-src 'self'; object-src 'self';"
)
#: A media id never changes content, so caches may keep it.
CACHE_CONTROL = "public, max-age=86400, s-maxage=86400"
DEFAULT_TIMEOUT_MS = 20_000
#: Characters that may stand unquoted-and-unescaped in a quoted filename.
_PLAIN_FILENAME_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !#$%&'()*+,-.:;<=>?@[]^_`{|}~"
)


def content_disposition(kind: str, filename: str | None) -> str:
    """``inline``/``attachment`` with the filename, RFC 6266 / RFC 5987 encoded."""
    if not filename:
        return kind
    if all(c in _PLAIN_FILENAME_CHARS for c in filename):
        return f'{kind}; filename="{filename}"'
    return f"{kind}; filename*=utf-8''{quote(filename, safe='')}"


def _serve(
    media: MediaFile, *, filename: str | None, thumbnail: bool = False
) -> web.StreamResponse:
    content_type = media.content_type
    base = base_content_type(content_type)
    if base.startswith("text/") and "charset" not in content_type.lower():
        content_type += "; charset=utf-8"
    if thumbnail:
        disposition = content_disposition("inline", "thumbnail." + base.split("/", 1)[1])
    else:
        kind = "inline" if base in INLINE_CONTENT_TYPES else "attachment"
        disposition = content_disposition(kind, filename or media.upload_name)
    return web.FileResponse(
        media.path,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": disposition,
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Cross-Origin-Resource-Policy": "cross-origin",
            "Cache-Control": CACHE_CONTROL,
        },
    )


def _timeout_ms(request: web.Request) -> int:
    return query_int(request, "timeout_ms", DEFAULT_TIMEOUT_MS, minimum=0) or 0


def _content_length(request: web.Request) -> int | None:
    try:
        return request.content_length
    except ValueError:
        return None


async def _download(request: web.Request, *, legacy: bool) -> web.StreamResponse:
    query_bool(request, "allow_remote", True)
    query_bool(request, "allow_redirect", False)
    media = await services(request).media.download(
        request.match_info["serverName"],
        request.match_info["mediaId"],
        timeout_ms=_timeout_ms(request),
        legacy=legacy,
    )
    return _serve(media, filename=request.match_info.get("fileName"))


async def _thumbnail(request: web.Request, *, legacy: bool) -> web.StreamResponse:
    width = query_int(request, "width", minimum=1, maximum=100_000)
    height = query_int(request, "height", minimum=1, maximum=100_000)
    if width is None or height is None:
        raise MissingParam("width and height are required")
    animated = query_bool(request, "animated", False)
    query_bool(request, "allow_remote", True)
    media = await services(request).media.thumbnail(
        request.match_info["serverName"],
        request.match_info["mediaId"],
        width=width,
        height=height,
        method=request.query.get("method", "scale"),
        timeout_ms=_timeout_ms(request),
        legacy=legacy,
        animated=bool(animated),
    )
    return _serve(media, filename=None, thumbnail=True)


async def get_download(request: web.Request) -> web.StreamResponse:
    """GET /_matrix/client/v1/media/download/{serverName}/{mediaId}[/{fileName}]

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1mediadownloadservernamemediaid

    - Needs an access token (401 M_MISSING_TOKEN without one).
    - ``fileName`` overrides the stored name in Content-Disposition.
    - A reserved id not uploaded yet waits up to ``timeout_ms``, then 504
      M_NOT_YET_UPLOADED; another server's media is 404 M_NOT_FOUND.
    """
    return await _download(request, legacy=False)


async def get_thumbnail(request: web.Request) -> web.StreamResponse:
    """GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1mediathumbnailservernamemediaid

    - ``width``/``height`` required positive integers; ``method`` crop|scale.
    - Answers the closest configured size; ``animated=true`` keeps the
      frames of an animated GIF or WebP, otherwise the thumbnail is static.
    - 400 M_UNKNOWN when the media is not an image we thumbnail; 413 when it
      has too many pixels.
    """
    return await _thumbnail(request, legacy=False)


async def get_legacy_download(request: web.Request) -> web.StreamResponse:
    """GET /_matrix/media/v3/download/{serverName}/{mediaId}[/{fileName}]

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixmediav3downloadservernamemediaid

    - Deprecated and unauthenticated; serves only media allowed by
      ``media.allow_legacy_unauthenticated`` (404 M_NOT_FOUND otherwise).
    """
    return await _download(request, legacy=True)


async def get_legacy_thumbnail(request: web.Request) -> web.StreamResponse:
    """GET /_matrix/media/v3/thumbnail/{serverName}/{mediaId}

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixmediav3thumbnailservernamemediaid

    - Deprecated and unauthenticated, as the legacy download.
    """
    return await _thumbnail(request, legacy=True)


async def post_upload(request: web.Request) -> web.Response:
    """POST /_matrix/media/v3/upload

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixmediav3upload

    - The body is streamed to disk, never held whole: 413 M_TOO_LARGE as soon
      as it passes ``limits.max_upload_bytes``; 403 M_RESOURCE_LIMIT_EXCEEDED
      past the user's quota.
    - ``filename`` query parameter; Content-Type header kept as given.
    """
    svc = services(request)
    mxc = await svc.media.upload(
        requester(request).user_id,
        request.content.iter_chunked(256 * 1024),
        content_length=_content_length(request),
        content_type=request.headers.get("Content-Type"),
        filename=request.query.get("filename"),
    )
    return json_response({"content_uri": mxc})


async def post_create(request: web.Request) -> web.Response:
    """POST /_matrix/media/v1/create

    https://spec.matrix.org/v1.19/client-server-api/#post_matrixmediav1create

    - Reserves an mxc URI to upload to later; 429 M_LIMIT_EXCEEDED past
      ``media.max_pending_uploads`` unused reservations.
    """
    mxc, expires_at = await services(request).media.create(requester(request).user_id)
    return json_response({"content_uri": mxc, "unused_expires_at": expires_at})


async def put_upload(request: web.Request) -> web.Response:
    """PUT /_matrix/media/v3/upload/{serverName}/{mediaId}

    https://spec.matrix.org/v1.19/client-server-api/#put_matrixmediav3uploadservernamemediaid

    - Uploads to an id from /create. 403 M_FORBIDDEN when another user
      reserved it; 409 M_CANNOT_OVERWRITE_MEDIA when it already has content;
      404 M_NOT_FOUND when unknown or expired.
    """
    await services(request).media.upload_to(
        requester(request).user_id,
        request.match_info["serverName"],
        request.match_info["mediaId"],
        request.content.iter_chunked(256 * 1024),
        content_length=_content_length(request),
        content_type=request.headers.get("Content-Type"),
        filename=request.query.get("filename"),
    )
    return json_response({})


async def get_config(request: web.Request) -> web.Response:
    """GET /_matrix/client/v1/media/config

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1mediaconfig

    - ``m.upload.size``: the largest upload accepted. Also served at the
      deprecated /_matrix/media/v3/config.
    """
    return json_response(services(request).media.client_config())


async def get_preview_url(request: web.Request) -> web.Response:
    """GET /_matrix/client/v1/media/preview_url

    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1mediapreview_url

    - Off unless ``media.url_preview_enabled``: 404 M_UNRECOGNIZED.
    - ``url`` required (http/https only, 400 M_INVALID_PARAM otherwise); ``ts``
      accepted, previews are reused for ``media.url_preview_cache_ms``.
    - 403 M_FORBIDDEN when the host resolves (or redirects) to an address in
      ``media.url_preview_ip_range_blacklist``; 502 when the page can't be
      fetched in time or is larger than ``media.url_preview_max_bytes``.
    - ``og:image`` is downloaded and answered as a local ``mxc://`` URI.
    Also served at the deprecated /_matrix/media/v3/preview_url.
    """
    url = request.query.get("url")
    if not url:
        raise MissingParam("url is required")
    query_int(request, "ts", None, minimum=0)
    og = await services(request).media.preview_url(requester(request).user_id, url)
    return json_response(og)


def _media_routes(method: str, tail: str, handler: Handler, auth: Auth, **kw: Any) -> list[Route]:
    """The route under /_matrix/media/v3 and its /r0 twin."""
    return [
        Route(method, prefix + tail, handler, auth, r0=False, resource="media", **kw)
        for prefix in (MEDIA_V3, MEDIA_R0)
    ]


_DOWNLOAD = "/download/{serverName}/{mediaId}"
_THUMBNAIL = "/thumbnail/{serverName}/{mediaId}"

routes: list[Route] = [
    Route("GET", CLIENT_V1 + "/media/config", get_config, Auth.USER_OR_GUEST, resource="media"),
    Route(
        "GET", CLIENT_V1 + "/media" + _DOWNLOAD, get_download, Auth.USER_OR_GUEST, resource="media"
    ),
    Route(
        "GET",
        CLIENT_V1 + "/media" + _DOWNLOAD + "/{fileName}",
        get_download,
        Auth.USER_OR_GUEST,
        resource="media",
    ),
    Route(
        "GET",
        CLIENT_V1 + "/media" + _THUMBNAIL,
        get_thumbnail,
        Auth.USER_OR_GUEST,
        resource="media",
    ),
    Route("GET", CLIENT_V1 + "/media/preview_url", get_preview_url, Auth.USER, resource="media"),
    Route("POST", MEDIA_V1 + "/create", post_create, Auth.USER, resource="media"),
    *_media_routes("POST", "/upload", post_upload, Auth.USER),
    *_media_routes("PUT", "/upload/{serverName}/{mediaId}", put_upload, Auth.USER),
    *_media_routes("GET", "/config", get_config, Auth.USER_OR_GUEST),
    *_media_routes("GET", "/preview_url", get_preview_url, Auth.USER),
    *_media_routes("GET", _DOWNLOAD, get_legacy_download, Auth.NONE),
    *_media_routes("GET", _DOWNLOAD + "/{fileName}", get_legacy_download, Auth.NONE),
    *_media_routes("GET", _THUMBNAIL, get_legacy_thumbnail, Auth.NONE),
]
