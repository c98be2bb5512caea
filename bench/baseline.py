"""The reference a user would write without reviewloop (modAL style):
parse every JSONL line, build the probability matrix, entropy, argpartition top-K.

usage: python3 bench/baseline.py FILE --labels a,b,c --top K  → top-K ids, one per line, best first
"""
import argparse
import json
import sys

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--labels", required=True)
    ap.add_argument("--top", type=int, default=1000)
    args = ap.parse_args()
    labels = args.labels.split(",")

    ids = []
    rows = []
    with open(args.file, "r", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            probs = rec["probs"]
            ids.append(rec["id"])
            rows.append([probs.get(label, 0.0) for label in labels])

    p = np.asarray(rows, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=1)
    k = min(args.top, len(ids))
    part = np.argpartition(-h, k - 1)[:k]
    order = part[np.argsort(-h[part], kind="stable")]
    out = sys.stdout
    for i in order:
        out.write(ids[i])
        out.write("\n")


if __name__ == "__main__":
    main()
