/** Plain-text table for `reviewloop query` and `status`: columns padded, numbers right-aligned. */
export function printTable(rows: Array<Record<string, unknown>>): string {
  if (rows.length === 0) return '(no rows)\n';
  const cols = Object.keys(rows[0]);
  const cell = (v: unknown) =>
    v === null || v === undefined
      ? ''
      : typeof v === 'number'
        ? Number.isInteger(v)
          ? String(v)
          : v.toPrecision(6).replace(/\.?0+$/, '')
        : typeof v === 'object'
          ? JSON.stringify(v)
          : String(v);
  const cells = rows.map((r) => cols.map((c) => cell(r[c])));
  const widths = cols.map((c, i) => Math.min(60, Math.max(c.length, ...cells.map((r) => r[i].length))));
  const numeric = cols.map((c) => rows.every((r) => r[c] === null || typeof r[c] === 'number'));
  const fmt = (vals: string[]) =>
    vals
      .map((v, i) => {
        const t = v.length > widths[i] ? `${v.slice(0, widths[i] - 1)}…` : v;
        return numeric[i] ? t.padStart(widths[i]) : t.padEnd(widths[i]);
      })
      .join('  ')
      .trimEnd();
  return `${[fmt(cols), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(fmt)].join('\n')}\n(${rows.length} row${rows.length === 1 ? '' : 's'})\n`;
}
