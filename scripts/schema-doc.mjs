// Writes docs/stats-schema.md from domain/quality/tables.ts (run after `npm run build`);
// test/unit/schema-doc.test.ts fails when the committed file is stale.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderSchemaDoc } from '../dist/worker/stats/schema-doc.js';

const out = fileURLToPath(new URL('../docs/stats-schema.md', import.meta.url));
writeFileSync(out, renderSchemaDoc());
console.log(`wrote ${out}`);
