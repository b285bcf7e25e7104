"""Media repository: shared files, thumbnail details, URL previews, large files."""

from __future__ import annotations

import gc
import io
import os
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.api.admin.admin_helpers import A1, new_admin
from tests.api.helpers import auth_header, services_of
from tests.api.test_media import AUTHED, UPLOAD, Client, _token, _upload

PREVIEW = AUTHED + "/preview_url"
LEGACY_PREVIEW = "/_matrix/media/v3/preview_url"
MiB = 1024 * 1024
ClientFor = Callable[..., Awaitable[Client]]


def _exif_jpeg() -> bytes:
    """A 200x100 JPEG whose EXIF says "rotate 90°" (orientation 6)."""
    img = Image.new("RGB", (200, 100), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


def _gif(size: tuple[int, int], frames: int) -> bytes:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    images = [Image.new("RGB", size, colours[i % len(colours)]) for i in range(frames)]
    buf = io.BytesIO()
    images[0].save(buf, "GIF", save_all=True, append_images=images[1:], duration=50, loop=0)
    return buf.getvalue()


async def _thumb(client: Client, token: str, media: str, **params: str) -> tuple[str, bytes]:
    resp = await client.get(
        f"{AUTHED}/thumbnail/{media}", params=params, headers=auth_header(token)
    )
    data = await resp.read()
    assert resp.status == 200, data
    return resp.headers["Content-Type"], data


# --- de-duplication -----------------------------------------------------------


async def test_identical_uploads_share_one_file(client: Client) -> None:
    token = await _token(client)
    data = os.urandom(4096)
    first = await _upload(client, token, data)
    second = await _upload(client, token, data)
    other = await _upload(client, token, os.urandom(4096))
    files = services_of(client).media.files
    stat = [files.content_path(m.split("/")[1]).stat() for m in (first, second, other)]
    assert first != second
    assert stat[0].st_ino == stat[1].st_ino
    assert stat[0].st_ino != stat[2].st_ino


async def test_deleting_one_shared_upload_keeps_the_others_file(client: Client) -> None:
    admin = await new_admin(client)
    token = await _token(client, "bob")
    data = os.urandom(2048)
    first = await _upload(client, token, data)
    second = await _upload(client, token, data)
    await admin.ok("DELETE", f"{A1}/media/{first}")
    gone = await client.get(f"{AUTHED}/download/{first}", headers=auth_header(token))
    assert gone.status == 404
    kept = await client.get(f"{AUTHED}/download/{second}", headers=auth_header(token))
    assert kept.status == 200
    assert await kept.read() == data
    await admin.ok("DELETE", f"{A1}/media/{second}")
    path = services_of(client).media.files.content_path(second.split("/")[1])
    assert not path.exists()


# --- thumbnails ----------------------------------------------------------------


async def test_thumbnail_applies_exif_orientation(client: Client) -> None:
    token = await _token(client)
    media = await _upload(client, token, _exif_jpeg(), "image/jpeg")
    content_type, data = await _thumb(client, token, media, width="320", height="240")
    assert content_type == "image/jpeg"
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == (100, 200)


async def test_gif_thumbnail_is_static_with_checked_dimensions(client: Client) -> None:
    token = await _token(client)
    media = await _upload(client, token, _gif((640, 480), 3), "image/gif")
    content_type, data = await _thumb(client, token, media, width="320", height="240")
    assert content_type == "image/png"
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == (320, 240)
        assert getattr(img, "n_frames", 1) == 1


async def test_gif_thumbnail_keeps_frames_when_animated(client: Client) -> None:
    token = await _token(client)
    media = await _upload(client, token, _gif((200, 100), 3), "image/gif")
    params = {"width": "96", "height": "96", "method": "crop"}
    content_type, data = await _thumb(client, token, media, animated="true", **params)
    assert content_type == "image/gif"
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == (96, 96)
        assert img.n_frames == 3
    # The static rendering of the same size is cached separately.
    content_type, data = await _thumb(client, token, media, animated="false", **params)
    assert content_type == "image/png"
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == (96, 96)


async def test_webp_thumbnail_keeps_frames_when_animated(client: Client) -> None:
    token = await _token(client)
    frames = [Image.new("RGB", (200, 100), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], duration=80)
    media = await _upload(client, token, buf.getvalue(), "image/webp")
    content_type, data = await _thumb(
        client, token, media, width="96", height="96", method="crop", animated="true"
    )
    assert content_type == "image/webp"
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == (96, 96)
        assert img.n_frames == 2


# --- URL previews ----------------------------------------------------------------

_PAGE = (
    "<html><head><title>Fallback title</title>"
    '<meta property="og:title" content="Hello &amp; welcome">'
    '<meta property="og:description" content="A test page">'
    '<meta property="og:image" content="/image.png">'
    "</head><body>hi</body></html>"
)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (20, 10), (1, 2, 3)).save(buf, "PNG")
    return buf.getvalue()


