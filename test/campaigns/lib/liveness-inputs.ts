/**
 * Inputs of the liveness campaign: good prediction objects and reviewers'
 * exports as their producers write them, and a catalogue of poison ones (what
 * broken pipelines, tired operators and odd tools leave in a bucket). Each
 * staged object says what a correct loop must make of it, so the campaign can
 * check the round and the merge line by line.
 */
import { gzipSync } from 'node:zlib';
import { INTENT_LABELS, intentBatch, type GoldRecord } from '../../../worker/demo/data.js';
import { reviewChoice } from '../../../worker/demo/reviewer.js';
import { PROJECT } from './common.js';

export const PREDICTION_POISON = [
  'truncatedGzip',
  'gzNotGzip',
  'gzipTrailingJunk',
  'deepMetaLine',
  'corruptArrow',
  'emptyFile',
  'emptyGzFile',
  'invalidUtf8Lines',
] as const;
export type PredictionPoison = (typeof PREDICTION_POISON)[number];

/** One staged prediction object and what the round must make of it. */
export interface StagedObject {
  name: string;
  body: Buffer;
  /** `good`, a poison kind, or `newGeneration`: a good object rewritten under the name of one quarantined earlier. */
  kind: 'good' | 'newGeneration' | PredictionPoison;
  /** Valid records with their 1-based line (Arrow: row) numbers. */
  valid: Array<{ line: number; id: string }>;
  /** Lines that must come back as line-level rejects of this object. */
  badLines: number[];
  /** The object cannot be read to its end: it must be quarantined. */
  mustQuarantine: boolean;
}

const jsonl = (records: GoldRecord[]) => records.map((g) => JSON.stringify(g.record));

function linesObject(
  name: string,
  kind: StagedObject['kind'],
  lines: Array<string | Buffer>,
  valid: StagedObject['valid'],
  badLines: number[],
  gz: boolean,
): StagedObject {
  const text = Buffer.concat(lines.flatMap((l) => [Buffer.isBuffer(l) ? l : Buffer.from(l), Buffer.from('\n')]));
  return { name, body: gz ? gzipSync(text) : text, kind, valid, badLines, mustQuarantine: false };
}

/** A good object: the records of `batch`, as `.jsonl` or `.jsonl.gz`. */
export function goodObject(name: string, batch: GoldRecord[], gz: boolean): StagedObject {
  return linesObject(
    name,
    'good',
    jsonl(batch),
    batch.map((g, i) => ({ line: i + 1, id: g.id })),
    [],
    gz,
  );
}

