"""BOSminer replies → the canonical :class:`Snapshot`.

Input is the reply to ``summary+devs+devdetails+temps+fans+tunerstatus+pools+version``:
``{command: [reply], …}``. Hashchains are matched across sections by their ``ID``.
"""

from __future__ import annotations

from typing import Any

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.cgminer_family.common import (
    errors_of,
    fans_from_rows,
    guarded,
    num,
    pools_from_rows,
    section,
)
from hashfleet.model.snapshot import (
    STATUS_ONLINE,
    STATUS_SLEEPING,
    Hashboard,
    MinerConfig,
    MinerStats,
    Snapshot,
)

MAKE = "Antminer"
EXPECTED_CHIPS = {"S19j Pro": 126, "S19 XP": 110, "S19 Pro": 114, "S19": 76, "S21": 108}


def parse_bosminer(reply: dict[str, Any]) -> Snapshot:
    """Joined BOSminer reply → snapshot; a reply of unexpected shape raises
    ``DeviceReplyInvalid``."""
    return guarded("BOSminer", lambda: _parse(reply))


def _parse(reply: dict[str, Any]) -> Snapshot:
    summary_rows = section(reply, "summary", "SUMMARY")
    if not summary_rows:
        raise DeviceReplyInvalid("reply has no summary")
    summary = summary_rows[0]
    details = {row["ID"]: row for row in section(reply, "devdetails", "DEVDETAILS")}
    temps = {row["ID"]: row for row in section(reply, "temps", "TEMPS")}
    version = (section(reply, "version", "VERSION") or [{}])[0]
    tuner = (section(reply, "tunerstatus", "TUNERSTATUS") or [{}])[0]

    # devdetails: Model "Bitmain Antminer S19j Pro" (BOSminer names the maker first)
    model_text = next((str(d.get("Model", "")) for d in details.values()), "")
    model = model_text.removeprefix("Bitmain ").removeprefix("Antminer ").strip() or None
    expected = EXPECTED_CHIPS.get(model or "")

    boards = []
    # devs: per chain "MHS 1m" (BOSminer's steadiest window), Status; devdetails: Chips;
    # temps: Board and Chip (a chain it cannot read is missing from temps)
    for index, dev in enumerate(section(reply, "devs", "DEVS")):
        chain = dev["ID"]
        rate = num(dev.get("MHS 1m", dev.get("MHS 5s")))
        chips = num(details.get(chain, {}).get("Chips"))
        temp = temps.get(chain, {})
        hashrate = float(round(rate * 1e6)) if rate is not None else None
        boards.append(
            Hashboard(
                index=index,
                hashrate=hashrate,
                temp_board=num(temp.get("Board")) or None,
                temp_chip=num(temp.get("Chip")) or None,
                chips=int(chips) if chips is not None else None,
                chips_expected=expected,
                ok=dev.get("Status") == "Alive" and bool(chips),
            )
        )
    pools = pools_from_rows(section(reply, "pools", "POOLS"))
    readings = [t for b in boards for t in (b.temp_chip, b.temp_board) if t is not None]
    temp_max = max(readings) if readings else None
    # summary: "MHS 5s"; devs: "Nominal MHS" summed for the nameplate rate
    rate = num(summary.get("MHS 5s", summary.get("MHS 1m")))
    nominal = sum(num(d.get("Nominal MHS")) or 0.0 for d in section(reply, "devs", "DEVS"))
    # tunerstatus: ApproximateMinerPowerConsumption (W), PowerLimit (W), TunerRunning
    power = num(tuner.get("ApproximateMinerPowerConsumption"))
    limit = num(tuner.get("PowerLimit"))
    uptime = num(summary.get("Elapsed"))
    # A paused BOSminer still answers, with every live chain at zero.
    paused = (
        bool(boards) and not any(b.hashrate for b in boards if b.ok) and any(b.ok for b in boards)
    )
    stats = MinerStats(
        status=STATUS_SLEEPING if paused else STATUS_ONLINE,
        hashrate=float(round(rate * 1e6)) if rate is not None else None,
        hashrate_nominal=float(round(nominal * 1e6)) if nominal else None,
        algorithm="sha256d",
        coin="BTC",
        power_w=power,
        temp_max=temp_max,
        uptime_s=int(uptime) if uptime is not None else None,
        hashboards=boards,
        fans=fans_from_rows(section(reply, "fans", "FANS")),
        pools=pools,
        errors=[] if paused else errors_of(boards, temp_max, pools),
        work_mode="sleep" if paused else "normal",
        power_limit_w=limit,
    )
    firmware = version.get("BOSminer") or version.get("BOSer")
    config = MinerConfig(
        make=MAKE, model=model, firmware=f"BOSminer {firmware}" if firmware else None
    )
    return Snapshot(stats=stats, config=config)
