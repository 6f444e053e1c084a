"""A ready-made web tool: fetch a page as text, never from a private network by default.

    agentkit run "What does example.org say?" -T web

Every connection is checked where it is made: the host name is resolved, and if any of its
addresses is loopback, private, link-local, reserved or multicast, the fetch is refused
(redirects included, and the checked address is the one connected to, so a name cannot
change its answer in between). `WebTools(allow_private=True)` lifts this, e.g. for an
intranet. `timeout` (15 s) bounds the whole fetch, redirects included, not each read; a size
limit applies; HTML is reduced to its text.
"""

from __future__ import annotations

import functools
import html.parser
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urljoin, urlsplit

import anyio
import anyio.to_thread
import httpcore

from agentkit import Tool, tool

Resolver = Callable[[str, int], Awaitable[list[str]]]
MAX_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 5
_PARSE_CHUNK = 16 * 1024
"""HTML is parsed this much at a time, so a deadline is checked between pieces."""
USER_AGENT = "agentkit-web-tool/0.1"


class BlockedAddressError(PermissionError):
    """The URL leads to an address the tool may not reach."""


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve `host` with the system resolver (all addresses)."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses that pass the check, resolving names itself."""

    def __init__(self, allow_private: bool, resolver: Resolver) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private
        self._resolver = resolver

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = [host] if _is_ip(host) else await self._resolver(host, port)
        if not addresses:
            raise BlockedAddressError(f"{host} has no address")
        if not self._allow_private:
            for address in addresses:
                if not _is_public(address):
                    raise BlockedAddressError(
                        f"{host} resolves to {address}, a private, loopback or reserved "
                        "address; fetching from it is not allowed"
                    )
        return await self._inner.connect_tcp(
            addresses[0],
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddressError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class WebTools:
    """The web tool with its safety settings."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        timeout: float = 15.0,
        max_bytes: int = MAX_BYTES,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.resolver = resolver

    def tools(self) -> list[Tool[..., Any]]:
        """The tools with these settings."""
        return [tool(self.fetch_url)]

    async def fetch_url(self, url: str, max_chars: int = 20_000) -> str:
        """Fetch a web page (http or https) and return its text.

        Args:
            url: The address, e.g. "https://example.org/".
            max_chars: Return at most this many characters of text.
        """
        backend = _GuardedBackend(self.allow_private, self.resolver)
        deadline = time.monotonic() + self.timeout
        try:  # one deadline for the whole fetch: a server trickling bytes cannot stretch it
            with anyio.fail_after(self.timeout):
                return await self._fetch(backend, url, max_chars, deadline)
        except TimeoutError:
            raise TimeoutError(f"{url} was not fetched within {self.timeout:g} s") from None

    async def fetch_bytes(self, url: str) -> tuple[bytes, str]:
        """The content at `url` and its final URL, through the same guard (no text made).

        What `fetch_attachment` reads an image, a PDF or audio with.
        """
        backend = _GuardedBackend(self.allow_private, self.resolver)
        try:
            with anyio.fail_after(self.timeout):
                async with httpcore.AsyncConnectionPool(network_backend=backend, retries=0) as pool:
                    status, _, body, url = await self._followed(pool, url)
        except TimeoutError:
            raise TimeoutError(f"{url} was not fetched within {self.timeout:g} s") from None
        if status >= 400:
            raise ConnectionError(f"{url} answered HTTP {status}")
        return body, url

    async def _fetch(
        self, backend: _GuardedBackend, url: str, max_chars: int, deadline: float
    ) -> str:
        async with httpcore.AsyncConnectionPool(network_backend=backend, retries=0) as pool:
            status, headers, body, url = await self._followed(pool, url)
        # Parsed in a worker thread, within the fetch's deadline: hostile HTML (2 MiB of `<`)
        # is slow to parse, and must neither freeze the event loop nor outlast the timeout.
        parse = functools.partial(_as_text, body, headers.get("content-type", ""), url, deadline)
        text = await anyio.to_thread.run_sync(parse, abandon_on_cancel=True)
        prefix = "" if status < 400 else f"[HTTP {status}]\n"
        return (prefix + text)[:max_chars]

    async def _followed(
        self, pool: httpcore.AsyncConnectionPool, url: str
    ) -> tuple[int, dict[str, str], bytes, str]:
        """The answer at `url`, redirects followed (each one checked again).

        Its status, headers, body and final URL.
        """
        for _ in range(MAX_REDIRECTS + 1):
            _check_scheme(url)
            status, headers, body = await self._get(pool, url)
            location = headers.get("location")
            if status in (301, 302, 303, 307, 308) and location:
                url = urljoin(url, location)
                continue
            return status, headers, body, url
        raise ValueError(f"more than {MAX_REDIRECTS} redirects")

    async def _get(
        self, pool: httpcore.AsyncConnectionPool, url: str
    ) -> tuple[int, dict[str, str], bytes]:
        timeouts = {
            "connect": self.timeout,
            "read": self.timeout,
            "write": self.timeout,
            "pool": self.timeout,
        }
        headers = {
            "User-Agent": USER_AGENT,
            "Accept": "text/html, text/plain, application/json;q=0.9, */*;q=0.1",
        }
        try:
            async with pool.stream(
                "GET", url, headers=headers, extensions={"timeout": timeouts}
            ) as response:
                body = bytearray()
                async for part in response.aiter_stream():
                    body += part
                    if len(body) > self.max_bytes:
                        raise ValueError(f"the page is larger than {self.max_bytes} bytes")
                decoded = {
                    k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers
                }
                return response.status, decoded, bytes(body)
        except httpcore.TimeoutException:
            raise TimeoutError(f"{url} did not answer within {self.timeout:g} s") from None
        except (httpcore.NetworkError, httpcore.ProtocolError) as error:
            cause = (
                error.__context__ if isinstance(error.__context__, BlockedAddressError) else None
            )
            if cause is not None:
                raise cause from None
            raise ConnectionError(f"cannot fetch {url}: {error or type(error).__name__}") from None


async def fetch_attachment(
    url: str,
    *,
    allow_private: bool = False,
    max_bytes: int | None = None,
    resolver: Resolver = system_resolver,
) -> Any:
    """An `Image`, `Document` or `Audio` with the content at `url`, fetched now (inline).

    For what a model cannot fetch itself (a PDF on Chat Completions, a private intranet page
    with `allow_private=True`). Fetched as the web tool fetches: never from a private address
    unless allowed, redirects checked, one deadline, and at most `max_bytes` (default: the
    kind's media limit; checked while reading). The kind is read from the content.
    """
    from agentkit._media import MEDIA_LIMITS, attachment_of_bytes

    limit = max_bytes if max_bytes is not None else max(MEDIA_LIMITS.values())
    fetcher = WebTools(allow_private=allow_private, max_bytes=limit, resolver=resolver)
    body, final = await fetcher.fetch_bytes(url)
    name = urlsplit(final).path.rsplit("/", 1)[-1] or None
    return attachment_of_bytes(body, filename=name, max_bytes=max_bytes)


def _check_scheme(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    blocked = (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
        or ip.is_reserved or ip.is_unspecified
    )  # fmt: skip
    return ip.is_global and not blocked


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return False
    return True


def _as_text(body: bytes, content_type: str, url: str, deadline: float | None = None) -> str:
    kind = content_type.split(";")[0].strip().lower()
    charset = "utf-8"
    if "charset=" in content_type:
        charset = content_type.split("charset=")[1].split(";")[0].strip() or "utf-8"
    if kind and not (kind.startswith("text/") or kind.endswith(("json", "xml"))):
        raise ValueError(f"{url} is {kind}, not text")
    text = body.decode(charset, "replace")
    if kind in ("text/html", "application/xhtml+xml"):
        return _html_text(text, deadline)
    return text


class _TextExtractor(html.parser.HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template", "svg"})
    _BLOCK = frozenset(
        {
            "p",
            "div",
            "br",
            "li",
            "tr",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "section",
            "article",
            "title",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _html_text(page: str, deadline: float | None = None) -> str:
    """The text of an HTML page; parsing stops at `deadline` (time.monotonic()), saying so."""
    extractor = _TextExtractor()
    for start in range(0, len(page), _PARSE_CHUNK):
        extractor.feed(page[start : start + _PARSE_CHUNK])
        if deadline is not None and time.monotonic() > deadline:
            extractor.parts.append("\n[the rest of the page could not be read in time]")
            break
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).splitlines())
    return "\n".join(line for line in lines if line)


(fetch_url,) = WebTools().tools()
