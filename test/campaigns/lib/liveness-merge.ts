/**
 * What the liveness campaign checks after each merge: every good answer (this
 * iteration's and all earlier ones) is in the latest snapshot; every poison
 * line is a reject with object, line, field and reason; every unreadable
 * export is quarantined and listed; nothing poison is an answer or a label.
 */
import { INTENT_LABELS } from '../../../worker/demo/data.js';
import type { SnapshotManifest, SnapshotRow } from '../../../domain/records.js';
import { listSnapshots, readLatest, readSnapshotRows, versionDir } from '../../../worker/snapshot/snapshot.js';
import type { ObjectStore } from '../../../worker/store/store.js';
import { bump, check, jsonl, type Figures } from './common.js';
import type { StagedExport } from './liveness-inputs.js';
import type { Expectations } from './liveness.js';

const sameList = (a: readonly string[] | null, b: readonly string[]) => (a ?? []).length === b.length && (a ?? []).every((x, i) => x === b[i]);

/** Checks one merge's snapshot against this iteration's exports and every good answer so far. */
export async function checkMerge(fig: Figures, store: ObjectStore, exports: StagedExport[], expect: Expectations, it: number): Promise<void> {
  const latest = await readLatest(store);
  const snaps = await listSnapshots(store);
  if (
    !check(
      fig,
      'each merge commits a snapshot',
      latest !== null && snaps.length === it + 1 && latest.pointer.version === it + 1,
      () => `iteration ${it}: LATEST ${JSON.stringify(latest?.pointer)}, ${snaps.length} snapshot(s)`,
    )
  )
    return;
  const head = snaps[snaps.length - 1];
  const rows = new Map((await readSnapshotRows(store, head.version)).map((r) => [r.id, r]));
  const rejects = head.files['rejects.jsonl'] ? jsonl(await store.read(`${versionDir(head.version)}/rejects.jsonl`)) : [];
  const sources = new Set([...rows.values()].flatMap((r) => r.answers.map((a) => a.source)));
  for (const e of exports) {
    if (e.kind !== 'good') bump(fig.tried, e.kind === 'newGeneration' ? 'rewritten.export' : `poisonExport.${e.kind}`);
    if (e.mustQuarantine) {
      checkQuarantined(fig, head, rejects, sources, e);
      continue;
    }
    for (const l of e.lines) {
      const src = `${e.name}#L${l.line}`;
      if (l.poison === null) {
        expect.goodAnswers.set(l.id, [...(expect.goodAnswers.get(l.id) ?? []), { ...l, file: e.name, mistyped: e.kind === 'mistypedRoundFolder' }]);
        continue;
      }
      bump(fig.tried, `poisonLine.${l.poison}`);
      const r = rejects.find((x) => x.object === e.name && x.line === l.line);
      check(
        fig,
        'every poison line is a snapshot reject with object, line, field and reason',
        r !== undefined && typeof r.field === 'string' && r.field.length > 0 && typeof r.reason === 'string' && r.reason.length > 0,
        () => `v${head.version}: ${src} (${l.poison}) ${r ? `listed as ${JSON.stringify(r)}` : 'not in rejects.jsonl'}`,
      );
      check(fig, 'no poison line is an answer', !sources.has(src), () => `v${head.version}: ${src} (${l.poison}) merged as an answer`);
    }
  }
  checkGoodAnswers(fig, head.version, rows, expect, exports);
  const badLabels = [...rows.values()].filter((r) => [r.label, ...r.labels].some((x) => x !== null && !(INTENT_LABELS as readonly string[]).includes(x)));
  check(
    fig,
    'nothing poison is labelled',
    badLabels.length === 0,
    () =>
      `v${head.version}: ${badLabels
        .slice(0, 3)
        .map((r) => `${r.id}=${r.label}`)
        .join(', ')}`,
  );
}

function checkQuarantined(fig: Figures, head: SnapshotManifest, rejects: Array<Record<string, any>>, sources: Set<string>, e: StagedExport): void {
  const listed = (head.quarantined ?? []).some((q) => q.name === e.name && typeof q.reason === 'string');
  const line = rejects.some((r) => r.object === e.name && r.field === '(object)' && typeof r.reason === 'string');
  check(
    fig,
    'an unreadable export is quarantined in the snapshot manifest and rejects.jsonl',
    listed && line,
    () => `v${head.version}: ${e.name} (${e.kind}): manifest ${listed ? 'lists' : 'does not list'} it, rejects ${line ? 'list' : 'do not list'} it`,
  );
  const leaked = [...sources].filter((s) => s.startsWith(`${e.name}#`));
  check(fig, 'no line of a quarantined export is an answer', leaked.length === 0, () => `v${head.version}: ${leaked.slice(0, 3).join(', ')}`);
}