async def _site(redirect_to: str = "") -> TestServer:
    async def page(_: web.Request) -> web.Response:
        return web.Response(text=_PAGE, content_type="text/html")

    async def titled(_: web.Request) -> web.Response:
        return web.Response(text="<title> Only a title </title>", content_type="text/html")

    async def image(_: web.Request) -> web.Response:
        return web.Response(body=_png(), content_type="image/png")

    async def big(_: web.Request) -> web.Response:
        return web.Response(text="<p>" + "x" * 10_000, content_type="text/html")

    async def redirect(_: web.Request) -> web.Response:
        raise web.HTTPFound(redirect_to)

    app = web.Application()
    app.router.add_get("/page", page)
    app.router.add_get("/titled", titled)
    app.router.add_get("/image.png", image)
    app.router.add_get("/big", big)
    app.router.add_get("/redirect", redirect)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


def _preview_config(**extra: Any) -> dict[str, Any]:
    return {"url_preview_enabled": True, **extra}


async def _preview(client: Client, token: str, url: str, path: str = PREVIEW) -> Any:
    resp = await client.get(path, params={"url": url}, headers=auth_header(token))
    return resp.status, await resp.json()


async def test_preview_url_is_unrecognized_when_disabled(client: Client) -> None:
    token = await _token(client)
    for path in (PREVIEW, LEGACY_PREVIEW):
        status, body = await _preview(client, token, "http://127.0.0.1:1/", path)
        assert status == 404
        assert body["errcode"] == "M_UNRECOGNIZED"


async def test_preview_url_reads_opengraph_from_an_allowed_address(client_for: ClientFor) -> None:
    site = await _site()
    try:
        client = await client_for(
            media=_preview_config(url_preview_ip_range_whitelist=["127.0.0.1/32"])
        )
        token = await _token(client)
        for path in (PREVIEW, LEGACY_PREVIEW):
            status, body = await _preview(client, token, str(site.make_url("/page")), path)
            assert status == 200, body
            assert body["og:title"] == "Hello & welcome"
            assert body["og:description"] == "A test page"
            assert body["og:image"].startswith("mxc://test.local/")
            assert body["matrix:image:size"] == len(_png())
            # The fetched image's own dimensions, as Synapse gives them.
            assert (body["og:image:width"], body["og:image:height"]) == (20, 10)
            image = await client.get(
                f"{AUTHED}/download/{body['og:image'][len('mxc://') :]}",
                headers=auth_header(token),
            )
            assert await image.read() == _png()
        status, body = await _preview(client, token, str(site.make_url("/titled")))
        assert status == 200
        assert body == {"og:title": "Only a title"}
    finally:
        await site.close()


async def test_preview_url_refuses_loopback_by_default(client_for: ClientFor) -> None:
    site = await _site()
    try:
        client = await client_for(media=_preview_config())
        token = await _token(client)
        status, body = await _preview(client, token, str(site.make_url("/page")))
        assert status == 403
        assert body["errcode"] == "M_FORBIDDEN"
        # A name is checked on the address it resolves to.
        status, body = await _preview(client, token, f"http://localhost:{site.port}/page")
        assert status == 403
        assert body["errcode"] == "M_FORBIDDEN"
    finally:
        await site.close()


