/**
 * `reviewloop push-annotations FILE --round R`: a reviewer hands in a
 * `prodigy db-out` file with one command. Every line is validated by the
 * merge's own validator (domain/prodigy/validate.ts) against the project; the file goes to `annotations/R/NAME` create-only, so a
 * repeated push of the same bytes is harmless and a different file under a
 * taken name is refused (never overwritten).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { usageError, type CommandEnv } from '../env.js';
import { ReviewloopError, isReviewloopError } from '../../../domain/errors.js';
import { ANNOTATOR_METADATA_KEY } from '../../../domain/prodigy/annotators.js';
import { exportLines } from '../../merge/export-lines.js';
import type { BadExportLine } from '../../../domain/prodigy/exports.js';
import { checkParsed, exportRules, parseForProject, roundToLookUp, type CheckContext, type ExportRules } from '../../../domain/prodigy/validate.js';
import { refuseUnknownRound } from '../../round/known-rounds.js';
import { validateRoundId } from '../../../domain/round-id.js';
import { loadRoundItems } from '../../round/round-items.js';
import type { ObjectStore } from '../../store/store.js';
import { writeOnce } from '../../store/write-once.js';

/** Largest db-out file accepted, in bytes (decompressed). Default 2 GiB, as the merge. */
export const MAX_PUSH_BYTES = 2 * 1024 * 1024 * 1024;

export interface PushOptions {
  round: string;
  /** Object name under `annotations/R/`; `.jsonl` is appended when it has no JSONL extension. */
  name: string;
  /** Where the bytes came from, for bad-line reports (`reviewer.jsonl`, `-`). */
  label: string;
  /** Upload only the valid lines instead of refusing the file. Default false. */
  skipBad?: boolean;
  /** What every line is checked against: the project's task, view and labels. */
  rules: ExportRules;
  /** The reviewer who owns the file (`--name`): recorded on the object, the annotator of unnamed sessions. */
  annotator?: string | null;
}

export interface PushResult {
  /** Object name relative to the project root. */
  object: string;
  uri: string;
  created: boolean;
  answers: { accept: number; reject: number; ignore: number };
  badLines: BadExportLine[];
  /** Whether `rounds/R/manifest.json` exists: a typo in `--round` is worth a warning, not a refusal. */
  roundKnown: boolean;
}

/** The object name for a push: a plain file name ending in .jsonl/.ndjson (optionally .gz). */
export function exportObjectName(name: string): string {
  const base = name.trim();
  if (base.length === 0 || base.includes('/') || base.includes('\\') || base.startsWith('.') || base.startsWith('_')) {
    throw new ReviewloopError('INPUT_INVALID', `invalid annotation file name ${JSON.stringify(name)}: a plain file name, not starting with "." or "_"`);
  }
  return /\.(jsonl|ndjson)(\.gz)?$/i.test(base) ? base : `${base}.jsonl`;
}

export async function pushAnnotations(store: ObjectStore, data: Buffer, opts: PushOptions): Promise<PushResult> {
  const round = validateRoundId(opts.round);
  const object = `annotations/${round}/${exportObjectName(opts.name)}`;
  const gz = data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b;
  const items = new Map<string, Map<string, unknown> | null>();
  const ctx: CheckContext = {
    rules: opts.rules,
    known: (r, id) => items.get(r)?.has(id) ?? false,
    owner: opts.annotator ?? null,
  };
  // Copies of the valid lines are only needed to upload them without the bad ones.
  const good: Buffer[] = [];
  let goodLines = 0;
  const badLines: BadExportLine[] = [];
  const answers = { accept: 0, reject: 0, ignore: 0 };
  // The same validator as the merge, so a file that goes up is a file the merge takes whole.
  for await (const l of exportLines(
    (async function* () {
      yield data;
    })(),
    opts.label,
    { maxBytes: MAX_PUSH_BYTES },
  )) {
    if (l.text === null) {
      badLines.push({ object: opts.label, line: l.line, field: '(line)', reason: l.reason });
      continue;
    }
    const parsed = parseForProject(l.text, opts.label, l.line, ctx);
    const lookup = parsed.ok ? roundToLookUp(parsed.value, ctx.rules) : null;
    if (lookup !== null && !items.has(lookup)) items.set(lookup, await loadRoundItems(store, lookup));
    const r = checkParsed(parsed, opts.label, l.line, ctx);
    if (!r.ok) {
      badLines.push(r.bad);
      continue;
    }
    answers[r.value.answer.answer]++;
    goodLines++;
    if (opts.skipBad) good.push(Buffer.from(`${l.text}\n`));
  }
  if (badLines.length > 0 && !opts.skipBad) {
    const first = badLines[0];
    throw new ReviewloopError(
      'INPUT_INVALID',
      `${opts.label}: ${badLines.length} bad line(s), nothing uploaded (first: line ${first.line} ${first.field}: ${first.reason}); fix them or pass --skip-bad to upload only the valid lines`,
      { details: { badLines } },
    );
  }
  if (goodLines === 0) throw new ReviewloopError('INPUT_INVALID', `${opts.label}: no annotations to upload`);
  // A clean file goes up byte for byte; a filtered one as its valid lines, so the same input always gives the same object.
  // Joined as bytes: the valid lines of a large export may exceed what one string can hold.
  const body = badLines.length === 0 ? data : Buffer.concat(good);
  const metadata = opts.annotator ? { [ANNOTATOR_METADATA_KEY]: opts.annotator } : undefined;
  const { created } = await writeOnce(store, object, body, gz && badLines.length === 0 ? 'application/gzip' : 'application/x-ndjson', metadata);
  const roundKnown = (await store.stat(`rounds/${round}/manifest.json`)) !== null;
  return { object, uri: store.uri(object), created, answers, badLines, roundKnown };
}

