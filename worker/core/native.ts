/**
 * Loads the native module (native/*.c, built by scripts/build-native.mjs into
 * dist/native/): the JSONL line scanner and the row settler. It is an
 * accelerator only: when it was not built (no C compiler) or
 * REVIEWLOOP_NATIVE=0, scoring runs in JS and gives the same results.
 */
import { createRequire } from 'node:module';
import type { NativeScan } from '../../scoring/line-scan.js';
import type { NativeKeys, NativeSettle } from '../../scoring/settle.js';
import { compiledModulePath } from './module-path.js';

/** Whether every row i < n spans offsets[from + i + 1] - offsets[from + i] in [min, max] (Arrow list and string offsets). */
export type OffsetSpans = (offsets: Int32Array, from: number, n: number, min: number, max: number) => boolean;

interface NativeModule { scan?: NativeScan; settle?: NativeSettle; keys?: NativeKeys; spans?: OffsetSpans }

let loaded: NativeModule | undefined;

function nativeModule(): NativeModule {
  if (loaded !== undefined) return loaded;
  loaded = {};
  if (process.env.REVIEWLOOP_NATIVE === '0') return loaded;
  try {
    loaded = createRequire(import.meta.url)(compiledModulePath('native/scan-settle.node')) as NativeModule;
  } catch {
    // Not built here: the JS paths run.
  }
  return loaded;
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
