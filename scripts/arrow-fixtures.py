"""Writes the Arrow IPC fixtures in test/fixtures/arrow/ with pyarrow, the usual
producer of prediction files, so tests prove worker/arrow-file.ts reads what
pyarrow writes (V5 metadata, 64-byte aligned buffers, continuation markers,
columns it steps over). Deterministic; regenerate with

    python3 -m venv /tmp/pa && /tmp/pa/bin/pip install pyarrow
    /tmp/pa/bin/python scripts/arrow-fixtures.py test/fixtures/arrow
"""
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

LABELS = ["billing", "shipping", "returns", "account", "technical", "other"]
ROWS, PER_BATCH = 120, 50


def probs(i):
    raw = [((i * 7 + j * 13) % 17) + 1 for j in range(len(LABELS))]
    s = sum(raw)
    return [round(r / s, 6) for r in raw[:-1]] + [round(1 - sum(round(r / s, 6) for r in raw[:-1]), 6)]


def write(path, table):
    with ipc.new_file(path, table.schema) as w:
        for batch in table.to_batches(max_chunksize=PER_BATCH):
            w.write_batch(batch)


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = range(ROWS)
    ids = [f"item-{i:04d}" for i in rows]
    # Every column type a prediction file tends to carry; the scorer reads id, text, model and probs.
    write(out / "pyarrow-list.arrow", pa.table({
        "id": pa.array([None if i == 17 else x for i, x in zip(rows, ids)], pa.string()),
        "text": pa.array([None if i % 11 == 3 else f"tëxt ✓ {i}" for i in rows], pa.string()),
        "model": pa.array(["v2" if i % 5 == 0 else "v1" for i in rows], pa.string()),
        "probs": pa.array([None if i == 29 else probs(i) for i in rows], pa.list_(pa.float64())),
        "meta": pa.array([{"source": f"s{i % 3}", "n": i} for i in rows], pa.struct([("source", pa.string()), ("n", pa.int32())])),
        "at": pa.array([1_700_000_000_000 + i for i in rows], pa.timestamp("ms")),
        "flag": pa.array([i % 2 == 0 for i in rows], pa.bool_()),
        "embedding": pa.array([[i / 10, 1.0, 0.5, -1.0] for i in rows], pa.list_(pa.float32(), 4)),
    }))
    write(out / "pyarrow-fixed32.arrow", pa.table({
        "id": pa.array([i * 1_000_003 for i in rows], pa.int64()),
        "probs": pa.array([probs(i) for i in rows], pa.list_(pa.float32(), len(LABELS))),
    }))
    write(out / "pyarrow-columns.arrow", pa.table({
        "id": pa.array(ids, pa.string()),
        **{label: pa.array([probs(i)[j] for i in rows], pa.float64()) for j, label in enumerate(LABELS)},
    }))
    # Layouts this reader leaves to apache-arrow's: a dictionary column, a large_string id.
    write(out / "pyarrow-dictionary.arrow", pa.table({
        "id": pa.array(ids, pa.string()),
        "model": pa.array(["v2" if i % 5 == 0 else "v1" for i in rows], pa.string()).dictionary_encode(),
        "probs": pa.array([probs(i) for i in rows], pa.list_(pa.float64())),
    }))
    write(out / "pyarrow-large.arrow", pa.table({
        "id": pa.array(ids, pa.large_string()),
        "probs": pa.array([probs(i) for i in rows], pa.list_(pa.float64())),
    }))


if __name__ == "__main__":
    main(sys.argv[1])
