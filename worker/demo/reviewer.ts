/**
 * A simulated Prodigy reviewer for the demo: answers each queued task from
 * held gold labels (with a per-annotator error rate) and writes lines in the
 * real `prodigy db-out` format (answer, _view_id, _session_id, _annotator_id,
 * _timestamp). It is a stand-in for humans and says so in the demo output.
 */
import { rng } from './data.js';

export interface SimulatedAnnotator {
  name: string;
  /** Share of answers that pick a wrong label. */
  errorRate: number;
  /** Share of tasks skipped with `ignore`. */
  ignoreRate: number;
  /** Mean seconds between answers. */
  paceSeconds: number;
}

export interface ReviewOptions {
  dataset: string;
  annotator: SimulatedAnnotator;
  /** Unix seconds of the first answer (from the round slot, never "now"). */
  startAt: number;
  labels: readonly string[];
  seed: number;
}

type Task = Record<string, unknown> & { meta: { id: string } };

/**
 * The shared reviewer loop: paced timestamps, skips (ignore) at the annotator's
 * rate, and `answer` for the rest. The random draws happen in a fixed order,
 * so the same seed gives the same export.
 */
function simulate<G>(
  tasks: Task[],
  gold: Map<string, G>,
  opts: ReviewOptions,
  ignored: Record<string, unknown>,
  answer: (task: Task, g: G, r: () => number) => Record<string, unknown>,
): string {
  const r = rng(opts.seed);
  let t = opts.startAt;
  let out = '';
  for (const task of tasks) {
    t += Math.round(opts.annotator.paceSeconds * (0.4 + r() * 1.2));
    const g = gold.get(task.meta.id);
    const base = stamp(task, opts, t);
    const fields = g === undefined || r() < opts.annotator.ignoreRate ? { ...ignored, answer: 'ignore' } : { ...answer(task, g, r), answer: 'accept' };
    out += `${JSON.stringify({ ...base, ...fields })}\n`;
  }
  return out;
}

export function reviewChoice(tasks: Task[], gold: Map<string, string>, opts: ReviewOptions): string {
  return simulate(tasks, gold, opts, { accept: [] }, (_task, g, r) => ({
    accept: [r() < opts.annotator.errorRate ? opts.labels[Math.floor(r() * opts.labels.length)] : g],
  }));
}

export function reviewSpans(tasks: Task[], gold: Map<string, Array<{ start: number; end: number; label: string }>>, opts: ReviewOptions): string {
  return simulate(tasks, gold, opts, {}, (task, g, r) => {
    const tokens = task.tokens as Array<{ start: number; end: number; id: number }>;
    return {
      spans: g
        .filter(() => r() >= opts.annotator.errorRate)
        .map((s) => ({
          start: s.start,
          end: s.end,
          label: s.label,
          token_start: tokens.find((tk) => tk.start === s.start)?.id ?? 0,
          token_end: tokens.find((tk) => tk.end === s.end)?.id ?? 0,
        })),
    };
  });
}

/**
 * Segmentation: the reviewer redraws the gold regions as polygons (`gold` holds
 * them, traced from the gold mask); at the error rate they accept the model's
 * polygons as shown instead.
 */
export function reviewPolygons(tasks: Task[], gold: Map<string, Array<{ label: string; points: number[][] }>>, opts: ReviewOptions): string {
  return simulate(tasks, gold, opts, {}, (task, g, r) => ({
    spans: r() < opts.annotator.errorRate ? task.spans : g.map((s) => ({ label: s.label, type: 'polygon', points: s.points })),
  }));
}

function stamp(task: Task, opts: ReviewOptions, t: number): Record<string, unknown> {
  const view = Array.isArray(task.options)
    ? 'choice'
    : Array.isArray(task.tokens)
      ? 'ner_manual'
      : typeof task.image === 'string' && Array.isArray(task.spans)
        ? 'image_manual'
        : 'classification';
  return {
    ...task,
    _view_id: view,
    _session_id: `${opts.dataset}-${opts.annotator.name}`,
    _annotator_id: `${opts.dataset}-${opts.annotator.name}`,
    _timestamp: t,
  };
}
