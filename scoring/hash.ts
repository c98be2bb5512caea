/**
 * Deterministic hashing: Prodigy-style 32-bit signed hashes, the seeded
 * uniform draw behind `random` and the audit slice, and 64-bit keys for the
 * "already queued" exclusion set. Pure, no I/O, identical in every thread.
 */

const encoder = new TextEncoder();
/** UTF-8 bytes of the string being hashed; reused (hashing is synchronous), grown as needed. */
let scratch = new Uint8Array(256);

/**
 * The UTF-8 bytes of `s`, in `scratch` (valid until the next call). ASCII, the usual id, is copied
 * in JS: TextEncoder.encode() allocates a buffer per call, which would be most of the cost of a draw.
 */
function utf8(s: string): Uint8Array {
  const n = s.length;
  // At most 3 bytes per UTF-16 unit.
  if (scratch.length < 3 * n) scratch = new Uint8Array(Math.max(3 * n, 2 * scratch.length));
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return scratch.subarray(0, encoder.encodeInto(s, scratch).written);
    scratch[i] = c;
  }
  return scratch.subarray(0, n);
}

/** MurmurHash3 x86 32-bit over the UTF-8 bytes of `input`; unsigned result. */
export function murmur3(input: string | Uint8Array, seed = 0): number {
  const data = typeof input === 'string' ? utf8(input) : input;
  const len = data.length;
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed >>> 0;
  const blocks = len & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = len & 3;
  if (tail > 0) {
    let k = 0;
    if (tail === 3) k ^= data[blocks + 2] << 16;
    if (tail >= 2) k ^= data[blocks + 1] << 8;
    k ^= data[blocks];
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Prodigy keeps hashes as signed 32-bit integers. */
export function signed32(x: number): number {
  return x | 0;
}

/**
 * A uniform number in [0, 1) fixed by (seed, id): 53 bits from two murmur
 * hashes, so ties are practically impossible and every thread agrees.
 */
export function uniform01(seed: string, id: string): number {
  return uniform01Key(utf8(`${seed}\u0000${id}`));
}

/** `uniform01` from the UTF-8 bytes of `${seed}\u0000${id}`, for callers holding bytes (the JSONL byte scanner). */
export function uniform01Key(key: Uint8Array): number {
  const hi = murmur3(key, 0x9747b28c) >>> 5; // 27 bits
  const lo = murmur3(key, 0x5bd1e995) >>> 6; // 26 bits
  return (hi * 67108864 + lo) / 9007199254740992;
}

/** 64-bit key of (id, model) for the sorted exclusion array. */
export function exclusionKey(id: string, model: string | undefined): bigint {
  const key = `${id}\u0000${model ?? ''}`;
  return (BigInt(murmur3(key, 0x2545f491)) << 32n) | BigInt(murmur3(key, 0x9e3779b9));
}

/**
 * Whether (id, model) was queued or labelled before. An item queued or
 * labelled without a model (cold start over raw objects) counts for every
 * model: a human already answered it before any model existed.
 */
export function isExcluded(sorted: BigUint64Array, id: string, model: string | undefined): boolean {
  return hasKey(sorted, exclusionKey(id, model)) || (model !== undefined && hasKey(sorted, exclusionKey(id, undefined)));
}

/** Binary search in a sorted BigUint64Array. */
export function hasKey(sorted: BigUint64Array, key: bigint): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid];
    if (v === key) return true;
    if (v < key) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}
