"""A simulated Chia farm: full node (8555), farmer (8559) and harvester (8560) RPC servers.

Chia's daemons speak JSON over HTTPS ``POST`` and accept only clients whose certificate is
signed by the farm's private CA (mutual TLS); every reply carries ``"success": true``. The
sim makes its own private CA and certificates with ``cryptography`` (once per process, so
tests stay fast) and writes them to a temporary directory the driver reads them from.

Routes: full node ``/get_blockchain_state``; farmer ``/get_harvesters_summary``,
``/get_signage_points``, ``/get_pool_state``; harvester ``/get_plots``; all ``/healthz``.

Faults: ``pool_down`` → the full node loses its peers and falls out of sync (the farmer
then sees no new signage points: some are missed); ``dead_board`` → a harvester loses a plot
directory (its plots go to ``not_found_filenames``); ``overheat`` is ignored (a farm has no
hashing chips); transport faults apply to all three ports.
"""

from __future__ import annotations

import atexit
import datetime
import functools
import hashlib
import shutil
import ssl
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from hashfleet.sim.base import Clock, noise, wobble
from hashfleet.sim.faults import Fault
from hashfleet.sim.http import HttpSimDevice, HttpSimServer, json_response
from hashfleet.sim.registry import SimFamily

FULL_NODE_PORT = 8555
FARMER_PORT = 8559
HARVESTER_PORT = 8560
SP_INTERVAL = 600.0 / 64  # 64 signage points per 10-minute sub-slot
K32_BYTES = 108_837_998_207  # a k=32 plot's file size
NETSPACE = 33 * 10**18  # about 33 EiB
BLOCK_TIME = 18.75


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Where the private CA and its certificates are on disk."""

    ca_crt: Path
    ca_key: Path
    server_crt: Path
    server_key: Path
    client_crt: Path
    client_key: Path


@functools.cache
def tls_files() -> TlsFiles:
    """A private CA, a daemon cert and a client cert, made once per process."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Chia"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])  # fmt: skip

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(name("Chia CA")).issuer_name(name("Chia CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip

    def leaf(cn: str) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("chia.net")]), False)
            .sign(ca_key, hashes.SHA256())
        )  # fmt: skip
        pem_key = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())  # fmt: skip
        return cert.public_bytes(serialization.Encoding.PEM), pem_key

    root = Path(tempfile.mkdtemp(prefix="hashfleet-chia-ssl-"))
    # The files live as long as the process that made them (drivers in other processes on
    # this host read them from the paths in ``thing_opts()`` meanwhile).
    atexit.register(shutil.rmtree, root, True)
    files = TlsFiles(*(root / n for n in ("private_ca.crt", "private_ca.key", "private_daemon.crt",
                                          "private_daemon.key", "private_full_node.crt",
                                          "private_full_node.key")))  # fmt: skip
    files.ca_crt.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.ca_key.write_bytes(ca_key.private_bytes(serialization.Encoding.PEM,
                                                  serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))  # fmt: skip
    for crt, key, cn in ((files.server_crt, files.server_key, "Chia daemon"),
                         (files.client_crt, files.client_key, "Chia client")):  # fmt: skip
        cert_pem, key_pem = leaf(cn)
        crt.write_bytes(cert_pem)
        key.write_bytes(key_pem)
        key.chmod(0o600)
    return files


def server_ssl_context() -> ssl.SSLContext:
    """What Chia's RPC servers use: their cert, and client certs required from the CA."""
    files = tls_files()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(files.server_crt, files.server_key)
    ctx.load_verify_locations(files.ca_crt)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


@dataclass(frozen=True, slots=True)
class FarmPreset:
    """How big the simulated farm is."""

    harvesters: int
    plots_per_harvester: int
    legacy: bool = False  # Chia 1.2: no get_harvesters_summary, only get_harvesters


PRESETS = {
    "small": FarmPreset(1, 40),
    "large": FarmPreset(3, 120),
    "legacy": FarmPreset(2, 20, legacy=True),
}


def _hex(seed: int, *key: object) -> str:
    return "0x" + hashlib.sha256(repr((seed, *key)).encode()).hexdigest()


