/**
 * Invariants every campaign checks on a project store: what a reader may rely
 * on at any instant (even right after a SIGKILL or mid-outage), and what a
 * completed loop must hold (every answer once, queues without duplicates).
 */
import type { LatestPointer, RoundManifest, SnapshotManifest } from '../../../domain/records.js';
import { LATEST, listSnapshots, versionDir } from '../../../worker/snapshot/snapshot.js';
import type { ObjectStore } from '../../../worker/store/store.js';
import { readJson } from '../../../worker/store/write-once.js';
import { bump, check, jsonl, sha, type Figures } from './common.js';

/**
 * No temp file is listed, a round with a manifest has all its files, every
 * committed snapshot is complete, and LATEST names one of them (it may lag the
 * newest by one: a merge commits the manifest, then moves the pointer).
 * Returns the listed names.
 */
export async function checkCommitted(fig: Figures, store: ObjectStore): Promise<Set<string>> {
  const names = new Set<string>();
  for await (const o of store.list('')) names.add(o.name);
  const odd = [...names].filter((n) => n.includes('.reviewloop-tmp') || /\.(tmp|lock)$|\.stale-/.test(n));
  check(fig, 'no temp file listed', odd.length === 0, () => odd.join(', '));
  for (const n of [...names].filter((x) => /^rounds\/[^/]+\/manifest\.json$/.test(x))) {
    const m = (await readJson<RoundManifest>(store, n))!;
    const missing = [...m.files.queue, m.files.rejects, ...(m.files.items ? [m.files.items] : [])].filter((f) => !names.has(f));
    check(fig, 'a committed round has all its files', missing.length === 0, () => `${n}: missing ${missing.join(', ')}`);
  }
  const snaps = await listSnapshots(store);
  for (const s of snaps) await checkSnapshotComplete(fig, store, s);
  const latest = await readJson<LatestPointer>(store, LATEST);
  const head = snaps.length > 0 ? snaps[snaps.length - 1].version : 0;
  if (latest) {
    const target = snaps.find((s) => s.version === latest.version);
    check(
      fig,
      'LATEST points at a committed snapshot',
      target !== undefined && target.sha256 === latest.sha256 && latest.path === `${versionDir(latest.version)}/` && latest.version >= head - 1,
      () => `${JSON.stringify(latest)} (newest committed v${head})`,
    );
  } else {
    check(fig, 'LATEST points at a committed snapshot', head <= 1, () => `no LATEST with ${snaps.length} snapshots`);
  }
  return names;
}

export async function checkSnapshotComplete(fig: Figures, store: ObjectStore, s: SnapshotManifest): Promise<void> {
  const dir = versionDir(s.version);
  for (const [f, meta] of Object.entries(s.files)) {
    const body = await store.read(`${dir}/${f}`).catch(() => null);
    check(fig, 'snapshot files match their manifest sha256', body !== null && sha(body) === meta.sha256 && body.length === meta.bytes, () => `${dir}/${f}`);
  }
}

/** Every export line is new in exactly one snapshot version, and every snapshot carries its parent's answers. */
export async function checkExportLines(fig: Figures, store: ObjectStore, exported: Map<string, string>): Promise<void> {
  const want = new Set<string>();
  for (const [name, text] of exported)
    text
      .split('\n')
      .filter(Boolean)
      .forEach((_, i) => want.add(`${name}#L${i + 1}`));
  const firstSeen = new Map<string, number[]>();
  let prev = new Set<string>();
  for (const s of await listSnapshots(store)) {
    const rows = jsonl(await store.read(`${versionDir(s.version)}/data.jsonl`)).map((l) => l.reviewloop as { answers: Array<{ source: string }> });
    const sources = rows.flatMap((r) => r.answers.map((a) => a.source));
    const cur = new Set(sources);
    check(fig, 'no answer twice within a snapshot', cur.size === sources.length, () => `v${s.version}: ${sources.length - cur.size} duplicate answer(s)`);
    check(
      fig,
      'a snapshot keeps every answer of its parent',
      [...prev].every((x) => cur.has(x)),
      () => `v${s.version} dropped answers`,
    );
    for (const src of cur) if (!prev.has(src)) firstSeen.set(src, [...(firstSeen.get(src) ?? []), s.version]);
    prev = cur;
  }
  const missing = [...want].filter((w) => !firstSeen.has(w));
  const extra = [...firstSeen.keys()].filter((k) => !want.has(k));
  check(
    fig,
    'every export line is in exactly one snapshot',
    missing.length === 0 && extra.length === 0 && [...firstSeen.values()].every((v) => v.length === 1),
    () => `${missing.length} missing (${missing.slice(0, 3).join(', ')}), ${extra.length} unexpected`,
  );
  bump(fig.tried, 'exportLinesChecked', want.size);
}

/** Queue files hold each item once, and exactly the manifest's count. */
export async function checkQueues(fig: Figures, store: ObjectStore, roundId: string): Promise<void> {
  const m = await readJson<RoundManifest>(store, `rounds/${roundId}/manifest.json`);
  if (!check(fig, 'the round is committed', m !== null, () => `${roundId} has no manifest`)) return;
  const ids = jsonl(await store.read(m!.files.queue[0])).map((t) => t.meta.id as string);
  check(
    fig,
    'queue items neither duplicated nor missing',
    new Set(ids).size === ids.length && ids.length === m!.counts.queued,
    () => `${roundId}: ${ids.length} lines, ${new Set(ids).size} ids, manifest says ${m!.counts.queued}`,
  );
}
