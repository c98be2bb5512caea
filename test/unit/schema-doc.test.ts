import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { renderSchemaDoc } from '../../worker/stats/schema-doc.js';

it('docs/stats-schema.md matches the table definitions (regenerate with `npm run build && node scripts/schema-doc.mjs`)', () => {
  expect(readFileSync(path.resolve(__dirname, '../../docs/stats-schema.md'), 'utf8')).toBe(renderSchemaDoc());
});
