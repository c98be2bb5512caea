/**
 * Loads the native module (native/*.c, built by scripts/build-native.mjs into
 * dist/native/): the JSONL line scanner and the row settler. It is an
 * accelerator only: when it was not built (no C compiler) or
 * REVIEWLOOP_NATIVE=0, scoring runs in JS and gives the same results.
 */
import { createRequire } from 'node:module';
import type { NativeScan } from '../../scoring/fast/line-scan.js';
import type { NativeKeys, NativeSettle } from '../../scoring/fast/settle.js';
import type { Logger } from './log.js';
import { compiledModulePath } from './module-path.js';

/** Whether every row i < n spans offsets[from + i + 1] - offsets[from + i] in [min, max] (Arrow list and string offsets). */
export type OffsetSpans = (offsets: Int32Array, from: number, n: number, min: number, max: number) => boolean;

interface NativeModule {
  scan?: NativeScan;
  settle?: NativeSettle;
  keys?: NativeKeys;
  spans?: OffsetSpans;
  kernels?: () => string;
}

/**
 * Whether the native module is in use here and, when not, why. `avx2` and
 * `scalar` mean loaded (the settler kernels this CPU runs); `disabled` is
 * REVIEWLOOP_NATIVE=0, `absent` a build without a C compiler, `load-error`
 * a file that is there but does not load (wrong Node ABI, architecture, libc).
 */
export type NativeReason = 'avx2' | 'scalar' | 'disabled' | 'absent' | 'load-error';

export interface NativeStatus {
  inUse: boolean;
  reason: NativeReason;
  /** The load error's message for `load-error` (a path and a dlopen message: no secrets). */
  detail?: string;
}

const MODULE = 'native/scan-settle.node';

let loaded: NativeModule | undefined;
let status: NativeStatus | undefined;

function nativeModule(): NativeModule {
  if (loaded !== undefined) return loaded;
  loaded = {};
  if (process.env.REVIEWLOOP_NATIVE === '0') {
    status = { inUse: false, reason: 'disabled' };
    return loaded;
  }
  let file: string;
  try {
    file = compiledModulePath(MODULE);
  } catch {
    // Not built here (no C compiler): the JS paths run.
    status = { inUse: false, reason: 'absent' };
    return loaded;
  }
  try {
    loaded = createRequire(import.meta.url)(file) as NativeModule;
    status = { inUse: true, reason: loaded.kernels?.() === 'avx2' ? 'avx2' : 'scalar' };
  } catch (err) {
    status = { inUse: false, reason: 'load-error', detail: (err as Error).message.split('\n')[0] };
  }
  return loaded;
}

/** Whether this process uses the native module, and why not; scoring threads load it the same way, with the same environment. */
export function nativeStatus(): NativeStatus {
  nativeModule();
  return { ...status! };
}

const WHY_NOT: Record<Exclude<NativeReason, 'avx2' | 'scalar'>, string> = {
  disabled: 'REVIEWLOOP_NATIVE=0',
  absent: `${MODULE} was not built (no C compiler or Node headers at build time)`,
  'load-error': `${MODULE} is there but does not load`,
};

let logged = false;

/**
 * One line at start-up (daemon, score, round), once per process: a worker
 * that silently lost its fast path scores about half as fast, and this line
 * (with the reviewloop_native_module gauge) is how an operator sees it.
 */
export function logNativeStatus(logger: Logger): NativeStatus {
  const s = nativeStatus();
  if (logged) return s;
  logged = true;
  const fields = { native: s.inUse, nativeReason: s.reason, ...(s.detail ? { nativeError: s.detail } : {}) };
  if (s.reason === 'avx2' || s.reason === 'scalar') logger.info(`native module in use (${s.reason} settler kernels)`, fields);
  else if (s.reason === 'disabled') logger.info(`native module off (${WHY_NOT[s.reason]}): scoring runs in JS`, fields);
  else logger.warn(`native module not in use: ${WHY_NOT[s.reason]}; scoring runs in JS, about half as fast`, fields);
  return s;
}

/** The native scan function, or undefined (see the module comment). */
export function loadNativeScan(): NativeScan | undefined {
  const { scan } = nativeModule();
  return typeof scan === 'function' ? scan : undefined;
}

/** The native settle function, or undefined (see the module comment). */
export function loadNativeSettle(): NativeSettle | undefined {
  const { settle } = nativeModule();
  return typeof settle === 'function' ? settle : undefined;
}

/** The native audit-draw and exclusion function for Arrow rows, or undefined (see the module comment). */
export function loadNativeKeys(): NativeKeys | undefined {
  const { keys } = nativeModule();
  return typeof keys === 'function' ? keys : undefined;
}

/** The offsets check, native when built (see the module comment), else the same loop in JS. */
export function loadOffsetSpans(): OffsetSpans {
  const { spans } = nativeModule();
  return typeof spans === 'function' ? spans : jsSpans;
}

function jsSpans(offsets: Int32Array, from: number, n: number, min: number, max: number): boolean {
  for (let i = from; i < from + n; i++) {
    const d = offsets[i + 1] - offsets[i];
    if (d < min || d > max) return false;
  }
  return true;
}
