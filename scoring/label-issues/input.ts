/**
 * Validation of one labelled item for confident learning: its given label and
 * its out-of-sample probability vector over the configured classes.
 *
 * A bad item is a typed reject (`code`, `field`, `reason`), never an
 * exception: the caller quarantines it with its object and line and goes on.
 * Probabilities are copied into the configured class order, so a record whose
 * `probs` object lists the same classes in another key order scores
 * identically.
 */

export type LabelIssueRejectCode =
  | 'LABEL_MISSING'
  | 'LABEL_NOT_IN_SET'
  | 'PROBS_MISSING'
  | 'PROBS_WIDTH'
  | 'PROBS_LABEL_SET'
  | 'PROBS_NOT_FINITE'
  | 'PROBS_OUT_OF_RANGE'
  | 'PROBS_SUM';

export interface LabelIssueReject {
  ok: false;
  code: LabelIssueRejectCode;
  field: string;
  reason: string;
}
/** A valid item: its label as an index into `classes`, its probabilities in `classes` order. */
export interface LabelIssueItem {
  ok: true;
  label: number;
  p: Float64Array;
}

export interface ItemCheckOptions {
  /** The project's labels, in the order every vector is read in. */
  classes: readonly string[];
  /** Largest accepted |Σp − 1|; probabilities of a single-label model sum to 1. */
  sumTolerance: number;
}

function reject(code: LabelIssueRejectCode, field: string, reason: string): LabelIssueReject {
  return { ok: false, code, field, reason };
}

/** Index of each class name, built once per project and reused for every item. */
export function classIndex(classes: readonly string[]): ReadonlyMap<string, number> {
  return new Map(classes.map((c, i) => [c, i]));
}

/**
 * Checks one item. `probs` is either a vector already in `classes` order or a
 * label → probability object (the prediction record's `probs`), which must
 * name exactly the configured classes: probabilities for another label set
 * would silently mean something else.
 */
export function checkItem(
  label: unknown,
  probs: unknown,
  opts: ItemCheckOptions,
  index: ReadonlyMap<string, number> = classIndex(opts.classes),
): LabelIssueItem | LabelIssueReject {
  const k = opts.classes.length;
  if (label === undefined || label === null) return reject('LABEL_MISSING', 'label', 'the item has no label');
  if (typeof label !== 'string') return reject('LABEL_NOT_IN_SET', 'label', `label must be a string, got ${typeof label}`);
  const li = index.get(label);
  if (li === undefined) return reject('LABEL_NOT_IN_SET', 'label', `label ${JSON.stringify(label)} is not one of the project's labels`);
  if (probs === undefined || probs === null) return reject('PROBS_MISSING', 'probs', 'the item has no predicted probabilities');
  const p = new Float64Array(k);
  if (Array.isArray(probs) || ArrayBuffer.isView(probs)) {
    const v = probs as ArrayLike<unknown>;
    if (v.length !== k) return reject('PROBS_WIDTH', 'probs', `expected ${k} probabilities (one per label), got ${v.length}`);
    for (let i = 0; i < k; i++) {
      const bad = readProb(v[i], `probs[${i}]`);
      if (bad !== null) return bad;
      p[i] = v[i] as number;
    }
  } else if (typeof probs === 'object') {
    const entries = Object.entries(probs as Record<string, unknown>);
    for (const [name, value] of entries) {
      const i = index.get(name);
      if (i === undefined)
        return reject('PROBS_LABEL_SET', `probs.${name}`, `probability for ${JSON.stringify(name)}, which is not one of the project's labels`);
      const bad = readProb(value, `probs.${name}`);
      if (bad !== null) return bad;
      p[i] = value as number;
    }
    if (entries.length !== k) {
      const missing = opts.classes.filter((c) => !Object.hasOwn(probs, c));
      return reject('PROBS_LABEL_SET', 'probs', `no probability for ${missing.map((m) => JSON.stringify(m)).join(', ')}`);
    }
  } else {
    return reject('PROBS_MISSING', 'probs', `probs must be an array or an object, got ${typeof probs}`);
  }
  let sum = 0;
  for (let i = 0; i < k; i++) sum += p[i];
  if (!(Math.abs(sum - 1) <= opts.sumTolerance)) {
    return reject('PROBS_SUM', 'probs', `probabilities sum to ${sum.toPrecision(6)}, not 1 (tolerance ${opts.sumTolerance})`);
  }
  return { ok: true, label: li, p };
}

function readProb(x: unknown, field: string): LabelIssueReject | null {
  if (typeof x !== 'number' || !Number.isFinite(x)) return reject('PROBS_NOT_FINITE', field, `not a finite number: ${String(x)}`);
  if (x < 0 || x > 1) return reject('PROBS_OUT_OF_RANGE', field, `probability ${x} is outside [0, 1]`);
  return null;
}