async def test_preview_url_refuses_a_redirect_to_a_denied_address(client_for: ClientFor) -> None:
    # 127.0.0.2 is denied (127.0.0.0/8) and not allowed; nothing listens there.
    site = await _site(redirect_to="http://127.0.0.2:9/page")
    try:
        client = await client_for(
            media=_preview_config(url_preview_ip_range_whitelist=["127.0.0.1/32"])
        )
        token = await _token(client)
        status, body = await _preview(client, token, str(site.make_url("/redirect")))
        assert status == 403
        assert body["errcode"] == "M_FORBIDDEN"
    finally:
        await site.close()


async def test_preview_url_refuses_an_oversized_page(client_for: ClientFor) -> None:
    site = await _site()
    try:
        client = await client_for(
            media=_preview_config(
                url_preview_ip_range_whitelist=["127.0.0.1/32"], url_preview_max_bytes=1024
            )
        )
        token = await _token(client)
        status, body = await _preview(client, token, str(site.make_url("/big")))
        assert status == 502
        assert body["errcode"] == "M_TOO_LARGE"
    finally:
        await site.close()


async def test_preview_url_rejects_other_schemes(client_for: ClientFor) -> None:
    client = await client_for(media=_preview_config())
    token = await _token(client)
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/", "not a url", "http://"):
        status, body = await _preview(client, token, url)
        assert status == 400, url
        assert body["errcode"] == "M_INVALID_PARAM"
    resp = await client.get(PREVIEW, headers=auth_header(token))
    assert resp.status == 400
    assert (await resp.json())["errcode"] == "M_MISSING_PARAM"


@pytest.fixture
async def preview_client(client_for: ClientFor) -> Client:
    # No whitelist: whatever URL is drawn, nothing on this machine is reached.
    return await client_for(media=_preview_config(url_preview_timeout_ms=500))


_fuzz_tokens: weakref.WeakKeyDictionary[Client, str] = weakref.WeakKeyDictionary()


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    url=st.one_of(
        st.text(max_size=40),
        st.sampled_from(["127.0.0.1", "[::1]", "10.0.0.1", "[::ffff:127.0.0.1]"]).map(
            lambda h: f"http://{h}/"
        ),
    ),
    ts=st.one_of(st.none(), st.text(max_size=8)),
)
async def test_preview_url_random_params_never_500(
    preview_client: Client, url: str, ts: str | None
) -> None:
    client = preview_client
    if client not in _fuzz_tokens:
        _fuzz_tokens[client] = await _token(client, "fuzzer")
    params = {"url": url} if ts is None else {"url": url, "ts": ts}
    resp = await client.get(PREVIEW, params=params, headers=auth_header(_fuzz_tokens[client]))
    body = await resp.json()
    assert resp.status in (400, 403), body
    assert isinstance(body["errcode"], str)
    assert isinstance(body["error"], str)


# --- large files -------------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def _body(total: int) -> AsyncIterator[bytes]:
    chunk = b"\xab" * MiB
    for _ in range(total // MiB):
        yield chunk


async def test_100_mib_upload_and_download_stream_in_bounded_memory(
    client_for: ClientFor,
) -> None:
    size = 100 * MiB
    client = await client_for(limits={"max_upload_bytes": 200 * MiB})
    token = await _token(client)
    gc.collect()
    before = _rss_bytes()
    resp = await client.post(
        UPLOAD,
        data=_body(size),
        headers={**auth_header(token), "Content-Type": "application/octet-stream"},
    )
    assert resp.status == 200
    media = (await resp.json())["content_uri"][len("mxc://") :]
    resp = await client.get(f"{AUTHED}/download/{media}", headers=auth_header(token))
    assert resp.status == 200
    received = 0
    async for chunk in resp.content.iter_chunked(MiB):
        assert chunk.count(0xAB) == len(chunk)
        received += len(chunk)
    assert received == size
    assert _rss_bytes() - before < 60 * MiB


async def test_download_answers_range_requests(client: Client) -> None:
    token = await _token(client)
    data = os.urandom(10_000)
    media = await _upload(client, token, data)
    resp = await client.get(
        f"{AUTHED}/download/{media}", headers={**auth_header(token), "Range": "bytes=100-199"}
    )
    assert resp.status == 206
    assert resp.headers["Content-Range"] == "bytes 100-199/10000"
    assert await resp.read() == data[100:200]
