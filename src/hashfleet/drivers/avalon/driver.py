"""The Avalon driver (Canaan cgminer 4.11 on TCP 4028).

One poll sends ``version+summary+estats+pools`` as one joined JSON request. With
``params={"api": "text"}`` it speaks cgminer's plain-text API instead (for firmware or
proxies that only pass text): the four commands go out separately and the text replies are
decoded into the JSON shape. Controls are Avalon ``ascset`` subcommands: ``softoff`` /
``softon`` and ``workmode`` (power modes), ``reboot``, ``led``, ``fan-spd`` (a fixed fan
duty of 15-100 %, -1 automatic) and ``setpool`` (which needs the web login, the thing's
``username``/``password``, root/root by default).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import msgspec

from hashfleet.core.errors import BadRequest, DeviceCommandFailed, DeviceReplyInvalid
from hashfleet.drivers.avalon.parse import (
    WORKMODES,
    decode_json,
    decode_text,
    model_name,
    parse_joined,
)
from hashfleet.drivers.base import DriverOptions, PoolTarget
from hashfleet.drivers.common.cgminer import API_PORT, CgminerClient, check_status
from hashfleet.model.snapshot import STATUS_SLEEPING, Snapshot

COMMANDS = ("version", "summary", "estats", "pools")
JOINED = "+".join(COMMANDS)
POOL_SLOTS = 3
DEFAULT_LOGIN = ("root", "root")


class AvalonDriver:
    """Reads an Avalon into a :class:`Snapshot`; sleeps/wakes it, sets its work mode, LED,
    fan speed and pools, and reboots it."""

    family: ClassVar[str] = "avalon"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"reboot", "set_pools", "set_power_mode", "set_led", "set_fan"}
    )

    def __init__(self, opts: DriverOptions) -> None:
        """Reach the device at ``opts.address`` (port 4028 unless ``opts.port``)."""
        api = opts.params.get("api", "json")
        if api not in ("json", "text"):
            raise BadRequest(f"params.api must be 'json' or 'text', not {api!r}",
                             code="ERR_THING_OPTS_INVALID")  # fmt: skip
        self.opts = opts
        self.text = api == "text"
        self.client = CgminerClient(opts.address, opts.port or API_PORT, opts.timeout)
        self._model: str | None = None
        self._sleeping: bool | None = None
        self._skew: float | None = None  # the device's clock minus ours (STATUS "When")

    async def collect(self) -> Snapshot:
        """Poll once: one joined JSON request, or four text requests."""
        if self.text:
            replies = await asyncio.gather(*(self._text(cmd) for cmd in COMMANDS))
            parts: dict[str, Any] = {cmd: [r] for cmd, r in zip(COMMANDS, replies, strict=True)}
        else:
            parts = await self._json(JOINED)
        snap = parse_joined(parts)
        self._note_clock(parts.get("summary"))
        self._model = snap.config.model
        self._sleeping = snap.stats.status == STATUS_SLEEPING
        return snap

    async def _text(self, command: str, write: bool = False) -> dict[str, Any]:
        raw = await self.client.send(command.encode(), what=command, write=write)
        reply = decode_text(raw)
        check_status(reply, command.split("|", 1)[0])
        return reply

    async def _json(self, command: str, parameter: str | None = None) -> dict[str, Any]:
        # As CgminerClient.request, decoding with decode_json (strict about bad UTF-8).
        request = {"command": command}
        if parameter is not None:
            request["parameter"] = parameter
        raw = await self.client.send(msgspec.json.encode(request), what=command,
                                     write=parameter is not None)  # fmt: skip
        reply = decode_json(raw)
        check_status(reply, command)
        return reply

    async def _command(self, command: str, parameter: str | None = None) -> dict[str, Any]:
        if self.text:
            line = command if parameter is None else f"{command}|{parameter}"
            return await self._text(line, write=parameter is not None)
        return await self._json(command, parameter)

    def _note_clock(self, part: Any) -> None:
        try:
            when = float(part[0]["STATUS"][0]["When"])
        except (LookupError, TypeError, ValueError):
            return
        self._skew = when - time.time()

    async def _device_now(self) -> int:
        # softoff/softon take a time on the device's clock, which need not match ours.
        if self._skew is None:
            self._note_clock([await self._command("version")])
        return int(time.time() + (self._skew or 0.0))

    async def _ascset(self, parameter: str) -> str:
        reply = await self._command("ascset", parameter)
        try:
            msg = str(reply["STATUS"][0]["Msg"])
        except (LookupError, TypeError) as exc:
            raise DeviceReplyInvalid(f"ascset: reply without a status message: {exc!r}") from exc
        if "success" not in msg and "set OK" not in msg:
            raise DeviceCommandFailed(f"ascset {parameter.split(',')[1]}: {msg}",
                                      command="ascset", status_msg=msg)  # fmt: skip
        return msg

    async def set_power_mode(self, mode: str) -> None:
        """``"sleep"`` switches hashing off (``softoff``); the model's work modes
        (``"normal"``/``"high"``, Nano 3 also ``"low"``) switch it on in that mode."""
        if mode == "sleep":
            await self._ascset(f"0,softoff,1:{await self._device_now()}")
            self._sleeping = True
            return
        if self._model is None:
            version = (await self._command("version")).get("VERSION")
            self._model = model_name(version[0]) if isinstance(version, list) and version else None
        modes = WORKMODES.get(self._model or "", ("normal",))
        if mode not in modes:
            raise ValueError(f"{self._model or 'this Avalon'} has no power mode {mode!r}; "
                             f"it has sleep, {', '.join(modes)}")  # fmt: skip
        if self._sleeping is not False:
            await self._ascset(f"0,softon,1:{await self._device_now()}")
            self._sleeping = False
        if self._model in WORKMODES:
            await self._ascset(f"0,workmode,set,{modes.index(mode)}")

    async def reboot(self) -> None:
        """Reboot the controller (``ascset 0,reboot,0``); uptime starts again from 0."""
        await self._ascset("0,reboot,0")

    async def set_led(self, on: bool) -> None:
        """Switch the locate light on or off."""
        await self._ascset(f"0,led,1-{int(on)}")

    async def set_fan(self, percent: int | None) -> None:
        """Fix the fans at ``percent`` duty (15-100, Canaan's range for a stable PWM), or give
        them back to the firmware with ``None`` (``ascset 0,fan-spd,-1``)."""
        if percent is not None and (
            isinstance(percent, bool) or not isinstance(percent, int) or not 15 <= percent <= 100
        ):
            raise ValueError(f"an Avalon takes a fan speed of 15-100 %, not {percent!r}")
        await self._ascset(f"0,fan-spd,{-1 if percent is None else percent}")

    async def set_pools(self, pools: Sequence[PoolTarget]) -> None:
        """Write ``pools`` into the three pool slots in order; unused slots are cleared."""
        if not pools:
            raise ValueError("set_pools needs at least one pool")
        if len(pools) > POOL_SLOTS:
            raise ValueError(f"an Avalon has {POOL_SLOTS} pool slots, got {len(pools)} pools")
        user = self.opts.username or DEFAULT_LOGIN[0]
        password = self.opts.password or DEFAULT_LOGIN[1]
        for slot in range(POOL_SLOTS):
            target = pools[slot] if slot < len(pools) else None
            values = [target.url, target.user, target.password] if target else ["", "", ""]
            # ascset splits its parameter on commas and has no escape for them.
            if any("," in v for v in (*values, user, password)):
                raise ValueError("Avalon pool settings cannot contain commas")
            await self._ascset(f"0,setpool,{user},{password},{slot},{','.join(values)}")

    async def close(self) -> None:
        """Nothing to release: every request uses its own short-lived connection."""
