"""Score NLB submissions with nlb_tools' own evaluate and compare with hest's metrics.json.

usage: python3 check.py NLB_TOOLS_DIR TARGET_FILE [--tol T]
           --case LABEL SUBMISSION METRICS_JSON MODE [--case ...]

For each case, nlb_tools' evaluate(TARGET_FILE, SUBMISSION) is run and its co-bps, vel R2,
psth R2 and fp-bps are compared with coBps, velR2, psthR2 and fpBps of the row of
METRICS_JSON whose mode is MODE. Prints one table; exits 1 naming every metric that differs by
more than --tol (default 1e-6) or is missing on either side.
"""

import argparse
import json
import logging
import math
import re
import sys

from nlb_import import import_nlb_tools

# nlb_tools' result keys and hest's metrics.json keys
METRICS = [("co-bps", "coBps"), ("vel R2", "velR2"), ("psth R2", "psthR2"), ("fp-bps", "fpBps")]


def nlb_scores(evaluation, target, submission):
    """nlb_tools' scores of the one dataset in the submission, without its "[100] " prefix."""
    results = evaluation.evaluate(target, submission)
    if len(results) != 1 or len(results[0]) != 1:
        sys.exit(f"{submission}: expected nlb_tools to score one dataset, found {results!r}")
    (split, scores), = results[0].items()
    return split, {re.sub(r"^\[\d+\] ", "", k): v for k, v in scores.items()}


def hest_row(path, mode):
    with open(path) as f:
        rows = json.load(f)["results"]
    match = [r for r in rows if r.get("mode") == mode]
    if len(match) != 1:
        modes = [r.get("mode") for r in rows]
        sys.exit(f"{path}: expected one result row of mode {mode}, found modes {modes}")
    return match[0]


def fmt(v):
    return "—" if v is None else f"{v:.12f}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("nlb_tools")
    p.add_argument("target")
    p.add_argument("--case", nargs=4, action="append", required=True,
                   metavar=("LABEL", "SUBMISSION", "METRICS_JSON", "MODE"))
    p.add_argument("--tol", type=float, default=1e-6)
    a = p.parse_args()
    _, evaluation = import_nlb_tools(a.nlb_tools)
    logging.basicConfig(level=logging.ERROR)

    lines = []
    bad = []
    for label, submission, metrics, mode in a.case:
        split, nlb = nlb_scores(evaluation, a.target, submission)
        row = hest_row(metrics, mode)
        for nlb_key, hest_key in METRICS:
            x, y = nlb.get(nlb_key), row.get(hest_key)
            if x is None or y is None:
                diff, ok = None, False
                why = f"missing in {'nlb_tools results' if x is None else metrics}"
            else:
                diff = abs(float(x) - float(y))
                ok = math.isfinite(diff) and diff <= a.tol
                why = f"differs by {diff:.3g} > {a.tol:g}"
            lines.append((label, nlb_key, fmt(x), fmt(y), "—" if diff is None else f"{diff:.1e}",
                          "ok" if ok else "MISMATCH"))
            if not ok:
                bad.append(f"{label} ({split}): {nlb_key} — nlb_tools {fmt(x)}, hest "
                           f"{hest_key} {fmt(y)}: {why}")

    head = ("case", "metric", "nlb_tools", "hest", "|diff|", "")
    widths = [max(len(str(r[i])) for r in [head] + lines) for i in range(len(head))]
    for r in [head] + lines:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    if bad:
        print(f"\n{len(bad)} metric(s) differ from nlb_tools (tolerance {a.tol:g}):", file=sys.stderr)
        for b in bad:
            print(f"  {b}", file=sys.stderr)
        sys.exit(1)
    print(f"\nall {len(lines)} metrics equal nlb_tools' within {a.tol:g}")


if __name__ == "__main__":
    main()
