import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/vertex-detection');

/** A file of test/fixtures/vertex-detection with its placeholder bucket pointed at `mediaBase` (a file:// or gs:// folder URI ending in /). */
export function vertexFixture(file: string, mediaBase: string): string {
  return readFileSync(path.join(FIXTURES, file), 'utf8').replaceAll('gs://vertex-media/', mediaBase);
}