/** The reviewer named by `--name alice` or `--name alice.jsonl`: the name without its JSONL extension. */
export function reviewerOf(name: string): string {
  return name.trim().replace(/\.(jsonl|ndjson)(\.gz)?$/i, '');
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export function register(program: Command, env: CommandEnv): void {
  program
    .command('push-annotations')
    .description('validate a `prodigy db-out` file and upload it to annotations/R/ (create-only) for the next merge')
    .argument('<file>', 'db-out JSONL (.gz allowed), or - for standard input (needs --name)')
    .requiredOption('--round <id>', 'round the annotations belong to')
    .addOption(env.configOption())
    .option('--project <name>', 'project (required when several are configured)')
    .option('--name <name>', 'the reviewer: object name under annotations/R/ (default: the file name) and annotator of answers from unnamed Prodigy sessions')
    .option('--skip-bad', 'upload only the valid lines instead of refusing a file with bad lines')
    .option('--allow-unknown-round', 'upload even when the project has no such round (e.g. answers to tasks made outside reviewloop)')
    .action(async (file: string, opts: { round: string; config: string; project?: string; name?: string; skipBad?: boolean; allowUnknownRound?: boolean }) => {
      if (file === '-' && !opts.name) throw usageError('reading standard input needs --name (e.g. --name alice.jsonl)');
      try {
        validateRoundId(opts.round);
      } catch (err) {
        if (isReviewloopError(err)) throw usageError(err.message);
        throw err;
      }
      let data: Buffer;
      try {
        data = file === '-' ? await readStdin() : await readFile(file);
      } catch (err) {
        throw new ReviewloopError('NOT_FOUND', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
      }
      await env.withApp(opts.config, async (app) => {
        const project = app.project(opts.project);
        if (!opts.allowUnknownRound) await refuseUnknownRound(app.projectStore(project), opts.round);
        let r: PushResult;
        try {
          r = await pushAnnotations(app.projectStore(project), data, {
            round: opts.round,
            name: opts.name ?? path.basename(file),
            label: file,
            skipBad: opts.skipBad,
            rules: exportRules(project),
            annotator: opts.name ? reviewerOf(opts.name) : null,
          });
        } catch (err) {
          const bad = isReviewloopError(err, 'INPUT_INVALID') ? (err.details.badLines as BadExportLine[] | undefined) : undefined;
          for (const b of (bad ?? []).slice(0, 20)) env.io.err(`  ${file} line ${b.line}: ${b.field}: ${b.reason}\n`);
          if (bad && bad.length > 20) env.io.err(`  … and ${bad.length - 20} more\n`);
          throw err;
        }
        for (const b of r.badLines.slice(0, 20)) env.io.err(`  skipped ${file} line ${b.line}: ${b.field}: ${b.reason}\n`);
        const n = r.answers.accept + r.answers.reject + r.answers.ignore;
        const counts = `${n} answer(s): ${r.answers.accept} accept, ${r.answers.reject} reject, ${r.answers.ignore} ignore`;
        env.io.out(r.created ? `uploaded ${counts} to ${r.uri}\n` : `${r.uri} already holds these exact bytes; nothing changed (${counts})\n`);
        if (r.badLines.length > 0) env.io.out(`${r.badLines.length} bad line(s) left out\n`);
        if (!r.roundKnown) env.io.err(`note: this project has no round ${opts.round} (rounds/${opts.round}/manifest.json is missing); check --round\n`);
      });
    });
}
