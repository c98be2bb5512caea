"""Writes test/fixtures/segmentation/: masks encoded by pycocotools and PNGs
written by Pillow, so the TypeScript decoders are tested against the
reference producers rather than against themselves.

Run: python3 -m venv /tmp/venv-seg && /tmp/venv-seg/bin/pip install pycocotools numpy pillow
     /tmp/venv-seg/bin/python scripts/seg-fixtures.py
"""
import json
import os

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'segmentation')
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20)

# COCO RLE: random masks of odd shapes, plus blobs, plus edge cases.
cases = []
shapes = [(1, 1), (2, 3), (3, 2), (7, 5), (16, 16), (31, 47), (64, 40)]
for h, w in shapes:
    for kind in ('random', 'blob', 'empty', 'full'):
        if kind == 'random':
            m = (rng.random((h, w)) < 0.4).astype(np.uint8)
        elif kind == 'blob':
            yy, xx = np.mgrid[0:h, 0:w]
            m = (((yy - h / 2) ** 2 + (xx - w / 3) ** 2) < (min(h, w) / 2.5) ** 2).astype(np.uint8)
        elif kind == 'empty':
            m = np.zeros((h, w), np.uint8)
        else:
            m = np.ones((h, w), np.uint8)
        rle = mask_utils.encode(np.asfortranarray(m))
        cases.append({
            'kind': kind,
            'size': [int(x) for x in rle['size']],
            'counts': rle['counts'].decode('ascii'),
            'area': int(mask_utils.area(rle)),
            'rows': m.tolist(),
        })
# A large mask whose counts exceed one 5-bit group many times over (deltas negative and positive).
m = np.zeros((300, 400), np.uint8)
m[10:290, 20:60] = 1
m[100:120, 200:390] = 1
rle = mask_utils.encode(np.asfortranarray(m))
# Stored as its rectangles [y0, y1, x0, x1) rather than rows, to keep the fixture small.
cases.append({'kind': 'large', 'size': [300, 400], 'counts': rle['counts'].decode('ascii'), 'area': int(mask_utils.area(rle)),
              'rects': [[10, 290, 20, 60], [100, 120, 200, 390]]})
with open(os.path.join(OUT, 'coco-rle.json'), 'w') as f:
    json.dump(cases, f, separators=(',', ':'))

# PNG masks written by Pillow in the modes a producer may use.
classes = np.zeros((6, 9), np.uint8)
classes[1:3, 1:4] = 1
classes[3:5, 5:8] = 2
classes[5, 0] = 1
colors = {1: (255, 0, 0), 2: (0, 255, 0)}
rgb = np.zeros((6, 9, 3), np.uint8)
for k, c in colors.items():
    rgb[classes == k] = c
Image.fromarray(rgb, 'RGB').save(os.path.join(OUT, 'category-rgb.png'))
rgba = np.dstack([rgb, np.full((6, 9), 255, np.uint8)])
rgba[0, 8] = (12, 34, 56, 0)  # fully transparent: background whatever its colour
Image.fromarray(rgba, 'RGBA').save(os.path.join(OUT, 'category-rgba.png'))
p = Image.fromarray(classes, 'P')
p.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0])
p.save(os.path.join(OUT, 'category-palette.png'))
p.save(os.path.join(OUT, 'category-palette-4bit.png'), bits=4)
Image.fromarray(classes, 'L').save(os.path.join(OUT, 'class-index-l.png'))
Image.fromarray(classes.astype(np.uint16)).save(os.path.join(OUT, 'grey16.png'))
Image.fromarray(classes > 0).convert('1').save(os.path.join(OUT, 'binary-1bit.png'))
conf = np.arange(54, dtype=np.uint8).reshape(6, 9) * 4
Image.fromarray(conf, 'L').save(os.path.join(OUT, 'confidence-l.png'))
with open(os.path.join(OUT, 'pngs.json'), 'w') as f:
    json.dump({'classes': classes.tolist(), 'confidence': conf.tolist()}, f)
print('wrote', OUT)
