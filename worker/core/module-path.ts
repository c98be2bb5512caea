/**
 * Where compiled modules live, for code that starts threads or loads addons.
 * Kept apart from pool.ts so scoring threads can use it without loading piscina.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ReviewloopError } from '../../domain/errors.js';

/**
 * Resolves the compiled task module. Under `dist/` it sits beside us; when
 * the sources run under a TS loader (vitest), workers still need plain JS, so
 * fall back to the build output.
 */
export function compiledModulePath(rel: string): string {
  // This file's folder is worker/core (or dist/worker/core): the root that holds worker/ is two folders up.
  const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const sibling = path.join(root, rel);
  if (existsSync(sibling)) return sibling;
  const built = path.join(root, 'dist', rel);
  if (existsSync(built)) return built;
  throw new ReviewloopError('INTERNAL', `module ${rel} not found at ${sibling} or ${built}: run "npm run build"`);
}