/**
 * Every good answer so far is in the latest snapshot, on its item, as given.
 * Items whose good answers agree are resolved as they say: all `ignore` →
 * ignored; one label accepted by all → labelled with it (the other cases are
 * merge.conflict's business, checked elsewhere).
 */
function checkGoodAnswers(fig: Figures, version: number, rows: Map<string, SnapshotRow>, expect: Expectations, exports: StagedExport[]): void {
  let missing = 0;
  let stranded = 0;
  let wrongStatus = 0;
  const samples: string[] = [];
  const strandedSamples: string[] = [];
  for (const [id, answers] of expect.goodAnswers) {
    const row = rows.get(id);
    for (const a of answers) {
      const got = row?.answers.find((x) => x.source === `${a.file}#L${a.line}`);
      if (got && got.answer === a.answer && sameList(got.accept, a.accept)) continue;
      const what = `${a.file}#L${a.line} (${id}): ${row ? (got ? `answer ${got.answer} ${JSON.stringify(got.accept)}` : 'answer missing') : 'item missing'}`;
      // An operator's slip, not bad data: its answers land like any others (a full listing finds every folder).
      if (a.mistyped) {
        stranded++;
        if (strandedSamples.length < 3) strandedSamples.push(what);
        continue;
      }
      missing++;
      if (samples.length < 3) samples.push(what);
    }
    if (!row) continue;
    // Resolution is judged on the answers the snapshot holds, so a missing one is reported once, above.
    const held = new Set(row.answers.map((x) => x.source));
    const landed = answers.filter((a) => held.has(`${a.file}#L${a.line}`));
    if (landed.length === 0) continue;
    const ignored = landed.every((a) => a.answer === 'ignore');
    const labels = new Set(landed.filter((a) => a.answer === 'accept').map((a) => a.accept.join(',')));
    const agreed = landed.every((a) => a.answer === 'accept' && a.accept.length === 1) && labels.size === 1 ? [...labels][0] : null;
    const ok = ignored ? row.status === 'ignored' : agreed !== null ? row.status === 'labelled' && row.label === agreed : true;
    if (!ok) {
      wrongStatus++;
      if (samples.length < 6) samples.push(`${id}: status ${row.status} label ${row.label}, answers ${landed.map((a) => `${a.answer}:${a.accept}`).join(' ')}`);
    }
  }
  check(
    fig,
    'every good answer so far is in the latest snapshot, as given',
    missing === 0,
    () => `v${version}: ${missing} missing or changed: ${samples.join('; ')}`,
  );
  const typo = exports.filter((e) => e.kind === 'mistypedRoundFolder').map((e) => e.name);
  check(
    fig,
    'an export in a mistyped round folder lands in the next merge',
    stranded === 0,
    () =>
      `v${version}: ${stranded} answer(s) of exports in mistyped round folders not merged (this merge's: ${typo.join(', ') || 'none'}): ${strandedSamples.join('; ')}`,
  );
  check(fig, 'agreeing answers resolve as they say (ignored / labelled)', wrongStatus === 0, () => `v${version}: ${wrongStatus}: ${samples.join('; ')}`);
  bump(
    fig.tried,
    'goodAnswersChecked',
    [...expect.goodAnswers.values()].reduce((n, a) => n + a.length, 0),
  );
}

/** What `status --json` says of one project: the fields the campaign relies on. */
interface StatusJson {
  projects: Array<{ quarantined: Array<{ object: string; code: string }>; quarantinedExports: Array<{ name: string }>; pendingExports: string[] }>;
}

/** `status` lists every quarantined object and export so far, and after a merge no export is pending (mistyped folders included). */
export function checkStatus(fig: Figures, store: ObjectStore, status: StatusJson, expect: Expectations, roundId: string): void {
  const p = status.projects[0];
  const objects = new Set(p.quarantined.map((q) => q.object));
  const lost = expect.objects.filter((o) => o.mustQuarantine && !objects.has(store.uri(o.name))).map((o) => o.name);
  check(fig, 'status lists every quarantined prediction object', lost.length === 0, () => `after ${roundId}: missing ${lost.slice(0, 3).join(', ')}`);
  const exportsListed = new Set(p.quarantinedExports.map((q) => q.name));
  const unlisted = expect.exports.filter((e) => e.mustQuarantine && !exportsListed.has(e.name)).map((e) => e.name);
  check(fig, 'status lists every quarantined export', unlisted.length === 0, () => `after ${roundId}: missing ${unlisted.slice(0, 3).join(', ')}`);
  const pending = p.pendingExports;
  check(
    fig,
    'no export is left pending after a merge',
    pending.length === 0,
    () => `after ${roundId}: ${pending.length} pending: ${pending.slice(0, 3).join(', ')}`,
  );
}
