"""Build the zstd dictionary the live index packs latest snapshots with.

``make snapshot-dict`` runs this: every family's simulator is started, each device is
polled a few times by its driver, and a dictionary is trained on the snapshots as agents
ship them (``Snapshot.to_wire()`` JSON). It is written to
``src/hashfleet/server/live/snapshot.zdict`` (checked in; ``docs/ARCHITECTURE.md``,
"Live index"). Rebuild it when the snapshot model or a family's output changes much: an
old dictionary still works (it is only used in memory, by one process), it just packs
less well. Prints the packed size of the samples with the new dictionary and without one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import subprocess
import sys
from pathlib import Path

import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.poll import start_sims

from hashfleet.drivers.base import DriverOptions
from hashfleet.drivers.registry import create_driver
from hashfleet.server.live.latest import ZDICT_PATH
from hashfleet.wire.codec import json_dumps

FAMILIES = (
    "antminer,xmrig,whatsminer,avalon,iceriver,braiins,luxos,vnish,lolminer,trex,gminer,"
    "bzminer,srbminer,teamredminer,modbus_meter,modbus_sensor,container,pool_account,chia"
)


async def samples_of(family: str, devices: int, polls: int, block: int) -> list[bytes]:
    """``polls`` snapshots of each of ``devices`` simulated devices of ``family``."""
    proc, opts = start_sims(family, devices, f"127.87.{block}.1")
    drivers = [create_driver(DriverOptions(**o, timeout=5.0)) for o in opts]
    try:
        out: list[bytes] = []
        for _ in range(polls):
            snaps = await asyncio.gather(*(d.collect() for d in drivers))
            out += [json_dumps(s.to_wire()) for s in snaps]
            await asyncio.sleep(1.0)  # counters and readings move on between polls
        return out
    finally:
        for d in drivers:
            await d.close()
        proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", default=FAMILIES)
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--polls", type=int, default=3)
    parser.add_argument("--size", type=int, default=16 * 1024, help="dictionary bytes")
    parser.add_argument("--out", type=Path, default=ZDICT_PATH)
    args = parser.parse_args()
    samples: list[bytes] = []
    for block, family in enumerate(args.families.split(",")):
        got = await samples_of(family, args.devices, args.polls, block + 1)
        size = sum(map(len, got)) / len(got)
        print(f"{family:<14} {len(got):>4} snapshots, {size:>6,.0f} B each", flush=True)
        samples += got
    trained = zstandard.train_dictionary(args.size, samples)
    args.out.write_bytes(trained.as_bytes())
    plain = zstandard.ZstdCompressor(level=3)
    packer = zstandard.ZstdCompressor(level=3, dict_data=trained)
    raw = sum(map(len, samples))
    without = sum(len(plain.compress(s)) for s in samples)
    with_dict = sum(len(packer.compress(s)) for s in samples)
    print(f"wrote {args.out} ({len(trained.as_bytes()):,} B) from {len(samples):,} snapshots")
    print(f"packed: {with_dict / raw:.2f} of the JSON with it, {without / raw:.2f} without")


if __name__ == "__main__":
    asyncio.run(main())
