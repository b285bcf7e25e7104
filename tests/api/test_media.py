"""The content repository: upload, authenticated download, thumbnails, limits."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import weakref
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from homeserver.services.clock import FakeClock
from tests.api.helpers import auth_header, register_user, services_of

Client = TestClient[Any, Any]

UPLOAD = "/_matrix/media/v3/upload"
CREATE = "/_matrix/media/v1/create"
AUTHED = "/_matrix/client/v1/media"
LEGACY = "/_matrix/media/v3"
CSP = (
    "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; "
    "style-src 'unsafe-inline'; media-src 'self'; object-src 'self';"
)


async def _token(client: Client, name: str = "alice") -> str:
    return str((await register_user(client, name))["access_token"])


async def _upload(
    client: Client,
    token: str,
    data: bytes,
    content_type: str = "application/octet-stream",
    filename: str | None = None,
) -> str:
    params = {"filename": filename} if filename is not None else {}
    resp = await client.post(
        UPLOAD,
        data=data,
        params=params,
        headers={**auth_header(token), "Content-Type": content_type},
    )
    body = await resp.json()
    assert resp.status == 200, body
    uri: str = body["content_uri"]
    assert uri.startswith("mxc://test.local/")
    return uri[len("mxc://") :]


def _image(fmt: str, size: tuple[int, int] = (200, 100)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, fmt)
    return buf.getvalue()


async def test_upload_download_round_trip_bytes_identical(client: Client) -> None:
    token = await _token(client)
    blob = os.urandom(3 * 1024 * 1024 + 17)
    path = await _upload(client, token, blob, filename="data.bin")
    resp = await client.get(f"{AUTHED}/download/{path}", headers=auth_header(token))
    assert resp.status == 200
    got = await resp.read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(blob).digest()
    assert resp.headers["Content-Type"] == "application/octet-stream"


async def test_download_without_token_is_missing_token(client: Client) -> None:
    token = await _token(client)
    path = await _upload(client, token, b"secret bytes")
    resp = await client.get(f"{AUTHED}/download/{path}")
    assert resp.status == 401
    assert (await resp.json())["errcode"] == "M_MISSING_TOKEN"


async def test_download_other_user_can_read(client: Client) -> None:
    path = await _upload(client, await _token(client), b"shared")
    resp = await client.get(
        f"{AUTHED}/download/{path}", headers=auth_header(await _token(client, "bob"))
    )
    assert resp.status == 200
    assert await resp.read() == b"shared"


async def test_download_security_headers_present(client: Client) -> None:
    token = await _token(client)
    path = await _upload(client, token, b"<script>alert(1)</script>", "text/html", "x.html")
    resp = await client.get(f"{AUTHED}/download/{path}", headers=auth_header(token))
    assert resp.status == 200
    assert resp.headers["Content-Security-Policy"] == CSP
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age" in resp.headers["Cache-Control"]
    # text/html is not safe inline.
    assert resp.headers["Content-Disposition"] == 'attachment; filename="x.html"'


async def test_download_safe_type_is_inline(client: Client) -> None:
    token = await _token(client)
    path = await _upload(client, token, _image("PNG"), "image/png", "cat.png")
    resp = await client.get(f"{AUTHED}/download/{path}", headers=auth_header(token))
    assert resp.headers["Content-Disposition"] == 'inline; filename="cat.png"'
    assert resp.headers["Content-Type"] == "image/png"


async def test_download_filename_in_path_overrides_upload_name(client: Client) -> None:
    token = await _token(client)
    path = await _upload(client, token, b"hello", "text/plain", "orig.txt")
    name = "résumé file.txt"
    resp = await client.get(f"{AUTHED}/download/{path}/{quote(name)}", headers=auth_header(token))
    assert resp.status == 200
    assert await resp.read() == b"hello"
    assert resp.headers["Content-Disposition"] == (
        "inline; filename*=utf-8''r%C3%A9sum%C3%A9%20file.txt"
    )
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"


async def test_download_unknown_media_not_found(client: Client) -> None:
    token = await _token(client)
    for media_id in ("doesNotExistAtAll", "bad.id"):
        resp = await client.get(
            f"{AUTHED}/download/test.local/{media_id}", headers=auth_header(token)
        )
        assert resp.status == 404
        assert (await resp.json())["errcode"] == "M_NOT_FOUND"


async def test_download_remote_media_not_found(client: Client) -> None:
    token = await _token(client)
    resp = await client.get(f"{AUTHED}/download/other.example/abcdef", headers=auth_header(token))
    assert resp.status == 404
    assert (await resp.json())["errcode"] == "M_NOT_FOUND"


async def test_upload_over_limit_is_too_large_when_streamed(client_for: Any) -> None:
    client = await client_for(limits={"max_upload_bytes": 64 * 1024})
    token = await _token(client)

    async def body() -> AsyncIterator[bytes]:
        # No Content-Length: the limit must hold while streaming.
        for _ in range(10):
            yield b"x" * 16 * 1024

    resp = await client.post(UPLOAD, data=body(), headers=auth_header(token))
    assert resp.status == 413
    assert (await resp.json())["errcode"] == "M_TOO_LARGE"
    # The partial upload was removed.
    assert list(services_of(client).media.files.tmp.iterdir()) == []


async def test_upload_over_limit_with_content_length_is_too_large(client_for: Any) -> None:
    client = await client_for(limits={"max_upload_bytes": 64 * 1024})
    token = await _token(client)
    resp = await client.post(UPLOAD, data=b"y" * (64 * 1024 + 1), headers=auth_header(token))
    assert resp.status == 413
    assert (await resp.json())["errcode"] == "M_TOO_LARGE"


async def test_upload_larger_than_json_limit_accepted(client_for: Any) -> None:
    client = await client_for(limits={"max_request_body_bytes": 4096})
    token = await _token(client)
    blob = os.urandom(256 * 1024)
    path = await _upload(client, token, blob)
    resp = await client.get(f"{AUTHED}/download/{path}", headers=auth_header(token))
    assert await resp.read() == blob


async def test_upload_over_quota_is_resource_limit_exceeded(client_for: Any) -> None:
    client = await client_for(media={"user_quota_bytes": 10_000})
    token = await _token(client)
    await _upload(client, token, b"a" * 6000)
    resp = await client.post(UPLOAD, data=b"b" * 6000, headers=auth_header(token))
    assert resp.status == 403
    assert (await resp.json())["errcode"] == "M_RESOURCE_LIMIT_EXCEEDED"
    # Another user has their own quota.
    await _upload(client, await _token(client, "bob"), b"c" * 6000)


async def test_upload_without_token_is_missing_token(client: Client) -> None:
    resp = await client.post(UPLOAD, data=b"x")
    assert resp.status == 401
    assert (await resp.json())["errcode"] == "M_MISSING_TOKEN"


async def test_thumbnail_crop_has_requested_dimensions(client: Client) -> None:
    token = await _token(client)
    path = await _upload(client, token, _image("PNG", (300, 200)), "image/png")
    for size in (32, 96):
        resp = await client.get(
            f"{AUTHED}/thumbnail/{path}",
            params={"width": size, "height": size, "method": "crop"},
            headers=auth_header(token),
        )
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "image/png"
        assert resp.headers["Content-Disposition"].startswith("inline")
        img = Image.open(io.BytesIO(await resp.read()))
        assert img.size == (size, size)


async def test_thumbnail_scale_keeps_aspect_ratio(client: Client) -> None:
    token = await _token(client)
    path = await _upload(client, token, _image("JPEG", (1000, 500)), "image/jpeg")
    resp = await client.get(
        f"{AUTHED}/thumbnail/{path}",
        params={"width": "320", "height": "240", "method": "scale"},
        headers=auth_header(token),
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "image/jpeg"
    img = Image.open(io.BytesIO(await resp.read()))
    assert img.size == (320, 160)
    # Served again from the cache, same bytes.
    again = await client.get(
        f"{AUTHED}/thumbnail/{path}",
        params={"width": "320", "height": "240", "method": "scale"},
        headers=auth_header(token),
    )
    assert Image.open(io.BytesIO(await again.read())).size == (320, 160)


async def test_thumbnail_scale_never_enlarges(client: Client) -> None:
    token = await _token(client)
    path = await _upload(client, token, _image("PNG", (50, 40)), "image/png")
    resp = await client.get(
        f"{AUTHED}/thumbnail/{path}",
        params={"width": 640, "height": 480, "animated": "true"},
        headers=auth_header(token),
    )
    assert resp.status == 200
    assert Image.open(io.BytesIO(await resp.read())).size == (50, 40)


async def test_thumbnail_of_non_image_is_bad_request(client: Client) -> None:
    token = await _token(client)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    for data, ctype in ((b"plain", "text/plain"), (svg, "image/svg+xml"), (b"junk", "image/png")):
        path = await _upload(client, token, data, ctype)
        resp = await client.get(
            f"{AUTHED}/thumbnail/{path}",
            params={"width": 32, "height": 32},
            headers=auth_header(token),
        )
        assert resp.status == 400
        assert (await resp.json())["errcode"] == "M_UNKNOWN"


async def test_thumbnail_over_pixel_limit_is_too_large(client_for: Any) -> None:
    client = await client_for(media={"max_image_pixels": 1000})
    token = await _token(client)
    path = await _upload(client, token, _image("PNG", (100, 100)), "image/png")
    resp = await client.get(
        f"{AUTHED}/thumbnail/{path}", params={"width": 32, "height": 32}, headers=auth_header(token)
    )
    assert resp.status == 413
    assert (await resp.json())["errcode"] == "M_TOO_LARGE"


async def test_thumbnail_missing_width_is_missing_param(client: Client) -> None:
    token = await _token(client)
    path = await _upload(client, token, _image("PNG"), "image/png")
    resp = await client.get(
        f"{AUTHED}/thumbnail/{path}", params={"height": 32}, headers=auth_header(token)
    )
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_MISSING_PARAM"


async def test_create_then_upload_then_download(client: Client) -> None:
    token = await _token(client)
    resp = await client.post(CREATE, headers=auth_header(token))
    body = await resp.json()
    assert resp.status == 200, body
    assert isinstance(body["unused_expires_at"], int)
    path = body["content_uri"][len("mxc://") :]

    early = await client.get(
        f"{AUTHED}/download/{path}", params={"timeout_ms": 0}, headers=auth_header(token)
    )
    assert early.status == 504
    assert (await early.json())["errcode"] == "M_NOT_YET_UPLOADED"

    put = await client.put(
        f"{UPLOAD}/{path}",
        data=b"later bytes",
        params={"filename": "later.txt"},
        headers={**auth_header(token), "Content-Type": "text/plain"},
    )
    assert put.status == 200, await put.json()
    assert await put.json() == {}

    got = await client.get(f"{AUTHED}/download/{path}", headers=auth_header(token))
    assert await got.read() == b"later bytes"
    assert got.headers["Content-Disposition"] == 'inline; filename="later.txt"'

    again = await client.put(f"{UPLOAD}/{path}", data=b"other", headers=auth_header(token))
    assert again.status == 409
    assert (await again.json())["errcode"] == "M_CANNOT_OVERWRITE_MEDIA"


async def test_download_waits_for_pending_upload(client: Client) -> None:
    token = await _token(client)
    path = (await (await client.post(CREATE, headers=auth_header(token))).json())["content_uri"][6:]
    waiting = asyncio.ensure_future(
        client.get(
            f"{AUTHED}/download/{path}", params={"timeout_ms": 10_000}, headers=auth_header(token)
        )
    )
    await asyncio.sleep(0.1)
    assert not waiting.done()
    put = await client.put(f"{UPLOAD}/{path}", data=b"arrived", headers=auth_header(token))
    assert put.status == 200
    resp = await waiting
    assert resp.status == 200
    assert await resp.read() == b"arrived"


async def test_upload_to_other_users_id_is_forbidden(client: Client) -> None:
    alice = await _token(client)
    bob = await _token(client, "bob")
    path = (await (await client.post(CREATE, headers=auth_header(alice))).json())["content_uri"][6:]
    resp = await client.put(f"{UPLOAD}/{path}", data=b"bob's", headers=auth_header(bob))
    assert resp.status == 403
    assert (await resp.json())["errcode"] == "M_FORBIDDEN"


async def test_upload_to_unknown_id_not_found(client: Client) -> None:
    token = await _token(client)
    resp = await client.put(
        f"{UPLOAD}/test.local/neverCreated", data=b"x", headers=auth_header(token)
    )
    assert resp.status == 404
    assert (await resp.json())["errcode"] == "M_NOT_FOUND"


async def test_create_past_pending_limit_is_limit_exceeded(client_for: Any) -> None:
    client = await client_for(media={"max_pending_uploads": 2})
    token = await _token(client)
    for _ in range(2):
        assert (await client.post(CREATE, headers=auth_header(token))).status == 200
    resp = await client.post(CREATE, headers=auth_header(token))
    assert resp.status == 429
    assert (await resp.json())["errcode"] == "M_LIMIT_EXCEEDED"


async def test_config_reports_upload_size(client_for: Any) -> None:
    client = await client_for(limits={"max_upload_bytes": 123_456})
    token = await _token(client)
    for path in (f"{AUTHED}/config", f"{LEGACY}/config"):
        resp = await client.get(path, headers=auth_header(token))
        assert resp.status == 200
        assert await resp.json() == {"m.upload.size": 123_456}
    assert (await client.get(f"{AUTHED}/config")).status == 401


async def test_preview_url_disabled_is_unrecognized(client: Client) -> None:
    token = await _token(client)
    resp = await client.get(
        f"{AUTHED}/preview_url", params={"url": "https://example.org"}, headers=auth_header(token)
    )
    assert resp.status == 404
    assert (await resp.json())["errcode"] == "M_UNRECOGNIZED"


async def test_legacy_download_frozen_by_default(client: Client) -> None:
    token = await _token(client)
    path = await _upload(client, token, b"new media")
    resp = await client.get(f"{LEGACY}/download/{path}")
    assert resp.status == 404
    assert (await resp.json())["errcode"] == "M_NOT_FOUND"


async def test_legacy_download_served_when_allowed(client_for: Any) -> None:
    client = await client_for(media={"allow_legacy_unauthenticated": True})
    token = await _token(client)
    path = await _upload(client, token, _image("PNG"), "image/png", "p.png")
    resp = await client.get(f"{LEGACY}/download/{path}")
    assert resp.status == 200
    assert resp.headers["Content-Security-Policy"] == CSP
    r0 = await client.get(f"/_matrix/media/r0/download/{path}/renamed.png")
    assert r0.headers["Content-Disposition"] == 'inline; filename="renamed.png"'
    thumb = await client.get(f"{LEGACY}/thumbnail/{path}", params={"width": 32, "height": 32})
    assert thumb.status == 200


async def test_legacy_endpoints_disabled_not_found(client_for: Any) -> None:
    client = await client_for(
        media={"allow_legacy_unauthenticated": True, "legacy_endpoints": False}
    )
    token = await _token(client)
    path = await _upload(client, token, b"bytes")
    resp = await client.get(f"{LEGACY}/download/{path}")
    assert resp.status == 404
    assert (await resp.json())["errcode"] == "M_NOT_FOUND"
    assert (await client.get(f"{AUTHED}/download/{path}", headers=auth_header(token))).status == 200


#: One uploaded image per test client, reused by every example.
_fuzz_media: weakref.WeakKeyDictionary[Client, tuple[str, str]] = weakref.WeakKeyDictionary()

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
param_values = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.text(max_size=12),
    st.sampled_from(["crop", "scale", "true", "false", "0", "1", ""]),
)
params = st.dictionaries(
    st.sampled_from(["width", "height", "method", "animated", "timeout_ms", "allow_remote"]),
    param_values,
    max_size=6,
)


@FUZZ
@given(query=params)
async def test_thumbnail_random_params_never_500(client: Client, query: dict[str, str]) -> None:
    if client not in _fuzz_media:
        token = await _token(client, "fuzzer")
        _fuzz_media[client] = (token, await _upload(client, token, _image("PNG"), "image/png"))
    token, path = _fuzz_media[client]
    resp = await client.get(f"{AUTHED}/thumbnail/{path}", params=query, headers=auth_header(token))
    assert resp.status < 500
    if resp.status >= 400:
        body = await resp.json()
        assert isinstance(body["errcode"], str)
        assert isinstance(body["error"], str)


async def test_thumbnail_of_animated_gif_is_static_unless_animated(client: Client) -> None:
    token = await _token(client)
    frames = [Image.new("RGB", (120, 90), color) for color in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    path = await _upload(client, token, buf.getvalue(), "image/gif")
    resp = await client.get(
        f"{AUTHED}/thumbnail/{path}",
        params={"width": 96, "height": 96, "method": "crop", "animated": "false"},
        headers=auth_header(token),
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "image/png"
    img = Image.open(io.BytesIO(await resp.read()))
    assert img.size == (96, 96)
    assert getattr(img, "n_frames", 1) == 1


async def test_concurrent_uploads_to_one_id_only_one_wins(client: Client) -> None:
    token = await _token(client)
    path = (await (await client.post(CREATE, headers=auth_header(token))).json())["content_uri"][6:]
    first, second = await asyncio.gather(
        client.put(f"{UPLOAD}/{path}", data=b"one" * 1000, headers=auth_header(token)),
        client.put(f"{UPLOAD}/{path}", data=b"two" * 1000, headers=auth_header(token)),
    )
    assert sorted([first.status, second.status]) == [200, 409]
    winner = b"one" * 1000 if first.status == 200 else b"two" * 1000
    got = await client.get(f"{AUTHED}/download/{path}", headers=auth_header(token))
    assert await got.read() == winner


async def test_expired_reservation_not_found(client_for: Any) -> None:
    clock = FakeClock()
    client = await client_for(clock=clock, media={"unused_expiration_ms": 60_000})
    token = await _token(client)
    path = (await (await client.post(CREATE, headers=auth_header(token))).json())["content_uri"][6:]
    clock.advance(61)
    resp = await client.put(f"{UPLOAD}/{path}", data=b"late", headers=auth_header(token))
    assert resp.status == 404
    assert (await resp.json())["errcode"] == "M_NOT_FOUND"
    got = await client.get(f"{AUTHED}/download/{path}", headers=auth_header(token))
    assert got.status == 404


header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@FUZZ
@given(filename=st.text(max_size=300), content_type=header_text)
async def test_upload_random_names_and_types_never_500(
    client: Client, filename: str, content_type: str
) -> None:
    if client not in _fuzz_media:
        token = await _token(client, "fuzzer")
        _fuzz_media[client] = (token, await _upload(client, token, _image("PNG"), "image/png"))
    token, _ = _fuzz_media[client]
    headers = {**auth_header(token), "Content-Type": content_type}
    resp = await client.post(UPLOAD, data=b"data", params={"filename": filename}, headers=headers)
    assert resp.status < 500
    if resp.status != 200:
        assert isinstance((await resp.json())["errcode"], str)
        return
    path = (await resp.json())["content_uri"][6:]
    got = await client.get(f"{AUTHED}/download/{path}", headers=auth_header(token))
    assert got.status == 200
    assert await got.read() == b"data"
    assert got.headers["Content-Disposition"].startswith(("inline", "attachment"))
