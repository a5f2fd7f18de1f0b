"""The dashboard feed builds one frame per interval for all its listeners, and none without."""

from __future__ import annotations

import asyncio
import contextlib

from cartsim.api.feed import Feed


def test_listeners_share_each_frame_and_no_listener_means_no_work() -> None:
    async def scenario() -> None:
        built: list[bytes] = []

        async def build() -> bytes:
            built.append(f"frame {len(built)}".encode())
            return built[-1]

        feed = Feed(build, interval_s=0.01)

        async def listen(frames: int) -> list[bytes]:
            seen = []
            stream = feed.frames()
            async with contextlib.aclosing(stream):
                async for frame in stream:
                    seen.append(frame)
                    if len(seen) == frames:
                        break
            return seen

        first, second = await asyncio.gather(listen(5), listen(5))
        assert first == second, "both pages get the same frames"
        assert set(first) <= set(built) and len(built) <= 6
        assert feed.listeners == 0
        idle = len(built)
        await asyncio.sleep(0.1)
        assert len(built) == idle, "no frame is built while nobody listens"
        late = await listen(1)
        assert late == [built[-1]] and late[0] != first[-1], "a late page waits for a fresh frame"

    asyncio.run(scenario())


def test_a_failing_build_is_skipped_and_the_next_frame_comes() -> None:
    async def scenario() -> list[bytes]:
        calls = 0

        async def build() -> bytes:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise ValueError("the first frame fails")
            return b"second"

        feed = Feed(build, interval_s=0.01)
        stream = feed.frames()
        async with contextlib.aclosing(stream):
            return [await anext(stream)]

    assert asyncio.run(scenario()) == [b"second"]
