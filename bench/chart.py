"""Draws the ratios of bench/results/latest.json as a PNG (matplotlib).

Two panels, one bar group per scenario, one bar per server: throughput
relative to the best peer (higher is better) and server cost per unit of
work relative to the cheapest peer (lower is better; RSS per connection for
idle). A dashed line marks 1.0, the best peer. Run after bench/run.py:

    python bench/chart.py [bench/results/latest.json] [-o bench/results/ratios.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("json", nargs="?", type=Path, default=HERE / "results" / "latest.json")
    p.add_argument("-o", "--out", type=Path, default=HERE / "results" / "ratios.png")
    a = p.parse_args()
    doc = json.loads(a.json.read_text())
    summary = doc["summary"]
    scenarios = [s for s, row in summary.items() if row]
    servers: list[str] = []
    for row in summary.values():
        servers += [n for n in row if n not in servers]

    fig, axes = plt.subplots(2, 1, figsize=(max(8, 1.6 * len(scenarios)), 8), sharex=True)
    width = 0.8 / max(1, len(servers))
    panels = (
        ("throughput_vs_best", "throughput ÷ best peer (higher is better)"),
        ("cost_vs_best", "server cost ÷ cheapest peer (lower is better)"),
    )
    for ax, (key, title) in zip(axes, panels, strict=True):
        for i, name in enumerate(servers):
            xs, ys = [], []
            for j, sc in enumerate(scenarios):
                v = summary[sc].get(name, {}).get(key)
                if v is not None and not (key == "throughput_vs_best" and sc == "idle"):
                    xs.append(j + (i - (len(servers) - 1) / 2) * width)
                    ys.append(v)
            ax.bar(xs, ys, width, label=name)
        ax.axhline(1.0, color="black", linestyle="--", linewidth=0.8)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title(title)
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[1].set_xticks(range(len(scenarios)), scenarios)
    axes[0].legend(ncol=3, fontsize=8)
    m = doc.get("meta", {})
    fig.suptitle(
        f"ferrosocket vs peers ({m.get('rounds')} round(s), {m.get('duration_s')} s per run; medians; log scale)"
    )
    fig.tight_layout()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=120)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
