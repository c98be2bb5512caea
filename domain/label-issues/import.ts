/**
 * `reviewloop import-labels`: existing training data (id, label, content)
 * brought into the snapshots once, as a new version with provenance
 * `import`. Pure: rows in, what to add and what to reject out.
 *
 * Rules, so an import is safe to repeat and never overwrites a reviewer:
 * - each row needs a non-empty string `id` and a `label` among the project's
 *   labels; content fields (`text`, `image`, `audio`, `width`, `height`) are
 *   kept when present and well typed;
 * - an id twice with the same label counts once; an id with conflicting
 *   labels is rejected on every line that has it (neither is more right);
 * - an id already in the snapshot with the same label is unchanged; with
 *   another label it is rejected (the snapshot's label stays: a label-issue
 *   round is the way to question it).
 * Importing the same rows again therefore adds nothing, and the caller
 * writes no new version.
 */

export interface ImportRow {
  id: string;
  label: string;
  text?: string;
  image?: string;
  audio?: string;
  width?: number;
  height?: number;
  /** Where the row came from: `FILE#L12` (JSONL) or `FILE#row12` (Arrow, Parquet). */
  source: string;
}

export interface ImportReject {
  object: string;
  line: number;
  field: string;
  reason: string;
  id?: string;
}

export interface ImportPlan {
  add: ImportRow[];
  unchanged: number;
  rejects: ImportReject[];
}

/** A raw row as read from a file, with its 1-based line (JSONL) or row number. */
export interface RawImportRow {
  object: string;
  line: number;
  value: unknown;
  rowWord: 'L' | 'row';
}

const CONTENT = ['text', 'image', 'audio'] as const;
const SIZES = ['width', 'height'] as const;

/** Validates one raw row; the reject names the field. */
export function readImportRow(raw: RawImportRow, labels: ReadonlySet<string>): ImportRow | ImportReject {
  const bad = (field: string, reason: string, id?: string): ImportReject => ({
    object: raw.object,
    line: raw.line,
    field,
    reason,
    ...(id === undefined ? {} : { id }),
  });
  const v = raw.value;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('(record)', 'expected an object with id and label');
  const r = v as Record<string, unknown>;
  const id = typeof r.id === 'number' && Number.isSafeInteger(r.id) ? String(r.id) : r.id;
  if (typeof id !== 'string' || id.length === 0 || id.length > 1024) return bad('id', 'missing, or not a non-empty string (≤ 1024 chars) or integer');
  if (typeof r.label !== 'string') return bad('label', 'missing, or not a string', id);
  if (!labels.has(r.label)) return bad('label', `"${r.label}" is not one of the project's labels`, id);
  const row: ImportRow = { id, label: r.label, source: `${raw.object}#${raw.rowWord}${raw.line}` };
  for (const k of CONTENT) {
    if (r[k] === undefined || r[k] === null) continue;
    if (typeof r[k] !== 'string') return bad(k, `${k} must be a string`, id);
    row[k] = r[k] as string;
  }
  for (const k of SIZES) {
    if (r[k] === undefined || r[k] === null) continue;
    if (typeof r[k] !== 'number' || !Number.isFinite(r[k]) || (r[k] as number) <= 0) return bad(k, `${k} must be a positive number of pixels`, id);
    row[k] = r[k] as number;
  }
  if (row.text === undefined && row.image === undefined && row.audio === undefined)
    return bad('text', 'no content: one of text, image or audio is needed for reviewers to see the item', id);
  return row;
}

/**
 * Plans the import of `raws` (in file order) against the labels the latest
 * snapshot holds (`existing`: id → label, null for rows without one).
 */
export function planImport(raws: readonly RawImportRow[], labels: readonly string[], existing: ReadonlyMap<string, string | null>): ImportPlan {
  const labelSet = new Set(labels);
  const rejects: ImportReject[] = [];
  const byId = new Map<string, ImportRow[]>();
  for (const raw of raws) {
    const r = readImportRow(raw, labelSet);
    if ('reason' in r) {
      rejects.push(r);
      continue;
    }
    byId.set(r.id, [...(byId.get(r.id) ?? []), r]);
  }
  const add: ImportRow[] = [];
  let unchanged = 0;
  const lineOf = (source: string) => Number(source.slice(source.lastIndexOf('#') + 1).replace(/^(L|row)/, ''));
  for (const [id, rows] of byId) {
    const distinct = [...new Set(rows.map((r) => r.label))];
    if (distinct.length > 1) {
      for (const r of rows)
        rejects.push({
          object: r.source.slice(0, r.source.lastIndexOf('#')),
          line: lineOf(r.source),
          field: 'label',
          reason: `id ${JSON.stringify(id)} has conflicting labels in the import (${distinct.map((l) => JSON.stringify(l)).join(' vs ')}); none imported`,
          id,
        });
      continue;
    }
    const have = existing.get(id);
    if (have === undefined) {
      add.push(rows[0]);
      continue;
    }
    if (have === rows[0].label) {
      unchanged++;
      continue;
    }
    const r = rows[0];
    rejects.push({
      object: r.source.slice(0, r.source.lastIndexOf('#')),
      line: lineOf(r.source),
      field: 'label',
      reason: `id ${JSON.stringify(id)} is already labelled ${have === null ? '(no label)' : JSON.stringify(have)} in the snapshot; an import never overwrites it (question it with a label-issues round)`,
      id,
    });
  }
  add.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  rejects.sort((a, b) => (a.object < b.object ? -1 : a.object > b.object ? 1 : a.line - b.line));
  return { add, unchanged, rejects };
}
