#!/usr/bin/env python3
"""Draws the panels of the sessionstore Grafana dashboard as one PNG, from a
real Prometheus: each panel's own PromQL queries, run over a time range
through the HTTP API (/api/v1/query_range), plotted in the panel's place on
the dashboard's grid. It needs no Grafana: what it shows is what the
dashboard's queries return. bench/dashboard-run.ts runs it after a load run
(npm run dashboard:picture) to make docs/monitoring-dashboard.png.

Grafana's variables are given fixed values: $instance matches every sidecar,
and $__rate_interval is 10 s, ten of the 1 s scrapes the picture run uses
(Grafana would pick at least four; ten draws smoother lines).
"""
import argparse
import json
import math
import re
import urllib.parse
import urllib.request
from datetime import datetime, timezone

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

VARIABLES = {"$__rate_interval": "10s", "$instance": ".*"}
GRID_COLUMNS = 24


def query_range(prometheus, expr, start, end, step):
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{params}", timeout=30) as res:
        body = json.load(res)
    if body["status"] != "success":
        raise RuntimeError(f"query {expr!r} failed: {body.get('error')}")
    return body["data"]["result"]


def legend(template, labels):
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template).strip() or "value"


def formatter(unit):
    def seconds(v, _):
        return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.1f} s"

    def size(v, _):
        for name, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if abs(v) >= scale:
                return f"{v / scale:.1f} {name}"
        return f"{v:.0f} B"

    def plain(v, _):
        return f"{v:g}"

    return {"s": seconds, "bytes": size}.get(unit, plain)


UNIT_LABEL = {"reqps": "per second", "ops": "per second", "s": "", "bytes": "", "short": ""}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prometheus", required=True, help="base URL, e.g. http://127.0.0.1:9090")
    parser.add_argument("--dashboard", required=True, help="the Grafana dashboard JSON")
    parser.add_argument("--start", type=float, required=True, help="unix seconds")
    parser.add_argument("--end", type=float, required=True, help="unix seconds")
    parser.add_argument("--out", required=True, help="the PNG to write")
    args = parser.parse_args()

    with open(args.dashboard) as f:
        dashboard = json.load(f)
    panels = dashboard["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    fig = plt.figure(figsize=(16, rows * 0.42), dpi=100)
    grid = fig.add_gridspec(rows, GRID_COLUMNS, hspace=1.6, wspace=2.5, top=0.96, bottom=0.03, left=0.05, right=0.98)
    step = max(1, math.ceil((args.end - args.start) / 300))
    for panel in panels:
        pos = panel["gridPos"]
        ax = fig.add_subplot(grid[pos["y"] : pos["y"] + pos["h"] - 1, pos["x"] : pos["x"] + pos["w"]])
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
        plotted = 0
        for target in panel["targets"]:
            expr = target["expr"]
            for name, value in VARIABLES.items():
                expr = expr.replace(name, value)
            for series in query_range(args.prometheus, expr, args.start, args.end, step):
                points = [(datetime.fromtimestamp(t, tz=timezone.utc), float(v)) for t, v in series["values"] if v not in ("NaN", "+Inf", "-Inf")]
                if not points:
                    continue
                ax.plot([p[0] for p in points], [p[1] for p in points], linewidth=1.4, label=legend(target.get("legendFormat", ""), series["metric"]))
                plotted += 1
        ax.set_title(panel["title"], fontsize=11, loc="left")
        ax.yaxis.set_major_formatter(formatter(unit))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
        ax.tick_params(labelsize=8)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        if UNIT_LABEL.get(unit):
            ax.set_ylabel(UNIT_LABEL[unit], fontsize=8)
        if plotted:
            ax.legend(fontsize=7, loc="upper left", ncol=2, framealpha=0.7)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="gray")
    start = datetime.fromtimestamp(args.start, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    fig.suptitle(f"{dashboard['title']} dashboard: panels queried from a real Prometheus, run starting {start}", fontsize=13, x=0.05, y=0.985, ha="left")
    fig.savefig(args.out, bbox_inches="tight")


if __name__ == "__main__":
    main()
