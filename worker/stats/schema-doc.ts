/** The stats schema as Markdown, generated from the one table definition so docs cannot drift. */
import { TABLES, VIEWS, duckdbType } from '../../domain/quality/tables.js';

export function renderSchemaDoc(): string {
  let md = '# Stats schema\n\nGenerated from `domain/quality/tables.ts` by `node scripts/schema-doc.mjs`; the same tables exist in DuckDB and BigQuery.\n';
  md += 'Every table is partitioned by day on `event_time` in BigQuery and clustered by `project` plus the columns named.\n';
  for (const t of TABLES) {
    md += `\n## \`${t.name}\`\n${t.description}. Clustered by project${t.clusterBy.length ? `, ${t.clusterBy.join(', ')}` : ''}.\n\n| column | BigQuery | DuckDB | meaning |\n|---|---|---|---|\n`;
    for (const c of t.columns) md += `| ${c.name} | ${c.type}${c.required ? ' REQUIRED' : ''} | ${duckdbType(c.type)} | ${c.description} |\n`;
  }
  md += '\n## Views\n\n';
  for (const v of VIEWS) md += `### \`${v.name}\`\n${v.description}.\n\n\`\`\`sql\n${v.sql((t) => t)}\n\`\`\`\n\n`;
  return md;
}
