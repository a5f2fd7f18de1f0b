"""A webhook collector for the HTTP benchmark, run as its own process: counts the JSON lines it
is POSTed and answers GET /count. `python -m bench.collector PORT`."""

from __future__ import annotations

import sys

from aiohttp import web


def app() -> web.Application:
    received = [0]

    async def collect(request: web.Request) -> web.Response:
        body = await request.read()  # read before adding: `+=` across an await loses updates
        received[0] += body.count(b"\n")
        return web.Response()

    async def count(request: web.Request) -> web.Response:
        return web.Response(text=str(received[0]))

    application = web.Application(client_max_size=64 * 1024 * 1024)
    application.router.add_post("/events", collect)
    application.router.add_get("/count", count)
    return application


if __name__ == "__main__":
    web.run_app(app(), host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
