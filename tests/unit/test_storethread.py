"""StoreThread: a store made and used in one thread of its own."""

from __future__ import annotations

import asyncio
import threading

import pytest

from siprec_appliance.storethread import StoreThread


class Store:
    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.closed = False

    def close(self) -> None:
        self.closed = True


class StoreError(Exception):
    pass


def test_made_used_and_closed_in_its_thread_in_order() -> None:
    async def scenario() -> None:
        owner: StoreThread[Store] = StoreThread("the store", "store-test", StoreError)
        with pytest.raises(StoreError, match="the store is not open"):
            _ = owner.store
        await owner.start(Store)
        store = owner.store
        assert store.thread != threading.get_ident()  # not the loop's thread
        seen = await asyncio.gather(
            *(owner.run_blocking(lambda n=n: (n, threading.get_ident())) for n in range(20))
        )
        assert [n for n, _ in seen] == list(range(20))
        assert {ident for _, ident in seen} == {store.thread}
        await owner.close()
        assert store.closed
        with pytest.raises(StoreError, match="the store is closed"):
            await owner.run_blocking(lambda: None)
        await owner.close()  # twice is fine

    asyncio.run(scenario())


def test_a_store_that_cannot_be_made_stops_the_thread() -> None:
    def broken() -> Store:
        raise OSError("disk gone")

    async def scenario() -> StoreThread[Store]:
        owner: StoreThread[Store] = StoreThread("the store", "store-test", StoreError)
        with pytest.raises(OSError, match="disk gone"):
            await owner.start(broken)
        return owner

    owner = asyncio.run(scenario())
    assert owner._executor._shutdown
