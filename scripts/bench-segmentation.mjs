// `node scripts/bench-segmentation.mjs [--sizes 1024,4096] [--repeat 3]`
//
// Per-image cost of the segmentation path a scoring thread runs on one Vertex
// AI line: JSON.parse → base64 + PNG decode of categoryMask and confidenceMask
// → mask-mean-uncertainty → tracing into capped Prodigy polygons.
// Each size runs in its own child process reading a pre-generated line from
// bench/out/, so the peak RSS it reports (VmHWM from /proc) is that of one
// image in one thread plus Node itself (shown separately as "idle RSS").
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'bench', 'out');
const SEG = (f) => pathToFileURL(join(ROOT, 'dist', 'scoring', 'segmentation', f)).href;
const LABELS = ['scratch', 'dent', 'rust'];
const COLORS = { scratch: '#ff0000', dent: '#00ff00', rust: '#0000ff' };
const RGB = [
  [0, 0, 0],
  [255, 0, 0],
  [0, 255, 0],
  [0, 0, 255],
];

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
}

function vmHwmMb() {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** A seeded scene: discs (some rings, i.e. with holes), wavy blobs and thin diagonal scratches; confidence falls near boundaries. */
function scene(size, seed) {
  let s = seed >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const classes = new Uint8Array(size * size);
  const shapes = Array.from({ length: 24 }, () => ({
    cls: 1 + Math.floor(rand() * 3),
    x: rand() * size,
    y: rand() * size,
    r: size * (0.02 + rand() * 0.08),
    hole: rand() < 0.4,
    wave: rand() * 0.2,
  }));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      for (const sh of shapes) {
        const d = Math.hypot(x - sh.x, y - sh.y);
        const r = sh.r * (1 + sh.wave * Math.sin(Math.atan2(y - sh.y, x - sh.x) * 5));
        if (d < r && !(sh.hole && d < r * 0.4)) classes[y * size + x] = sh.cls;
      }
      if (Math.abs(((x - y * 0.7) % (size / 5)) + size / 5) % (size / 5) < 1.5 && y > size * 0.8) classes[y * size + x] = 1;
    }
  }
  const rgb = new Uint8Array(size * size * 3);
  const conf = new Uint8Array(size * size);
  for (let i = 0; i < classes.length; i++) {
    rgb.set(RGB[classes[i]], i * 3);
    const x = i % size;
    const edge = x > 0 && classes[i - 1] !== classes[i];
    conf[i] = edge ? 90 : 200 + (i % 55);
  }
  return { rgb, conf };
}

async function prepare(size) {
  const { encode } = await import('fast-png');
  const file = join(OUT, `seg-${size}.jsonl`);
  if (existsSync(file)) return file;
  const { rgb, conf } = scene(size, 20);
  const line = JSON.stringify({
    instance: { content: `gs://bench/seg-${size}.png`, mimeType: 'image/png' },
    prediction: {
      categoryMask: Buffer.from(encode({ width: size, height: size, channels: 3, depth: 8, data: rgb })).toString('base64'),
      confidenceMask: Buffer.from(encode({ width: size, height: size, channels: 1, depth: 8, data: conf })).toString('base64'),
    },
  });
  writeFileSync(file, `${line}\n`);
  return file;
}

async function child(file, repeat) {
  const { buildColorTable } = await import(SEG('colors.js'));
  const { parseSegmentationRecord } = await import(SEG('record.js'));
  const { scoreSegmentation } = await import(SEG('score.js'));
  const { traceMask, DEFAULT_TRACE_OPTIONS } = await import(SEG('trace.js'));
  const colors = buildColorTable(COLORS, LABELS).value;
  const text = readFileSync(file, 'utf8');
  const idle = vmHwmMb();
  const times = [];
  let spans = 0;
  let points = 0;
  for (let r = 0; r < repeat; r++) {
    const t0 = performance.now();
    const parsed = parseSegmentationRecord(JSON.parse(text), { labels: LABELS, colors });
    if (!parsed.ok) throw new Error(parsed.reason);
    const p = parsed.value.prediction;
    const score = scoreSegmentation(p, 'mask-mean-uncertainty', { lowConfidenceBelow: 0.5 });
    if (!score.ok) throw new Error(score.reason);
    const traced = traceMask({ width: p.width, height: p.height, data: p.classes }, LABELS, DEFAULT_TRACE_OPTIONS);
    if (!traced.ok) throw new Error(traced.reason);
    times.push(performance.now() - t0);
    spans = traced.value.spans.length;
    points = traced.value.spans.reduce((a, s) => a + s.points.length, 0);
  }
  times.sort((a, b) => a - b);
  process.stdout.write(
    JSON.stringify({
      idleMb: idle,
      peakMb: vmHwmMb(),
      medianMs: times[times.length >> 1],
      minMs: times[0],
      maxMs: times[times.length - 1],
      spans,
      points,
      lineMb: text.length / 2 ** 20,
    }),
  );
}

if (process.argv.includes('--child')) {
  await child(arg('child', ''), Number(arg('repeat', '3')));
} else {
  if (!existsSync(join(ROOT, 'dist', 'scoring', 'segmentation', 'record.js'))) {
    console.error('[bench-segmentation] run "npm run build" first');
    process.exit(2);
  }
  mkdirSync(OUT, { recursive: true });
  const sizes = arg('sizes', '1024,4096').split(',').map(Number);
  const repeat = arg('repeat', '3');
  console.log('segmentation, one Vertex AI line per image (decode + mask-mean-uncertainty + trace), one thread:');
  console.log('size        line MB  median ms  min..max ms   spans  points  idle RSS MB  peak RSS MB');
  for (const size of sizes) {
    const file = await prepare(size);
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', file, '--repeat', repeat], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) {
      console.error(r.stderr);
      process.exit(1);
    }
    const m = JSON.parse(r.stdout);
    console.log(
      `${`${size}x${size}`.padEnd(11)} ${m.lineMb.toFixed(1).padStart(7)}  ${m.medianMs.toFixed(0).padStart(9)}  ${`${m.minMs.toFixed(0)}..${m.maxMs.toFixed(0)}`.padStart(11)}  ${String(m.spans).padStart(6)}  ${String(m.points).padStart(6)}  ${m.idleMb.toFixed(0).padStart(11)}  ${m.peakMb.toFixed(0).padStart(11)}`,
    );
  }
}
