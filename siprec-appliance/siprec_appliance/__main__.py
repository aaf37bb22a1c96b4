"""``siprec-appliance [--config PATH]``: run the Session Recording Server."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from pathlib import Path

from siprec_appliance.appliance.server import Appliance
from siprec_appliance.config import Config, load_config
from siprec_appliance.errors import ConfigError
from siprec_appliance.version import __version__

log = logging.getLogger("siprec")


def raise_open_file_limit() -> int:
    """Every RTP port is a socket: lift the soft descriptor limit to the hard one."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Linux
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def install_fast_loop() -> bool:
    """Use uvloop when it is installed (several times asyncio's packet rate)."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


SWITCH_INTERVAL = 0.0005  # seconds a thread may hold the GIL before the loop gets it


async def serve(config: Config) -> None:
    appliance = Appliance(config)
    await appliance.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, appliance.rules.reload_soon)  # reload the rules
    # Everything alive now (modules, Sanic, config) lives as long as the process:
    # keep it out of the collector's full scans, which otherwise pause the loop.
    gc.collect()
    gc.freeze()
    # The loop shares the GIL with the catalog, alert and API executor threads. With
    # the default 5 ms switch interval a thread indexing recordings kept the GIL
    # 5 ms at a time while datagrams waited: INVITE-to-200 p50 at 100 set-ups/s
    # 117 ms, with 0.5 ms 21 ms (docs/benchmarks.md).
    sys.setswitchinterval(SWITCH_INTERVAL)
    log.info("siprec-appliance %s ready", __version__)
    await stop.wait()
    log.info("shutting down")
    await appliance.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="siprec-appliance", description=__doc__)
    parser.add_argument("--config", type=Path, help="YAML configuration file")
    parser.add_argument("--check-config", action="store_true", help="validate and exit")
    parser.add_argument("--version", action="version", version=__version__)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, os.environ)
    except ConfigError as exc:
        print(f"siprec-appliance: {exc}", file=sys.stderr)
        return 2
    if args.check_config:
        print("configuration is valid")
        return 0
    logging.basicConfig(
        level=config.logging.level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    limit = raise_open_file_limit()
    fast = install_fast_loop()
    log.info("open-file limit %d, event loop %s", limit, "uvloop" if fast else "asyncio")
    try:
        asyncio.run(serve(config))
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
