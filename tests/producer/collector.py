"""A local HTTP collector for the HTTP target's tests: answers each request as a script says."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

#: What the collector does with request N: ok (200), 500, 429 (Retry-After), drop (read the
#: body, then close the connection without an answer: the client cannot know it arrived).
Script = list[str]


class Collector:
    def __init__(self, script: Script | None = None, retry_after: str = "1") -> None:
        self.script = script or []
        self.retry_after = retry_after
        self.accepted: list[list[bytes]] = []
        self.dropped: list[list[bytes]] = []
        self.log: list[tuple[float, str, bytes]] = []  # (arrival, answer, first line)
        self.headers: list[dict[str, str]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        lines = (await request.read()).splitlines()
        action = self.script[len(self.log)] if len(self.log) < len(self.script) else "ok"
        self.log.append((time.monotonic(), action, lines[0] if lines else b""))
        self.headers.append(dict(request.headers))
        if action == "drop":
            self.dropped.append(lines)
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if action == "429":
            return web.Response(status=429, headers={"Retry-After": self.retry_after})
        if action != "ok":
            return web.Response(status=int(action), text=f"scripted {action}")
        self.accepted.append(lines)
        return web.Response(status=200)

    def events(self) -> list[bytes]:
        return [line for batch in self.accepted for line in batch]


@asynccontextmanager
async def serving(collector: Collector) -> AsyncIterator[Collector]:
    """Run `collector` on a free port of 127.0.0.1 until the block ends."""
    app = web.Application()
    app.router.add_post("/events", collector.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    collector.url = f"http://127.0.0.1:{port}/events"
    try:
        yield collector
    finally:
        await runner.cleanup()
