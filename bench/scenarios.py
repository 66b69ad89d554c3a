"""What each scenario measures, in the units the report uses.

``throughput`` is read from the loadgen's JSON line (higher is better);
``cost`` is server CPU per unit of work computed from it (lower is better),
except for idle, where the cost is server RSS per open connection and the
throughput (connections opened per second while setting up) is only shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MIB = 1 << 20


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    throughput_unit: str
    cost_unit: str

    def throughput(self, r: dict[str, Any]) -> float | None:
        key = "mib_per_s" if self.name.startswith("stream") else "ops_per_s"
        return r.get(key)

    def cost(self, r: dict[str, Any], rec: dict[str, Any]) -> float | None:
        if self.name == "idle":
            ready, base, n = rec.get("rss_ready_kib"), rec.get("rss_base_kib"), r.get("open")
            return (ready - base) / n if ready and base and n else None
        cpu, ops = r.get("server_cpu_s"), r.get("ops")
        if cpu is None or not ops:
            return None
        if self.name.startswith("stream"):
            return cpu * 1e6 / (r["bytes"] / MIB)
        return cpu * 1e6 / ops


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("rtt-1", "1 connection, sequential 32-byte text round trips", "msgs/s", "µs CPU/msg"),
    Scenario("rtt-100", "100 connections, each sequential 32-byte round trips", "msgs/s", "µs CPU/msg"),
    Scenario("stream-64k", "64 KiB binary echo, 16 in flight, 1 connection", "MiB/s", "µs CPU/MiB"),
    Scenario("stream-1m", "1 MiB binary echo, 16 in flight, 1 connection", "MiB/s", "µs CPU/MiB"),
    Scenario("connect", "20 workers: connect, handshake, one echo, close", "conn/s", "µs CPU/conn"),
    Scenario("broadcast", "1 sender, 1,000 receivers, 64-byte messages", "deliveries/s", "µs CPU/delivery"),
    Scenario(
        "broadcast-stalled",
        "broadcast with one more receiver that never reads",
        "deliveries/s",
        "µs CPU/delivery",
    ),
    Scenario("broadcast-10k", "1 sender, 10,000 receivers, 64-byte messages", "deliveries/s", "µs CPU/delivery"),
    Scenario("idle", "10,000 open idle connections", "conn/s (setup)", "KiB RSS/conn"),
)

BY_NAME = {s.name: s for s in SCENARIOS}
