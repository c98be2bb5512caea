#!/usr/bin/env python3
"""Writes test/fixtures/label-issues/*.json: seeded datasets with injected label
flips, out-of-sample predicted probabilities (5-fold cross-validation), and what
cleanlab 2.x answers for them.

Run (any machine with Python 3.9+):
    python3 -m venv /tmp/venv-cl && /tmp/venv-cl/bin/pip install 'cleanlab>=2.6,<3' numpy scikit-learn
    /tmp/venv-cl/bin/python scripts/cleanlab-reference.py [OUT_DIR]

Only the generated numbers are committed; cleanlab (AGPL-3.0) is not vendored.
Probabilities are written with Python's shortest round-trip repr, so JSON.parse
in Node yields the very float64 values cleanlab saw.
"""
import json
import os
import sys

import numpy as np
import cleanlab
from cleanlab.count import compute_confident_joint, get_confident_thresholds, num_label_issues
from cleanlab.dataset import rank_classes_by_label_quality
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict


def make_dataset(seed, n, priors, spread, flip_rate, flip_to, declared_classes):
    """Gaussian blobs, one per class in `priors`; `flip_to[i]` lists the classes a
    flipped label of true class i may become (asymmetric noise, like real crowds)."""
    rng = np.random.default_rng(seed)
    k_true = len(priors)
    true = rng.choice(k_true, size=n, p=priors)
    centers = rng.normal(0.0, 1.0, size=(k_true, 4)) * 3.0
    x = centers[true] + rng.normal(0.0, spread, size=(n, 4))
    labels = true.copy()
    flipped = rng.random(n) < flip_rate
    for idx in np.nonzero(flipped)[0]:
        labels[idx] = rng.choice(flip_to[true[idx]])
    flipped = labels != true
    # Out-of-sample: every row's probabilities come from a model that never saw it.
    model = LogisticRegression(max_iter=2000)
    probs = cross_val_predict(model, x, labels, cv=5, method="predict_proba")
    # Pad to the declared label set: classes nobody labelled get probability 0.
    present = sorted(set(labels.tolist()))
    full = np.zeros((n, declared_classes))
    full[:, present] = probs
    return labels, true, full, flipped


def quantize(probs, steps):
    """Probabilities on a grid of 1/steps (largest remainder, rows sum to steps/steps):
    many exactly equal margins and scores, to pin down tie handling."""
    scaled = probs * steps
    units = np.floor(scaled)
    short = (steps - units.sum(axis=1)).astype(int)
    order = np.argsort(-(scaled - units), axis=1, kind="stable")
    for r in range(len(units)):
        units[r, order[r, : short[r]]] += 1
    return units / steps


def tie_count(scores):
    values, counts = np.unique(scores, return_counts=True)
    return int(np.sum(counts[counts > 1]))


def reference(name, labels, true, pred_probs, flipped, out_dir):
    k = pred_probs.shape[1]
    thresholds = get_confident_thresholds(labels, pred_probs)
    cj_raw = compute_confident_joint(labels, pred_probs, calibrate=False)
    cj = compute_confident_joint(labels, pred_probs)
    health = rank_classes_by_label_quality(labels=labels, pred_probs=pred_probs).sort_values("Class Index")
    expected = {
        "thresholds": thresholds.tolist(),
        "confidentJointRaw": cj_raw.tolist(),
        "confidentJoint": cj.tolist(),
        "labelNoise": health["Label Noise"].tolist(),
        "numLabelIssuesCalibrated": int(num_label_issues(labels, pred_probs, estimation_method="off_diagonal_calibrated")),
    }
    for rank_by, key in (("self_confidence", "selfConfidence"), ("normalized_margin", "normalizedMargin")):
        ranked = find_label_issues(
            labels, pred_probs, filter_by="prune_by_noise_rate", return_indices_ranked_by=rank_by, n_jobs=1
        )
        scores = get_label_quality_scores(labels, pred_probs, method=rank_by)
        expected[key] = {"indices": ranked.tolist(), "tiedScoresAmongIssues": tie_count(scores[ranked])}
    mask = find_label_issues(labels, pred_probs, filter_by="prune_by_noise_rate", n_jobs=1)
    expected["flaggedInjected"] = int(np.sum(mask & flipped))
    doc = {
        "name": name,
        "generator": "scripts/cleanlab-reference.py",
        "cleanlab": cleanlab.__version__,
        "numpy": np.__version__,
        "call": 'find_label_issues(labels, pred_probs, filter_by="prune_by_noise_rate", return_indices_ranked_by=RANK_BY)',
        "classes": k,
        "labels": labels.tolist(),
        "predProbs": pred_probs.tolist(),
        "injectedFlips": np.nonzero(flipped)[0].tolist(),
        "trueLabels": true.tolist(),
        "expected": expected,
    }
    path = os.path.join(out_dir, f"{name}.json")
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"{path}: {len(labels)} items, {int(flipped.sum())} flips, "
          f"{len(expected['selfConfidence']['indices'])} issues, {expected['flaggedInjected']} of them injected")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "test", "fixtures", "label-issues")
    os.makedirs(out_dir, exist_ok=True)
    # 4 classes, 3,000 items, 10 % asymmetric flips: the main agreement check.
    labels, true, probs, flipped = make_dataset(
        seed=21, n=3000, priors=[0.4, 0.3, 0.2, 0.1], spread=1.6, flip_rate=0.10,
        flip_to=[[1], [0, 2], [3], [0]], declared_classes=4)
    reference("blobs-4x3000", labels, true, probs, flipped, out_dir)
    # 5 declared classes of which one is never used, heavy noise: exercises the
    # missing-class threshold and the at-least-one-per-class prune adjustment.
    labels, true, probs, flipped = make_dataset(
        seed=7, n=600, priors=[0.5, 0.3, 0.15, 0.05], spread=2.2, flip_rate=0.35,
        flip_to=[[1, 2], [0], [3], [2]], declared_classes=5)
    reference("missing-class-5x600", labels, true, probs, flipped, out_dir)
    # 3 classes, a tiny minority, noise that swamps it.
    labels, true, probs, flipped = make_dataset(
        seed=3, n=800, priors=[0.6, 0.37, 0.03], spread=2.8, flip_rate=0.30,
        flip_to=[[1, 2], [0], [0, 1]], declared_classes=3)
    reference("minority-3x800", labels, true, probs, flipped, out_dir)
    # Probabilities on a 1/20 grid: equal margins at the cuts and equal scores
    # among issues, where cleanlab's order depends on numpy's (unstable) sort.
    labels, true, probs, flipped = make_dataset(
        seed=11, n=1000, priors=[0.45, 0.35, 0.2], spread=2.0, flip_rate=0.15,
        flip_to=[[1], [2], [0]], declared_classes=3)
    reference("ties-3x1000", labels, true, quantize(probs, 20), flipped, out_dir)


if __name__ == "__main__":
    main()