/** `meta` nested `depth` levels deep: what a runaway serializer writes. */
export function deepValue(depth: number): string {
  return `${'{"m":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** A poison object of `kind` built around the valid records of `batch` (which its gold map also holds). */
export async function poisonObject(kind: PredictionPoison, name: string, batch: GoldRecord[], random: () => number): Promise<StagedObject> {
  const lines = jsonl(batch);
  const all = batch.map((g, i) => ({ line: i + 1, id: g.id }));
  switch (kind) {
    case 'truncatedGzip': {
      const gz = gzipSync(Buffer.from(`${lines.join('\n')}\n`));
      const cut = Math.floor(gz.length * (0.3 + 0.5 * random()));
      return { name: `${name}.jsonl.gz`, body: gz.subarray(0, cut), kind, valid: all, badLines: [], mustQuarantine: true };
    }
    case 'gzNotGzip':
      return { name: `${name}.jsonl.gz`, body: Buffer.from(`${lines.join('\n')}\n`), kind, valid: all, badLines: [], mustQuarantine: true };
    case 'gzipTrailingJunk': {
      const junk = Buffer.from(`\n<html>502 Bad Gateway</html>\n${'\u0000'.repeat(7)}`);
      return {
        name: `${name}.jsonl.gz`,
        body: Buffer.concat([gzipSync(Buffer.from(`${lines.join('\n')}\n`)), junk]),
        kind,
        valid: all,
        badLines: [],
        mustQuarantine: true,
      };
    }
    case 'deepMetaLine': {
      const at = Math.floor(random() * lines.length);
      const rec = { ...batch[at].record, meta: '__DEEP__' };
      const out = [...lines];
      out[at] = JSON.stringify(rec).replace('"__DEEP__"', deepValue(3000));
      return linesObject(
        `${name}.jsonl`,
        kind,
        out,
        all.filter((_, i) => i !== at),
        [at + 1],
        random() < 0.5,
      );
    }
    case 'invalidUtf8Lines': {
      const bad = new Set(all.filter(() => random() < 0.1).map((v) => v.line - 1));
      if (bad.size === 0) bad.add(0);
      const out = lines.map((l, i) =>
        bad.has(i) ? Buffer.concat([Buffer.from(l.slice(0, 20)), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(l.slice(20))]) : l,
      );
      return linesObject(
        `${name}.jsonl`,
        kind,
        out,
        all.filter((_, i) => !bad.has(i)),
        [...bad].map((i) => i + 1).sort((a, b) => a - b),
        false,
      );
    }
    case 'emptyFile':
    case 'emptyGzFile':
      // Zero bytes is a JSONL file of no records (a shard a pipeline had nothing for), gzip-named or not:
      // consumed, nothing read, nothing to list.
      return { name: `${name}.jsonl${kind === 'emptyGzFile' ? '.gz' : ''}`, body: Buffer.alloc(0), kind, valid: [], badLines: [], mustQuarantine: false };
    case 'corruptArrow':
      return { name: `${name}.arrow`, body: await corruptArrow(batch, random), kind, valid: all, badLines: [], mustQuarantine: true };
  }
}

/** An Arrow IPC file of `batch` in four record batches, cut short inside one of them (not the first). */
async function corruptArrow(batch: GoldRecord[], random: () => number): Promise<Buffer> {
  const { Float64, Table, tableToIPC, Utf8, vectorFromArray } = await import('apache-arrow');
  // Plain Utf8 and Float64 columns, not dictionaries: every message after the schema is then a record batch.
  const cols: Record<string, unknown> = {
    id: vectorFromArray(
      batch.map((g) => g.id),
      new Utf8(),
    ),
    text: vectorFromArray(
      batch.map((g) => String(g.record.text)),
      new Utf8(),
    ),
  };
  for (const l of INTENT_LABELS)
    cols[l] = vectorFromArray(
      batch.map((g) => (g.record.probs as Record<string, number>)[l]),
      new Float64(),
    );
  const all = new Table(cols as never);
  const per = Math.ceil(batch.length / 4);
  const parts = [0, 1, 2, 3].map((b) => all.slice(b * per, (b + 1) * per).batches[0]).filter((b) => b !== undefined);
  const bytes = Buffer.from(tableToIPC(new Table(parts), 'file'));
  // Each IPC message starts with the continuation marker: the file ends a few bytes into one record batch (not the
  // first), as a copy cut short leaves it, with no footer.
  const marker = Buffer.from([0xff, 0xff, 0xff, 0xff]);
  const marks: number[] = [];
  for (let i = bytes.indexOf(marker); i !== -1; i = bytes.indexOf(marker, i + 4)) marks.push(i);
  const bad = 1 + Math.floor(random() * (parts.length - 1));
  return bytes.subarray(0, marks[1 + bad] + 8 + Math.floor(random() * 64));
}

/** A fresh batch of seeded intent records. */
export function batchOf(seed: number, n: number, idPrefix: string, model: string): GoldRecord[] {
  return intentBatch({ seed, n, model, idPrefix, labelShift: 0.1, sharpness: 2.5 });
}

export const EXPORT_POISON = ['truncatedGzExport', 'timestamp1e300', 'notALabel', 'imageBoxesAnswer', 'deepNestingLine', 'mistypedRoundFolder'] as const;
export type ExportPoison = (typeof EXPORT_POISON)[number];
/** Poison that is one line of an otherwise good file. */
export type LinePoison = Exclude<ExportPoison, 'truncatedGzExport' | 'mistypedRoundFolder'>;
export const LINE_POISON = EXPORT_POISON.filter((k): k is LinePoison => k !== 'truncatedGzExport' && k !== 'mistypedRoundFolder');

type Task = Record<string, unknown> & { meta: { id: string } };

/** One export line and what the merge must make of it. */
export interface ExportLine {
  line: number;
  id: string;
  /** null: a good line; else the poison kind (the line must be a reject, never an answer). */
  poison: ExportPoison | null;
  answer: 'accept' | 'reject' | 'ignore';
  accept: string[];
}

export interface StagedExport {
  name: string;
  body: Buffer;
  lines: ExportLine[];
  /** The file cannot be read: it must be quarantined whole. */
  mustQuarantine: boolean;
  /** A file cut short: the lines it was cut from, for a reviewer who uploads it again whole. */
  complete?: string[];
  /** `newGeneration`: a complete file rewritten under the name of one quarantined earlier. */
  kind: 'good' | 'newGeneration' | ExportPoison;
}

/** A reviewer's `prodigy db-out` lines for `tasks` (real format: answer, accept, _view_id, _session_id, _annotator_id, _timestamp). */
export function reviewerLines(tasks: Task[], gold: Map<string, string>, who: string, startAt: number, seed: number, errorRate: number): string[] {
  return reviewChoice(tasks, gold, {
    dataset: PROJECT,
    annotator: { name: who, errorRate, ignoreRate: 0.05, paceSeconds: 10 },
    startAt,
    labels: INTENT_LABELS,
    seed,
  })
    .split('\n')
    .filter(Boolean);
}

/** What the merge must make of each line, described from the good lines the file was made of. */
export function describeLines(good: string[], poison: Map<number, ExportPoison> = new Map()): ExportLine[] {
  return good.map((l, i) => {
    const v = JSON.parse(l) as { meta: { id: string }; answer: ExportLine['answer']; accept?: string[] };
    return { line: i + 1, id: v.meta.id, poison: poison.get(i) ?? null, answer: v.answer, accept: v.accept ?? [] };
  });
}

/** Turns a good db-out line into a poison line of `kind` (one field wrong, everything else as Prodigy wrote it). */
export function poisonLine(kind: LinePoison, good: string): string {
  const v = JSON.parse(good) as Record<string, unknown>;
  switch (kind) {
    case 'timestamp1e300':
      return JSON.stringify({ ...v, answer: 'accept', accept: [INTENT_LABELS[0]], _timestamp: 1e300 });
    case 'notALabel':
      return JSON.stringify({ ...v, answer: 'accept', accept: ['NOT_A_LABEL'] });
    case 'imageBoxesAnswer': {
      const { options: _o, accept: _a, text: _t, ...rest } = v;
      return JSON.stringify({
        ...rest,
        image: 'gs://media-bucket/img/0001.jpg',
        width: 640,
        height: 480,
        _view_id: 'image_manual',
        answer: 'accept',
        spans: [
          {
            label: INTENT_LABELS[1],
            color: 'yellow',
            points: [
              [10, 10],
              [10, 90],
              [90, 90],
              [90, 10],
            ],
          },
        ],
      });
    }
    case 'deepNestingLine':
      return JSON.stringify({ ...v, answer: 'accept', accept: [INTENT_LABELS[2]], meta: { ...(v.meta as object), extra: '__DEEP__' } }).replace(
        '"__DEEP__"',
        deepValue(3000),
      );
  }
}
