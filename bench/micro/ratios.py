#!/usr/bin/env python3
"""Print each benchmark group's ratios from criterion's saved estimates (after `cargo bench`).

Usage: python3 ratios.py [CRITERION_DIR]   (default: $CARGO_TARGET_DIR/criterion, else
target/criterion). Times are criterion's median estimates; each ratio is a benchmark's time over
the time of the group's llmsweep hot path, so > 1 means the baseline is slower.
"""

import json
import os
import sys
from pathlib import Path

HOT_PATHS = {"borrowing_scanner", "step_engine", "summary_of"}


def main() -> None:
    if len(sys.argv) > 1:
        root = Path(sys.argv[1])
    else:
        target = os.environ.get("CARGO_TARGET_DIR", "target")
        root = Path(target) / "criterion"
    groups: dict[str, dict[str, float]] = {}
    for bench in sorted(root.glob("**/new/benchmark.json")):
        meta = json.loads(bench.read_text())
        est = json.loads((bench.parent / "estimates.json").read_text())
        groups.setdefault(meta["group_id"], {})[meta["function_id"]] = est["median"]["point_estimate"]
    if not groups:
        sys.exit(f"no criterion results under {root}; run `cargo bench` first")
    for group, benches in groups.items():
        hot = next((b for b in benches if b in HOT_PATHS), None)
        print(group)
        for name, ns in sorted(benches.items(), key=lambda kv: kv[0] != hot):
            ratio = f"{ns / benches[hot]:6.2f}x" if hot else ""
            print(f"  {name:<24} {ns / 1e3:12.2f} us  {ratio}")


if __name__ == "__main__":
    main()
