"""Load signals of the media plane and the worker channel's fairness to the tick."""

from __future__ import annotations

import asyncio
import time

from siprec_appliance.appliance.channel import Channel, Message, channel_pair
from siprec_appliance.appliance.media import PortSockets
from siprec_appliance.appliance.mediaplane import LocalMedia
from siprec_appliance.config import RecordingConfig


def test_load_reports_the_worst_tick_of_the_last_second() -> None:
    """A stall between two reports is not missed, and is forgotten after a second."""

    async def scenario() -> tuple[float, float, float]:
        loop = asyncio.get_running_loop()
        media = LocalMedia(loop, PortSockets(loop), RecordingConfig(), lambda *_: None, lanes=0)
        media.start_tick()
        await asyncio.sleep(0.35)
        time.sleep(0.3)  # the loop stalls: the next tick starts ~0.2-0.3 s late
        await asyncio.sleep(0.45)  # several ticks on time since the stall
        during = media.load()["tick_lag_ms"]
        await asyncio.sleep(1.3)  # the stall has left the one-second window
        after = media.load()["tick_lag_ms"]
        work = media.load()["tick_work_ms"]
        await media.close()
        return during, after, work

    during, after, work = asyncio.run(scenario())
    assert during >= 150.0, during
    assert after < 50.0, after
    assert 0.0 <= work < 50.0  # no recordings: the tick does (almost) nothing


def test_a_flood_of_messages_does_not_hold_the_loop() -> None:
    """Each message costs 2 ms here (a call set-up creating files): a timer due while
    400 of them wait must run long before they are all handled."""

    async def scenario() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        left, right = channel_pair()
        handled: list[Message] = []

        def slow(message: Message, fds: list[int]) -> None:
            time.sleep(0.002)
            handled.append(message)

        receiver = Channel(loop, left, slow, lambda: None)
        sender = Channel(loop, right, lambda *_: None, lambda: None)
        for n in range(400):
            sender.send(("start", n))
        seen_by_timer: list[int] = []
        loop.call_later(0.01, lambda: seen_by_timer.append(len(handled)))
        while len(handled) < 400:
            await asyncio.sleep(0.01)
        receiver.close()
        sender.close()
        assert [m[1] for m in handled] == list(range(400))  # in order, none lost
        return seen_by_timer[0], len(handled)

    at_timer, total = asyncio.run(scenario())
    assert total == 400
    assert at_timer < 100, f"the timer waited for {at_timer} messages"
