// Where the compiled modules that scripts load live, named once.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DIST_CLI = join(ROOT, 'dist', 'worker', 'cli', 'main.js');
export const DIST_DEMO_DATA = join(ROOT, 'dist', 'worker', 'demo', 'data.js');
export const BIN = join(ROOT, 'bin', 'reviewloop.js');
