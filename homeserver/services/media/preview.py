"""URL previews (``/preview_url``): fetch a page, read its OpenGraph tags.

Fetching URLs that users choose is a server-side request forgery risk, so:

- only ``http``/``https`` URLs, redirects followed by hand (each hop checked);
- every connection's address is checked after DNS resolution, by the
  connector's resolver, against ``url_preview_ip_range_blacklist`` (the
  whitelist wins); literal IP hosts, which skip the resolver, are checked
  before each hop. Checking the resolved address, not the name, is what stops
  a name that resolves to 127.0.0.1 (or changes between check and connect);
- the body is read up to ``url_preview_max_bytes`` and the whole fetch is
  bounded by ``url_preview_timeout_ms``; no proxy settings are read from the
  environment.

An ``og:image`` is downloaded the same way and stored as local media; the
preview names it by its ``mxc://`` URI. Results are cached in memory per URL.
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import logging
import socket
import warnings
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from PIL import Image

from homeserver.config.model import MediaConfig
from homeserver.core.errors import Codes, Forbidden, InvalidParam, MatrixError

logger = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Redirects followed before giving up.
_MAX_REDIRECTS = 5
#: Previews kept in memory.
_CACHE_ENTRIES = 1000
#: OpenGraph values longer than this are cut.
_MAX_VALUE = 1000
_USER_AGENT = "Mozilla/5.0 (compatible; MatrixHomeserver URL preview)"

Uploader = Callable[[bytes, str, str | None], Coroutine[Any, Any, str]]


class DeniedAddress(Exception):
    """The URL's host resolved to an address previews may not connect to."""


class _FetchFailed(Exception):
    pass


class IpRanges:
    """The deny list with its allow-list exceptions."""

    def __init__(self, deny: list[str], allow: list[str]) -> None:
        self.deny: list[IPNetwork] = [ipaddress.ip_network(c, strict=False) for c in deny]
        self.allow: list[IPNetwork] = [ipaddress.ip_network(c, strict=False) for c in allow]

    def denied(self, address: str) -> bool:
        """True when previews may not connect to ``address``."""
        try:
            ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
                address.split("%", 1)[0]
            )
        except ValueError:
            return True
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            # ::ffff:127.0.0.1 reaches 127.0.0.1.
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.allow):
            return False
        return ip.is_unspecified or any(ip in net for net in self.deny)


class GuardedResolver(AbstractResolver):
    """Resolves names, then refuses when any address is denied."""

    def __init__(self, ranges: IpRanges) -> None:
        self._ranges = ranges
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            if self._ranges.denied(result["host"]):
                raise DeniedAddress(f"{host} resolves to a denied address")
        return results

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True, slots=True)
class _Fetched:
    url: str
    content_type: str
    body: bytes


