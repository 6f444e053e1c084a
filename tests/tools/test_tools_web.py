"""tools/web.py: text from pages, and no requests to private networks unless allowed."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from agentkit import ConfigurationError
from agentkit.testing import make_pdf
from tests.ready_tools import load

web = load("web")
pytestmark = pytest.mark.anyio

PAGE = b"""<html><head><title>Owls</title><style>p {color: red}</style></head>
<body><h1>Owls</h1><p>Owls hunt <b>at night</b>.</p><script>alert('x')</script></body></html>"""


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes = {
            "/page": (200, "text/html; charset=utf-8", PAGE),
            "/plain": (200, "text/plain", b"just text"),
            "/big": (200, "text/plain", b"x" * 5000),
            "/image": (200, "image/png", b"\x89PNG"),
            "/invoice.pdf": (200, "application/octet-stream", make_pdf("Invoice 9")),
            "/redirect-pdf": (302, "text/plain", b""),
            "/missing": (404, "text/plain", b"not here"),
            "/hostile": (200, "text/html", b"<" * (2 * 1024 * 1024 - 16)),
        }
        if self.path == "/trickle":  # one byte at a time: each read is quick, the whole is not
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass  # the client gave up, as it should
            return
        if self.path == "/redirect-pdf":
            self.send_response(302)
            self.send_header("Location", "/invoice.pdf")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/page")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, kind, body = routes.get(self.path, (404, "text/plain", b"?"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"intranet.example:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def resolving_to(*addresses: str) -> object:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "::ffff:10.0.0.1",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fc00::1",
        "fe80::1",
        "0.0.0.0",
        "224.0.0.1",
    ],
)
async def test_names_resolving_to_private_addresses_are_refused(site: str, address: str) -> None:
    tools = web.WebTools(resolver=resolving_to(address))
    with pytest.raises(web.BlockedAddressError, match=f"resolves to {address}"):
        await tools.fetch_url(f"http://{site}/page")


async def test_one_private_address_among_public_ones_is_enough_to_refuse(site: str) -> None:
    tools = web.WebTools(resolver=resolving_to("93.184.216.34", "10.0.0.1"))
    with pytest.raises(web.BlockedAddressError):
        await tools.fetch_url(f"http://{site}/page")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/", "http://[::1]:9/", "http://169.254.169.254/latest/meta-data"]
)
async def test_private_ip_literals_are_refused(url: str) -> None:
    with pytest.raises(web.BlockedAddressError):
        await web.WebTools().fetch_url(url)


async def test_allowed_private_fetch_gives_page_text(site: str) -> None:
    tools = web.WebTools(allow_private=True, resolver=resolving_to("127.0.0.1"))
    text = await tools.fetch_url(f"http://{site}/page")
    assert text == "Owls\nOwls\nOwls hunt at night."
    assert await tools.fetch_url(f"http://{site}/plain") == "just text"
    assert await tools.fetch_url(f"http://{site}/redirect") == text
    assert (await tools.fetch_url(f"http://{site}/missing")).startswith("[HTTP 404]")
    assert await tools.fetch_url(f"http://{site}/big", max_chars=10) == "x" * 10


async def test_limits_and_content_types(site: str) -> None:
    small = web.WebTools(allow_private=True, resolver=resolving_to("127.0.0.1"), max_bytes=1000)
    with pytest.raises(ValueError, match="larger than 1000 bytes"):
        await small.fetch_url(f"http://{site}/big")
    with pytest.raises(ValueError, match="image/png, not text"):
        await small.fetch_url(f"http://{site}/image")
    with pytest.raises(ValueError, match="not an http"):
        await small.fetch_url("file:///etc/passwd")


async def test_a_trickling_server_cannot_stretch_the_fetch_past_its_deadline(site: str) -> None:
    """Before: one byte per second kept WebTools(timeout=2) busy for 20 s."""
    import anyio

    tools = web.WebTools(allow_private=True, timeout=0.5, resolver=resolving_to("127.0.0.1"))
    with anyio.fail_after(5):  # a hang guard; the deadline itself is 0.5 s
        with pytest.raises(TimeoutError, match=r"not fetched within 0\.5 s"):
            await tools.fetch_url(f"http://{site}/trickle")


async def test_hostile_html_neither_freezes_the_loop_nor_outlasts_the_deadline(site: str) -> None:
    """Before: 2 MiB of `<` took 5.7 s under timeout=2 and froze the event loop for 5.6 s."""
    import time

    import anyio

    tools = web.WebTools(allow_private=True, timeout=2, resolver=resolving_to("127.0.0.1"))
    gaps: list[float] = []

    async def tick() -> None:
        last = time.monotonic()
        while True:
            await anyio.sleep(0.05)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    started = time.monotonic()
    async with anyio.create_task_group() as group:
        group.start_soon(tick)
        with anyio.fail_after(10):  # a hang guard; the deadline itself is 2 s
            try:
                text = await tools.fetch_url(f"http://{site}/hostile")
            except TimeoutError:
                text = "timed out"
        group.cancel_scope.cancel()
    assert time.monotonic() - started < 4
    assert max(gaps) < 1.0  # the loop kept running while the page was parsed
    assert text  # an answer either way: the text read in time, or the timeout


async def test_an_attachment_is_fetched_inline_through_the_same_guard(site: str) -> None:
    from agentkit import Document

    fetched = await web.fetch_attachment(
        f"http://{site}/redirect-pdf", allow_private=True, resolver=resolving_to("127.0.0.1")
    )
    assert isinstance(fetched, Document)  # the kind read from the bytes, not the server's word
    assert fetched.filename == "invoice.pdf"
    assert fetched.data is not None
    with pytest.raises(web.BlockedAddressError):  # an intranet address, not allowed
        await web.fetch_attachment(f"http://{site}/invoice.pdf", resolver=resolving_to("10.0.0.1"))
    with pytest.raises(ConfigurationError, match="not an image"):
        await web.fetch_attachment(
            f"http://{site}/page", allow_private=True, resolver=resolving_to("127.0.0.1")
        )
    with pytest.raises(ValueError, match="larger than"):
        await web.fetch_attachment(
            f"http://{site}/invoice.pdf", allow_private=True, max_bytes=100,
            resolver=resolving_to("127.0.0.1"),
        )  # fmt: skip
