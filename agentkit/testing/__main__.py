"""Run a MockChatServer on its own: `python -m agentkit.testing --port 8000 --scenario tools`.

Prints the base URL on the first line of stdout, then serves until interrupted. Used by the
benchmarks (the server in its own process) and handy for trying clients by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading

from ._scenarios import SCENARIOS, flaky
from ._script import Fault
from ._server import MockChatServer


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m agentkit.testing", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument(
        "--scenario", choices=sorted(SCENARIOS), default="tools", help="how requests are answered"
    )
    parser.add_argument("--tool-calls", type=int, default=1, help="calls per tool turn (tools)")
    parser.add_argument("--chunk-size", type=int, default=16, help="characters per streamed piece")
    parser.add_argument(
        "--chunk-delay", type=float, default=0.0, help="seconds between streamed events"
    )
    parser.add_argument(
        "--fail-rate", type=float, default=0.0, help="share of requests answered with an error"
    )
    parser.add_argument(
        "--fail-status", type=int, default=503, help="the status of those errors (--fail-rate)"
    )
    parser.add_argument(
        "--usd-per-request", help="report this charge as AI/ML API does (a decimal string)"
    )
    parser.add_argument(
        "--bill-model", action="append", metavar="NAME",
        help="report charges only for requests naming this model (repeatable)",
    )  # fmt: skip
    options = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    responder = SCENARIOS[options.scenario](
        options.tool_calls, options.chunk_size, options.chunk_delay
    )
    if options.fail_rate:
        responder = flaky(
            responder, options.fail_rate, fault=Fault.http(options.fail_status, message="flaky")
        )
    server = MockChatServer(
        responder=responder, latency=options.latency, host=options.host, port=options.port,
        usd_per_request=options.usd_per_request, billed_models=options.bill_model,
    )  # fmt: skip
    with server:
        print(server.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


if __name__ == "__main__":
    main()
