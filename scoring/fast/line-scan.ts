/**
 * Line scanners: find the lines of a JSONL chunk and parse the common record
 * shape (fast-bytes.ts) in batches, writing flat typed arrays the chunk scorer
 * reads. Two implementations accept exactly the same lines and produce the
 * same doubles: this JS one, and native/line-scan.c (loaded by the scoring
 * threads when it was built), which is ~3x faster. Scoring itself stays in JS
 * either way, so Math.log is the only logarithm.
 */
import { parseFastBytes } from './fast-bytes.js';
import { fastLineScratch } from './fast-line.js';

/** Int32 slots per line in `meta`: end (newline or chunk end), fast (1/0), id, text and model byte ranges (start/end, -1 when absent). */
export const META = 8;

export interface LineScanner {
  /** Labels per line in `probs`/`present`. */
  readonly k: number;
  /**
   * Scans lines of `buf` from byte `from` until the chunk ends or the arrays
   * are full; returns how many. Line L's slots start at meta[L*META] and, for
   * fast lines, its probabilities (label order, 0 where absent) and presence
   * flags at probs[L*k] and present[L*k].
   */
  scan(buf: Uint8Array, from: number, meta: Int32Array, probs: Float64Array, present: Uint8Array): number;
  /**
   * Native only: `scan`, plus per fast line the exclusion check (fast = 3 when
   * (id, model) is in `exclude`, as `isExcluded` decides) and, when `draws` is
   * not empty, the audit draw (`uniform01Key` of `seedBytes` + the id's bytes)
   * at draws[L]. Same bits as the JS functions in hash.ts.
   */
  scanWithKeys?(
    buf: Uint8Array,
    from: number,
    meta: Int32Array,
    probs: Float64Array,
    present: Uint8Array,
    seedBytes: Uint8Array,
    exclude: BigUint64Array,
    draws: Float64Array,
  ): number;
}

/** What a scanner checks lines against. */
export interface ScanConfig {
  labels: readonly string[];
  singleLabel: boolean;
  probTolerance: number;
  /** Longer lines are never fast. */
  maxLineBytes: number;
}

/** The native module's one export (native/line-scan.c). */
export type NativeScan = (
  buf: Uint8Array,
  from: number,
  labelBytes: Uint8Array,
  labelOffsets: Int32Array,
  single: boolean,
  tolerance: number,
  maxLineBytes: number,
  meta: Int32Array,
  probs: Float64Array,
  present: Uint8Array,
  ...keys: [] | [seedBytes: Uint8Array, exclude: BigUint64Array, draws: Float64Array]
) => number;

function capacity(k: number, meta: Int32Array, probs: Float64Array, present: Uint8Array): number {
  return Math.min(Math.floor(meta.length / META), Math.floor(probs.length / k), Math.floor(present.length / k));
}

/**
 * The JS scanner. With `config` null (a task or strategy the fast path does
 * not cover, or labels it rules out) every line is reported slow.
 */
export function jsLineScanner(config: ScanConfig | null): LineScanner {
  const s = config === null ? null : fastLineScratch(config.labels, config.singleLabel, config.probTolerance);
  const k = Math.max(1, config?.labels.length ?? 1);
  const maxLine = config?.maxLineBytes ?? 0;
  return {
    k,
    scan(buf, from, meta, probs, present) {
      const n = buf.length;
      const cap = capacity(k, meta, probs, present);
      // Node's Buffer#indexOf is memchr; Uint8Array#indexOf is several times slower per line.
      const finder: Uint8Array = typeof Buffer === 'function' ? Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength) : buf;
      let start = from;
      let lines = 0;
      while (start <= n && lines < cap) {
        const mo = lines * META;
        let end = s === null ? -1 : parseFastBytes(buf, start, n, s);
        if (end !== -1 && end - start <= maxLine) {
          const po = lines * k;
          for (let j = 0; j < k; j++) {
            probs[po + j] = s!.row[j];
            present[po + j] = s!.present[j];
          }
          meta[mo + 1] = 1;
          meta[mo + 2] = s!.idStart;
          meta[mo + 3] = s!.idEnd;
          meta[mo + 4] = s!.textStart;
          meta[mo + 5] = s!.textEnd;
          meta[mo + 6] = s!.modelStart;
          meta[mo + 7] = s!.modelEnd;
        } else {
          const nl = finder.indexOf(10, start);
          end = nl === -1 ? n : nl;
          meta[mo + 1] = 0;
        }
        meta[mo] = end;
        lines++;
        start = end + 1;
      }
      return lines;
    },
  };
}

const encoder = new TextEncoder();

/** The native scanner over the same config, or null when the labels rule the fast path out (as fastLineScratch decides). */
export function nativeLineScanner(scan: NativeScan, config: ScanConfig): LineScanner | null {
  if (fastLineScratch(config.labels, config.singleLabel, config.probTolerance) === null || config.labels.length > 256) return null;
  const encoded = config.labels.map((l) => encoder.encode(l));
  const offsets = new Int32Array(encoded.length + 1);
  encoded.forEach((e, j) => {
    offsets[j + 1] = offsets[j] + e.length;
  });
  const bytes = new Uint8Array(offsets[encoded.length]);
  encoded.forEach((e, j) => bytes.set(e, offsets[j]));
  const { singleLabel, probTolerance, maxLineBytes } = config;
  return {
    k: config.labels.length,
    scan: (buf, from, meta, probs, present) => scan(buf, from, bytes, offsets, singleLabel, probTolerance, maxLineBytes, meta, probs, present),
    scanWithKeys: (buf, from, meta, probs, present, seedBytes, exclude, draws) =>
      scan(buf, from, bytes, offsets, singleLabel, probTolerance, maxLineBytes, meta, probs, present, seedBytes, exclude, draws),
  };
}
