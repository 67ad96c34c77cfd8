"""Simulated graphics cards shared by every GPU mining-software simulator.

A :class:`GpuPreset` is a card model (RTX 3080, RX 6600…) with its hashrate per algorithm,
power, temperatures, fan and clocks. A :class:`GpuRig` is the cards of one machine mining
one or two algorithms (dual mining): it draws drifting readings lazily from the clock,
counts shares per card and algorithm, and renders the content faults the way mining
software shows them:

- ``overheat``: core above 90 °C, memory above 105 °C, fans at 100 %; the driver's thermal
  limit pulls the core clock (and with it the hashrate and power) down by about a third;
- ``dead_board``: the last card has fallen off the bus: 0 H/s, idle power, shares frozen;
- ``pool_down``: no job from the pool, so every card idles at 0 H/s and shares freeze.

:class:`GpuMinerSim` is the base of the mining-software simulators (lolMiner, T-Rex,
GMiner…): rig, pool, pause flag and the fault bookkeeping; subclasses only render their
program's API documents from :meth:`GpuRig.sample`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hashfleet.sim.base import Clock, ShareCounter, noise, wobble
from hashfleet.sim.faults import Fault
from hashfleet.sim.http import HttpSimDevice

MH = 1e6
GH = 1e9

# Canonical algorithm names (the drivers' normalised spelling).
ETCHASH = "etchash"
ETHASH = "ethash"
KAWPOW = "kawpow"
AUTOLYKOS2 = "autolykos2"
KHEAVYHASH = "kheavyhash"
EQUIHASH125_4 = "equihash125_4"
OCTOPUS = "octopus"

# Pool difficulty (hashes per share) that gives an RTX 3080 roughly a share every 30-60 s.
DIFFICULTY: dict[str, float] = {
    ETCHASH: 4.0e9, ETHASH: 4.0e9, KAWPOW: 2.0e9, AUTOLYKOS2: 8.0e9, KHEAVYHASH: 4.0e10,
    EQUIHASH125_4: 2.5e3, OCTOPUS: 4.0e9,
}  # fmt: skip
# Board power on an algorithm relative to the card's etchash power.
POWER_FACTOR: dict[str, float] = {
    ETCHASH: 1.0, ETHASH: 1.0, KAWPOW: 1.2, AUTOLYKOS2: 0.85, KHEAVYHASH: 0.75,
    EQUIHASH125_4: 1.1, OCTOPUS: 1.15,
}  # fmt: skip
# The pool each algorithm is mined on (documentation addresses, never resolved).
POOLS: dict[str, str] = {
    ETCHASH: "etc.pool.example.net:1010", ETHASH: "ethw.pool.example.net:2020",
    KAWPOW: "rvn.pool.example.net:6060", AUTOLYKOS2: "erg.pool.example.net:9999",
    KHEAVYHASH: "kas.pool.example.net:5555", EQUIHASH125_4: "flux.pool.example.net:2033",
    OCTOPUS: "cfx.pool.example.net:3030",
}  # fmt: skip
DUAL_PRIMARY = 0.92  # share of the first algorithm's hashrate kept when dual mining
DUAL_SECONDARY = 0.55  # share of the second algorithm's solo hashrate
IDLE_POWER_W = 38.0
WARMUP_S = 20.0  # seconds after start before a card reports a hashrate (DAG build)


@dataclass(frozen=True, slots=True)
class GpuPreset:
    """A graphics card model and what it does mining (hashrates in H/s or Sol/s)."""

    key: str  # short model, "RTX 3080"
    name: str  # as the driver names it, "NVIDIA GeForce RTX 3080"
    vendor: str  # "nvidia" or "amd"
    hashrates: Mapping[str, float]
    power_w: float  # board power on etchash
    core_mhz: float
    mem_mhz: float
    temp_c: float
    mem_temp_c: float
    fan_pct: float
    vram_mb: int


PRESETS: dict[str, GpuPreset] = {
    p.key: p
    for p in (
        GpuPreset("RTX 3080", "NVIDIA GeForce RTX 3080", "nvidia",
                  {ETCHASH: 97.5 * MH, ETHASH: 97.5 * MH, KAWPOW: 47.0 * MH,
                   AUTOLYKOS2: 235.0 * MH, KHEAVYHASH: 1.25 * GH, EQUIHASH125_4: 71.0,
                   OCTOPUS: 92.0 * MH},
                  224.0, 1260.0, 9501.0, 61.0, 92.0, 72.0, 10240),
        GpuPreset("RTX 3070", "NVIDIA GeForce RTX 3070", "nvidia",
                  {ETCHASH: 61.5 * MH, ETHASH: 61.5 * MH, KAWPOW: 29.5 * MH,
                   AUTOLYKOS2: 165.0 * MH, KHEAVYHASH: 0.88 * GH, EQUIHASH125_4: 48.0,
                   OCTOPUS: 64.0 * MH},
                  118.0, 1110.0, 8001.0, 56.0, 70.0, 60.0, 8192),
        GpuPreset("RX 6800 XT", "AMD Radeon RX 6800 XT", "amd",
                  {ETCHASH: 64.0 * MH, ETHASH: 64.0 * MH, KAWPOW: 34.0 * MH,
                   AUTOLYKOS2: 178.0 * MH, KHEAVYHASH: 0.61 * GH, EQUIHASH125_4: 57.0,
                   OCTOPUS: 48.0 * MH},
                  142.0, 1400.0, 2150.0, 58.0, 78.0, 55.0, 16384),
        GpuPreset("RX 6600", "AMD Radeon RX 6600", "amd",
                  {ETCHASH: 32.0 * MH, ETHASH: 32.0 * MH, KAWPOW: 14.5 * MH,
                   AUTOLYKOS2: 118.0 * MH, KHEAVYHASH: 0.44 * GH, EQUIHASH125_4: 23.0,
                   OCTOPUS: 22.0 * MH},
                  56.0, 1150.0, 2240.0, 54.0, 68.0, 45.0, 8192),
    )
}  # fmt: skip

# Typical rigs, as a farm builds them from a seed; NVIDIA-only software uses the first two.
RIGS: tuple[tuple[str, ...], ...] = (
    ("RTX 3080",) * 4,
    ("RTX 3070",) * 6,
    ("RX 6800 XT",) * 4,
    ("RX 6600",) * 6,
    ("RTX 3080", "RTX 3080", "RTX 3070", "RTX 3070"),
)


def rig_for(seed: int, vendor: str | None = None) -> tuple[str, ...]:
    """A typical rig for ``seed`` (only cards of ``vendor`` when given)."""
    rigs = [r for r in RIGS if vendor is None or all(PRESETS[k].vendor == vendor for k in r)]
    return rigs[seed % len(rigs)]


@dataclass(slots=True)
class GpuSample:
    """One card at one instant; ``hashrates``/``accepted``/``rejected`` one per algorithm."""

    index: int
    preset: GpuPreset
    hashrates: list[float | None]  # None while the card is still warming up
    accepted: list[int]
    rejected: list[int]
    temp_c: float
    mem_temp_c: float
    hotspot_c: float
    power_w: float
    fan_pct: float
    core_mhz: float
    mem_mhz: float
    throttled: bool = False
    dead: bool = False
    pci_bus: int = field(default=0)


class GpuRig:
    """The cards of one rig mining ``algos`` (one, or two for dual mining)."""

    def __init__(self, cards: Sequence[str], algos: Sequence[str], seed: int, now: float) -> None:
        """Cards by preset key; ``algos`` canonical names; counters start at ``now``."""
        unknown = [c for c in cards if c not in PRESETS]
        if unknown or not cards:
            raise ValueError(f"unknown or no cards {unknown}; one of: {', '.join(PRESETS)}")
        if not 1 <= len(algos) <= 2:
            raise ValueError("a rig mines one algorithm, or two when dual mining")
        for algo in algos:
            if algo not in DIFFICULTY:
                raise ValueError(f"unknown algorithm {algo!r}; one of: {', '.join(DIFFICULTY)}")
        self.cards = [PRESETS[c] for c in cards]
        self.algos = list(algos)
        self.seed = seed
        self.started = now
        self.shares = [
            [
                ShareCounter(self.nominal(card, a) / DIFFICULTY[algo], 0.003 + 0.002 * a, now)
                for a, algo in enumerate(self.algos)
            ]
            for card in self.cards
        ]

    @property
    def dual(self) -> bool:
        """Whether two algorithms are mined at once."""
        return len(self.algos) == 2

    def nominal(self, card: GpuPreset, a: int) -> float:
        """What ``card`` makes on algorithm ``a`` of this rig (dual mining shares the card)."""
        solo = card.hashrates.get(self.algos[a], 0.0)
        if not self.dual:
            return solo
        return solo * (DUAL_PRIMARY if a == 0 else DUAL_SECONDARY)

    def prefill(self, seconds: float, now: float) -> None:
        """Bank ``seconds`` worth of shares, as a rig that has been mining that long."""
        for row in self.shares:
            for counter in row:
                counter.banked = counter.rate * max(0.0, seconds)
                counter.since = now

    def reset(self, now: float) -> None:
        """The mining process restarted: counters to 0, cards warming up again."""
        self.started = now
        for row in self.shares:
            for counter in row:
                counter.reset(now)

    def dead_index(self, fault: Fault) -> int | None:
        """The card that is dead under ``fault`` (the last one), if any."""
        return len(self.cards) - 1 if fault is Fault.DEAD_BOARD else None

    def sync(self, now: float, fault: Fault, mining: bool) -> None:
        """Bank share counters and let them grow only where shares are being found."""
        dead = self.dead_index(fault)
        for i, row in enumerate(self.shares):
            running = mining and fault is not Fault.POOL_DOWN and i != dead
            for counter in row:
                counter.set_running(now, running)

    def sample(self, now: float, fault: Fault, mining: bool) -> list[GpuSample]:
        """Every card at ``now``; ``mining`` False while the software is paused."""
        hot = fault is Fault.OVERHEAT
        dead = self.dead_index(fault)
        working = mining and fault is not Fault.POOL_DOWN
        warming = now - self.started < WARMUP_S
        out: list[GpuSample] = []
        for i, card in enumerate(self.cards):
            key = 1000 + 37 * i
            offset = 3.0 * noise(self.seed, key, 0)  # this card's place in the case
            busy = working and i != dead
            load = 1.0 if busy else 0.0
            throttle = 0.68 if hot and busy else 1.0
            rates: list[float | None] = []
            for a in range(len(self.algos)):
                drift = 1.0 + 0.012 * wobble(self.seed, key + a, now, 240.0)
                rate = self.nominal(card, a) * drift * throttle * load
                rates.append(None if warming and busy else round(rate, 2))
            algo_power = POWER_FACTOR[self.algos[0]] + (0.25 if self.dual else 0.0)
            power = card.power_w * algo_power * (1.0 + 0.02 * wobble(self.seed, key + 5, now))
            power = power * (0.82 if hot else 1.0) if busy else IDLE_POWER_W + offset
            if hot:
                temp = 91.0 + abs(offset) + 1.5 * wobble(self.seed, key + 6, now, 90.0)
                mem_temp = 106.0 + abs(offset) + wobble(self.seed, key + 7, now, 90.0)
                fan = 100.0
            else:
                heat = (card.temp_c if busy else 38.0) + offset
                temp = heat + 1.5 * wobble(self.seed, key + 6, now, 180.0)
                mem_temp = (
                    (card.mem_temp_c if busy else 42.0)
                    + offset
                    + wobble(self.seed, key + 7, now, 180.0)
                )
                fan = (card.fan_pct if busy else 30.0) + 4.0 * wobble(self.seed, key + 8, now)
            core = card.core_mhz * (throttle if hot else 1.0) if busy else 210.0
            core += 15.0 * noise(self.seed, key + 9, int(now // 5)) if busy else 0.0
            shares = self.shares[i]
            out.append(
                GpuSample(
                    index=i,
                    preset=card,
                    hashrates=rates,
                    accepted=[c.accepted(now) for c in shares],
                    rejected=[c.rejected(now) for c in shares],
                    temp_c=round(temp),
                    mem_temp_c=round(mem_temp),
                    hotspot_c=round(temp + 11.0),
                    power_w=round(power, 1),
                    fan_pct=round(min(100.0, max(0.0, fan))),
                    core_mhz=round(core),
                    mem_mhz=round(card.mem_mhz) if busy else 405,
                    throttled=hot and busy,
                    dead=i == dead,
                    pci_bus=i + 1 if i < 3 else i + 2,
                )
            )
        return out


class GpuMinerSim(HttpSimDevice):
    """Base of simulated GPU mining programs: rig, pool, pause flag and fault bookkeeping."""

    software = "GPU miner"  # the program's name, set by subclasses
    vendor: str | None = None  # "nvidia" for NVIDIA-only programs

    def __init__(
        self,
        address: str,
        port: int,
        *,
        seed: int = 0,
        clock: Clock = time.time,
        version: str,
        cards: Sequence[str] | None = None,
        algos: Sequence[str] = (ETCHASH,),
        pool: str | None = None,
        user: str = "0x3f5CE5FBFe3E9af3971dD833D26bA9b5C936f0bE",
    ) -> None:
        """A program at ``version`` on ``address:port`` mining ``algos`` on ``cards``;
        ``pool`` defaults to one for the first algorithm."""
        super().__init__(address, port, seed=seed, clock=clock)
        self.version = version
        now = self.clock()
        self.rig = GpuRig(cards or rig_for(seed, self.vendor), algos, seed, now)
        if self.vendor and any(c.vendor != self.vendor for c in self.rig.cards):
            raise ValueError(f"{self.software} runs on {self.vendor} cards only")
        # A rig found running: it booted long ago, so it is warm and has found shares.
        self.rig.started = self.boot_at
        self.rig.prefill(self.uptime(now), now)
        self.pools = [pool or "stratum+tcp://" + POOLS[self.rig.algos[0]]]
        # The second algorithm's pool when dual mining.
        self.pool2 = "stratum+tcp://" + POOLS[self.rig.algos[-1]]
        self.user = user
        self.user2 = "kaspa:qz0s9fj5x8hm0yhph2kt6ud6zr0x4g7v6c9h6sk9mq3n8jrl5pu0x4d2y8c3m"
        self.worker = "rig" + address.rsplit(".", 1)[-1]
        self.paused = False
        self.pool_failures = 0

    @property
    def model(self) -> str:
        """The program and its version, as the farm lists it."""
        return f"{self.software} {self.version}"

    def info(self) -> dict[str, object]:
        """Control-endpoint state plus cards, algorithms and the pause flag."""
        out = super().info()
        out.update(cards=[c.key for c in self.rig.cards], algos=self.rig.algos,
                   paused=self.paused, pool=self.pools[0])  # fmt: skip
        return out

    def sample(self) -> list[GpuSample]:
        """The cards now."""
        return self.rig.sample(self.clock(), self.fault, not self.paused)

    def set_paused(self, paused: bool) -> None:
        """Stop or restart hashing on every card."""
        self.paused = paused
        self.rig.sync(self.clock(), self.fault, not paused)

    def set_pools(self, urls: Sequence[str], user: str | None = None) -> None:
        """Mine on ``urls`` (first = active) from now on."""
        if urls:
            self.pools = list(urls)
        if user:
            self.user = user

    def _faults_changed(self, now: float) -> None:
        if self.fault is Fault.POOL_DOWN:
            self.pool_failures += 1
        self.rig.sync(now, self.fault, not self.paused)

    def _restarted(self, now: float) -> None:
        self.rig.reset(self.boot_at)
        self.paused = False
        self.rig.sync(now, self.fault, True)
