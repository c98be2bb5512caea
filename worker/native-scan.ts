/**
 * Loads the native line scanner (native/line-scan.c, built by
 * scripts/build-native.mjs into dist/native/) for the scoring threads. It is an
 * accelerator only: when it was not built (no C compiler) or
 * REVIEWLOOP_NATIVE=0, scoring uses the JS scanner and gives the same results.
 */
import { createRequire } from 'node:module';
import type { NativeScan } from '../scoring/line-scan.js';
import { compiledModulePath } from './module-path.js';

/** The native scan function, or undefined (see the module comment). */
export function loadNativeScan(): NativeScan | undefined {
  if (process.env.REVIEWLOOP_NATIVE === '0') return undefined;
  try {
    const mod = createRequire(import.meta.url)(compiledModulePath('native/line-scan.node')) as { scan?: NativeScan };
    return typeof mod.scan === 'function' ? mod.scan : undefined;
  } catch {
    return undefined;
  }
}