class ChiaSim(HttpSimDevice):
    """A farm host running a full node, a farmer and its harvesters (the first is local)."""

    family = "chia"

    def __init__(
        self,
        address: str,
        *,
        seed: int = 0,
        clock: Clock = time.time,
        preset: str = "small",
        ports: tuple[int, int, int] = (FULL_NODE_PORT, FARMER_PORT, HARVESTER_PORT),
    ) -> None:
        """A farm on ``address`` with RPC on ``ports`` (full node, farmer, harvester)."""
        if preset not in PRESETS:
            raise ValueError(f"unknown chia preset {preset!r}; one of: {', '.join(PRESETS)}")
        super().__init__(address, ports[1], seed=seed, clock=clock)
        self.preset_name = preset
        self.preset = PRESETS[preset]
        self.full_node_port, self.farmer_port, self.harvester_port = ports
        self.genesis = clock() - 5 * 365 * 86400.0
        self.proof_every = 3 * 86400.0 + seed % 3600  # a proof a few days apart

    @property
    def model(self) -> str:
        """The preset name."""
        return self.preset_name

    def thing_opts(self) -> dict[str, object]:
        """Driver opts: the client certificate, its key and the CA, and role ``all``."""
        files = tls_files()
        opts = super().thing_opts()
        opts["params"] = {"cert": str(files.client_crt), "key": str(files.client_key),
                          "ca": str(files.ca_crt), "role": "all",
                          "ports": {"full_node": self.full_node_port, "farmer": self.farmer_port,
                                    "harvester": self.harvester_port}}  # fmt: skip
        return opts

    # -- state -------------------------------------------------------------------------

    def synced(self) -> bool:
        """The full node is synced unless it lost its peers (``pool_down``)."""
        return self.faults.fault is not Fault.POOL_DOWN

    def height(self, now: float) -> int:
        """The chain's peak height (frozen at the loss of sync while ``pool_down``)."""
        at = self.faults.since if not self.synced() else now
        return int((at - self.genesis) / BLOCK_TIME)

    def plot_files(self, harvester: int) -> tuple[list[str], list[str]]:
        """(loaded, lost) plot file names of one harvester; ``dead_board`` loses a dir."""
        n = self.preset.plots_per_harvester
        names = [f"/mnt/farm{harvester}/d{i % 4}/plot-k32-2024-{self.seed:04d}-{harvester}-{i:04d}"
                 f"-{_hex(self.seed, harvester, i)[2:66]}.plot" for i in range(n)]  # fmt: skip
        if self.faults.fault is Fault.DEAD_BOARD and harvester == 0:
            return [p for p in names if "/d0/" not in p], [p for p in names if "/d0/" in p]
        return names, []

    def signage_points(self, now: float) -> list[dict[str, Any]]:
        """The farmer's recent signage points; a desynced node delivers none past the loss."""
        last = int(now // SP_INTERVAL)
        until = last if self.synced() else int(self.faults.since // SP_INTERVAL)
        out: list[dict[str, Any]] = []
        for n in range(last - 63, last + 1):
            if n > until and n % 3 != 0:
                continue  # lagging node: only every third signage point makes it through
            challenge = n // 64
            proofs: list[Any] = []
            if noise(self.seed, 77, n) > 0.995:
                proofs = [[_hex(self.seed, "pos", n), {"proof": _hex(self.seed, "p", n)}]]
            out.append({"signage_point": {
                "challenge_hash": _hex(self.seed, "c", challenge),
                "challenge_chain_sp": _hex(self.seed, "cc", n),
                "reward_chain_sp": _hex(self.seed, "rc", n),
                "difficulty": 11264, "sub_slot_iters": 578813952,
                "signage_point_index": n % 64, "peak_height": self.height(n * SP_INTERVAL),
            }, "proofs": proofs})  # fmt: skip
        return out

    # -- HTTP --------------------------------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Chia RPC: ``POST`` with a JSON body; the port says which daemon answers."""
        if request.method != "POST":
            return web.Response(status=405)
        try:
            body = msgspec.json.decode(await request.read() or b"{}")
        except msgspec.DecodeError:
            return json_response({"success": False, "error": "invalid JSON"})
        if not isinstance(body, dict):
            return json_response({"success": False, "error": "expected an object"})
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        port = sock[1] if sock else self.farmer_port
        route = request.path.strip("/")
        now = self.clock()
        if route == "healthz":
            return json_response({"success": True})
        doc: dict[str, Any] | None = None
        if port == self.full_node_port and route == "get_blockchain_state":
            doc = self._blockchain_state(now)
        elif port == self.farmer_port and route == "get_harvesters_summary":
            doc = None if self.preset.legacy else self._harvesters_summary(now)
        elif port == self.farmer_port and route == "get_harvesters":
            doc = self._harvesters_summary(now, full=True)
        elif port == self.farmer_port and route == "get_signage_points":
            doc = {"signage_points": self.signage_points(now)}
        elif port == self.farmer_port and route == "get_pool_state":
            doc = self._pool_state(now)
        elif port == self.harvester_port and route == "get_plots":
            doc = self._plots(0)
        if doc is None:
            # Chia answers unknown routes 404 with a text body.
            return web.Response(status=404, text="404: Not Found")
        return json_response({**doc, "success": True})

    def _blockchain_state(self, now: float) -> dict[str, Any]:
        synced = self.synced()
        height = self.height(now)
        tip = int((now - self.genesis) / BLOCK_TIME)
        space = int(NETSPACE * (1.0 + 0.01 * wobble(self.seed, 3, now, 86400.0)))
        return {"blockchain_state": {
            "average_block_time": 52, "block_max_cost": 11000000000, "difficulty": 11264,
            "genesis_challenge_initialized": True, "mempool_size": 12, "mempool_cost": 10**8,
            "mempool_fees": 0, "mempool_min_fees": {"cost_5000000": 0},
            "mempool_max_total_cost": 550000000000, "node_id": _hex(self.seed, "node")[2:],
            "peak": {"height": height, "header_hash": _hex(self.seed, "h", height),
                     "timestamp": int(now), "weight": height * 11264},
            "space": space, "sub_slot_iters": 578813952,
            "sync": {"sync_mode": not synced, "synced": synced,
                     "sync_progress_height": height if not synced else 0,
                     "sync_tip_height": tip if not synced else 0},
        }}  # fmt: skip

    def _harvesters_summary(self, now: float, full: bool = False) -> dict[str, Any]:
        harvesters = []
        for h in range(self.preset.harvesters):
            loaded, _lost = self.plot_files(h)
            if full:  # get_harvesters: every plot, as the harvester's get_plots lists it
                doc = self._plots(h)
                harvesters.append({"connection": {"node_id": _hex(self.seed, "hv", h)[2:],
                                                  "host": self.address, "port": 8448},
                                   "plots": doc["plots"],
                                   "failed_to_open_filenames": [],
                                   "no_key_filenames": [], "duplicates": []})  # fmt: skip
                continue
            harvesters.append({
                "connection": {"node_id": _hex(self.seed, "hv", h)[2:],
                               "host": self.address if h == 0 else f"10.0.0.{10 + h}",
                               "port": 8448},
                "plots": len(loaded), "failed_to_open_filenames": 0,
                "no_key_filenames": 0, "duplicates": 0,
                "total_plot_size": len(loaded) * K32_BYTES,
                "total_effective_plot_size": len(loaded) * K32_BYTES,
                "syncing": None, "last_sync_time": now - 30.0,
                "harvesting_mode": 1,
            })  # fmt: skip
        return {"harvesters": harvesters}

    def _pool_state(self, now: float) -> dict[str, Any]:
        points = int(self.uptime(now) / 3600 * 8)
        return {"pool_state": [{
            "p2_singleton_puzzle_hash": _hex(self.seed, "p2")[2:],
            "points_found_since_start": points, "points_acknowledged_since_start": points,
            "current_points": points, "current_difficulty": 20,
            "points_found_24h": [[now - 600, 20]], "points_acknowledged_24h": [[now - 600, 20]],
            "pool_errors_24h": [], "authentication_token_timeout": 5,
            "pool_config": {"launcher_id": _hex(self.seed, "launcher"),
                            "pool_url": "https://pool.example.net", "payout_instructions": "",
                            "target_puzzle_hash": _hex(self.seed, "target"),
                            "owner_public_key": _hex(self.seed, "owner")[:98]},
        }]}  # fmt: skip

    def _plots(self, harvester: int) -> dict[str, Any]:
        loaded, lost = self.plot_files(harvester)
        plots = [{"filename": p, "size": 32, "plot_id": p[-70:-5], "file_size": K32_BYTES,
                  "pool_public_key": None, "pool_contract_puzzle_hash": _hex(self.seed, "p2"),
                  "plot_public_key": _hex(self.seed, "ppk", p)[:98],
                  "time_modified": self.genesis + 86400.0, "compression_level": 0}
                 for p in loaded]  # fmt: skip
        return {"plots": plots, "failed_to_open_filenames": [], "not_found_filenames": lost}


class ChiaServer(HttpSimServer):
    """One HTTPS server (mutual TLS) answering every simulated farm's three RPC ports."""

    def __init__(self) -> None:
        """Serve with the private CA's daemon certificate."""
        super().__init__(ssl_context=server_ssl_context())

    async def add(self, sim: Any, port: int | None = None) -> None:
        """Listen on the farm's three ports (``port`` given: that one only)."""
        if port is not None or not isinstance(sim, ChiaSim):
            await super().add(sim, port)
            return
        for p in (sim.full_node_port, sim.farmer_port, sim.harvester_port):
            await super().add(sim, p)


def create(address: str, *, seed: int, clock: Clock, model: str | None) -> ChiaSim:
    """Farm factory: ``model`` is the preset (``small``, ``large``)."""
    return ChiaSim(address, seed=seed, clock=clock, preset=model or "small")


FAMILY = SimFamily(family="chia", models=tuple(PRESETS), create=create, host=ChiaServer)