class _OpenGraph(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.og: dict[str, str] = {}
        self.title: str | None = None
        self._in_title = False
        self._title_parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            values = dict(attrs)
            key = values.get("property") or values.get("name")
            content = values.get("content")
            if key and content is not None and key.startswith("og:") and key not in self.og:
                self.og[key] = content[:_MAX_VALUE]
        elif tag == "title" and self.title is None:
            self._in_title = True

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title_parts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self._in_title = False
            self.title = "".join(self._title_parts).strip()[:_MAX_VALUE]


def parse_html(body: bytes, charset: str | None) -> dict[str, str]:
    """The ``og:*`` tags of a page; ``og:title`` falls back to ``<title>``."""
    try:
        text = body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    parser = _OpenGraph()
    parser.feed(text)
    parser.close()
    og = dict(parser.og)
    if "og:title" not in og and parser.title:
        og["og:title"] = parser.title
    return og


class UrlPreviewer:
    """Makes and caches previews (blocking nothing: all I/O is async)."""

    def __init__(self, config: MediaConfig, time_ms: Callable[[], int]) -> None:
        self._config = config
        self._time_ms = time_ms
        self._ranges = IpRanges(
            config.url_preview_ip_range_blacklist, config.url_preview_ip_range_whitelist
        )
        self._cache: OrderedDict[str, tuple[int, dict[str, Any]]] = OrderedDict()

    async def preview(self, url: str, upload: Uploader) -> dict[str, Any]:
        """The OpenGraph data of ``url``.

        Args:
            upload: stores an ``og:image``'s bytes (data, content type, name)
                and returns its ``mxc://`` URI.

        Raises:
            Unrecognized: previews are disabled.
            InvalidParam: not an absolute http(s) URL.
            Forbidden: the host is (or resolves to, or redirects to) a denied address.
            MatrixError: 502 when the page can't be fetched in time or is too large.
        """
        if not self._config.url_preview_enabled:
            raise MatrixError("URL previews are disabled on this server", code=Codes.UNRECOGNIZED)
        _check_url(url)
        now = self._time_ms()
        cached = self._cache.get(url)
        if cached is not None and now - cached[0] < self._config.url_preview_cache_ms:
            return cached[1]
        try:
            async with asyncio.timeout(self._config.url_preview_timeout_ms / 1000):
                og = await self._make(url, upload)
        except TimeoutError as e:
            raise _bad_gateway("Timed out fetching the URL") from e
        self._cache[url] = (now, og)
        self._cache.move_to_end(url)
        while len(self._cache) > _CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return og

    async def _make(self, url: str, upload: Uploader) -> dict[str, Any]:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self._ranges), use_dns_cache=False
        )
        async with aiohttp.ClientSession(
            connector=connector, trust_env=False, headers={"User-Agent": _USER_AGENT}
        ) as session:
            page = await self._fetch(session, url)
            if page.content_type.startswith("image/"):
                return await self._image_fields(page, upload)
            if page.content_type not in ("text/html", "application/xhtml+xml"):
                return {}
            og: dict[str, Any] = parse_html(page.body, None)
            image = og.pop("og:image", None)
            if image:
                try:
                    image_url = urljoin(page.url, image)
                    _check_url(image_url)
                    fetched = await self._fetch(session, image_url)
                    if fetched.content_type.startswith("image/"):
                        og.update(await self._image_fields(fetched, upload))
                except (MatrixError, _FetchFailed) as e:
                    # The page's preview is still worth having without its image.
                    logger.debug("Preview of %s: og:image not fetched: %s", url, e)
            return og

    async def _image_fields(self, image: _Fetched, upload: Uploader) -> dict[str, Any]:
        name = urlsplit(image.url).path.rsplit("/", 1)[-1][:255] or None
        mxc = await upload(image.body, image.content_type, name)
        fields: dict[str, Any] = {
            "og:image": mxc,
            "og:image:type": image.content_type,
            "matrix:image:size": len(image.body),
        }
        size = _image_size(image.body)
        if size is not None:
            # As Synapse: the dimensions of the image actually fetched.
            fields["og:image:width"], fields["og:image:height"] = size
        return fields

    async def _fetch(self, session: aiohttp.ClientSession, url: str) -> _Fetched:
        for _ in range(_MAX_REDIRECTS + 1):
            host = urlsplit(url).hostname or ""
            if _is_ip_literal(host) and self._ranges.denied(host):
                # Literal addresses never reach the resolver.
                raise Forbidden("IP address blocked by the URL preview policy")
            try:
                async with session.get(url, allow_redirects=False) as resp:
                    if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                        url = urljoin(url, resp.headers["Location"])
                        _check_url(url)
                        continue
                    if resp.status != 200:
                        raise _bad_gateway(f"The URL answered {resp.status}")
                    body = await _read_limited(resp.content, self._config.url_preview_max_bytes)
                    content_type = resp.headers.get("Content-Type", "")
                    return _Fetched(url, content_type.split(";", 1)[0].strip().lower(), body)
            except DeniedAddress as e:
                raise Forbidden("IP address blocked by the URL preview policy") from e
            except aiohttp.ClientConnectorError as e:
                if isinstance(e.os_error, DeniedAddress) or isinstance(e.__cause__, DeniedAddress):
                    raise Forbidden("IP address blocked by the URL preview policy") from e
                raise _bad_gateway("Could not connect to the URL") from e
            except (aiohttp.ClientError, ValueError) as e:
                raise _bad_gateway("Could not fetch the URL") from e
        raise _bad_gateway("Too many redirects")


async def _read_limited(content: aiohttp.StreamReader, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in _chunks(content):
        size += len(chunk)
        if size > limit:
            raise MatrixError(
                "The URL's content is too large to preview", code=Codes.TOO_LARGE, status=502
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def _chunks(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    async for chunk in content.iter_chunked(64 * 1024):
        yield chunk


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise InvalidParam("url is not a valid URL") from e
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParam("Only http and https URLs can be previewed")
    del port


def _bad_gateway(message: str) -> MatrixError:
    return MatrixError(message, code=Codes.UNKNOWN, status=502)


def _image_size(body: bytes) -> tuple[int, int] | None:
    """Width and height from the image's header (nothing is decoded), if
    Pillow recognises it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(body)) as img:
                width, height = img.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return width, height
