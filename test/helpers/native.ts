import { createRequire } from 'node:module';
import { compiledModulePath } from '../../worker/core/module-path.js';
import { nativeStatus } from '../../worker/core/native.js';

/** Whether this test process uses the native module (the same rule the worker applies). */
export const NATIVE = nativeStatus();

/**
 * Appended to the title of a test that needs the native module: when the
 * module is not in use here the test is skipped, and the title says why.
 */
export const NEEDS_NATIVE = NATIVE.inUse ? '' : ` (skipped: native module not in use here: ${NATIVE.reason})`;

/** The module's test hook (true runs the scalar settler kernels even where AVX2 is available); a no-op without the module. */
export const forceScalar: (on: boolean) => void = NATIVE.inUse
  ? (createRequire(import.meta.url)(compiledModulePath('native/scan-settle.node')) as { forceScalar: (on: boolean) => void }).forceScalar
  : () => undefined;
