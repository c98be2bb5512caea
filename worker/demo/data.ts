/**
 * Bundled sample data for `reviewloop demo`: seeded, so every machine gets
 * the same predictions, gold labels and therefore the same demo figures.
 * Texts come from small templates; the "model" is gold plus calibrated noise.
 */
import { mulberry32 } from '../../domain/quality/intervals.js';
import { tokenize } from '../../domain/prodigy/tokenize.js';

/** mulberry32: tiny, seedable, good enough for sample data (the one the stats' bootstrap uses). */
export const rng = mulberry32;

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];

export const INTENT_LABELS = ['billing', 'shipping', 'returns', 'account', 'technical', 'other'] as const;

const INTENT_TEMPLATES: Record<(typeof INTENT_LABELS)[number], string[]> = {
  billing: [
    'I was charged twice for order {n}',
    'Why is there a {amt} fee on my invoice?',
    'My card was declined but the payment went through',
    'Can I get a copy of the invoice for {month}?',
    'The refund of {amt} never reached my card',
  ],
  shipping: [
    'My parcel {n} has not arrived yet',
    'Tracking for {n} has not moved since {month}',
    'Can you ship to {city}?',
    'The courier left my package at the wrong door',
    'How long does express delivery to {city} take?',
  ],
  returns: [
    'How do I return the shoes from order {n}?',
    'The jacket is too small, I want to exchange it',
    'I sent the item back in {month}, where is my refund?',
    'Is the return label free?',
    'The blender arrived broken, I want to send it back',
  ],
  account: [
    'I cannot log in to my account',
    'Please change the email on my account',
    'How do I delete my account?',
    'I never got the password reset mail',
    'Someone else is using my account from {city}',
  ],
  technical: [
    'The app crashes when I open the cart',
    'The website shows error 500 at checkout',
    'Push notifications stopped working after the update',
    'The barcode scanner in the app does not start',
    'Pages load very slowly since {month}',
  ],
  other: [
    'Do you have a shop in {city}?',
    'Great service, thank you!',
    'Are you hiring in {city}?',
    'What are your opening hours around {month}?',
    'Can I buy a gift card?',
  ],
};

const CITIES = ['Berlin', 'Lyon', 'Porto', 'Leeds', 'Utrecht', 'Gdansk', 'Bologna', 'Aarhus'];
const MONTHS = ['January', 'March', 'May', 'July', 'September', 'October', 'November'];

function fill(r: () => number, t: string): string {
  return t
    .replace('{n}', String(100000 + Math.floor(r() * 900000)))
    .replace('{amt}', `€${(5 + Math.floor(r() * 200)).toString()}.${String(Math.floor(r() * 100)).padStart(2, '0')}`)
    .replace('{city}', pick(r, CITIES))
    .replace('{month}', pick(r, MONTHS));
}

function softmax(logits: number[]): number[] {
  const m = Math.max(...logits);
  const e = logits.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  // Rounded to 6 decimals, then the last entry absorbs rounding so the sum is exactly 1 within 1e-6.
  const p = e.map((x) => Math.round((x / s) * 1e6) / 1e6);
  const drift = 1 - p.reduce((a, b) => a + b, 0);
  const iMax = p.indexOf(Math.max(...p));
  p[iMax] = Math.round((p[iMax] + drift) * 1e6) / 1e6;
  return p;
}

export interface GoldRecord {
  id: string;
  gold: string;
  record: Record<string, unknown>;
}
export interface GoldSpans {
  id: string;
  gold: Array<{ start: number; end: number; label: string }>;
  record: Record<string, unknown>;
}

/**
 * Support-ticket intents with model probabilities. `labelShift` moves mass
 * towards `technical` (drift in round 2); `sharpness` lowers or raises model confidence.
 */
export function intentBatch(opts: { seed: number; n: number; model: string; idPrefix: string; labelShift: number; sharpness: number }): GoldRecord[] {
  const r = rng(opts.seed);
  const out: GoldRecord[] = [];
  for (let i = 0; i < opts.n; i++) {
    const gold = r() < opts.labelShift ? 'technical' : pick(r, INTENT_LABELS);
    const text = fill(r, pick(r, INTENT_TEMPLATES[gold]));
    // A confusable neighbour gets some mass; sometimes the model is simply wrong.
    const wrong = r() < 0.12;
    const neighbour = pick(
      r,
      INTENT_LABELS.filter((l) => l !== gold),
    );
    const logits = INTENT_LABELS.map((l) => {
      let x = r() * 0.8;
      if (l === gold) x += wrong ? 0.6 : opts.sharpness * (0.6 + r());
      if (l === neighbour) x += wrong ? opts.sharpness * (0.7 + r()) : r() * opts.sharpness * 0.9;
      return x;
    });
    const p = softmax(logits);
    const probs: Record<string, number> = {};
    INTENT_LABELS.forEach((l, j) => {
      probs[l] = p[j];
    });
    const id = `${opts.idPrefix}-${String(i).padStart(5, '0')}`;
    out.push({ id, gold, record: { id, text, probs, model: opts.model, meta: { channel: pick(r, ['email', 'chat', 'web']) } } });
  }
  return out;
}

export const ENTITY_LABELS = ['ORG', 'PERSON', 'DATE', 'MONEY'] as const;

const ORGS = ['Acme Logistics', 'Nordwind GmbH', 'Blue Harbor Ltd', 'Kestrel Foods', 'Orion Data SA'];
const PEOPLE = ['Maria Schulz', 'Tom Baker', 'Ana Ribeiro', 'Jan de Vries', 'Lena Kowalska'];
const DATES = ['1 March 2026', '15 July 2025', '30 June 2027', '2 January 2026'];
const MONEY = ['EUR 12,000', 'USD 450', 'GBP 3.2 million', 'EUR 75'];

const CONTRACT_TEMPLATES = [
  'This agreement between {ORG} and {ORG} starts on {DATE}.',
  '{PERSON} signs on behalf of {ORG} for a fee of {MONEY}.',
  'Payment of {MONEY} is due to {ORG} by {DATE}.',
  'The contract with {PERSON} ends on {DATE} unless renewed.',
  '{ORG} owes {PERSON} {MONEY} under clause 4.',
];

/** Contract sentences with gold entity spans and model spans that sometimes miss or mislabel. */
export function contractBatch(opts: { seed: number; n: number; model: string; idPrefix: string }): GoldSpans[] {
  const r = rng(opts.seed);
  const out: GoldSpans[] = [];
  const values: Record<string, readonly string[]> = { ORG: ORGS, PERSON: PEOPLE, DATE: DATES, MONEY };
  for (let i = 0; i < opts.n; i++) {
    let text = '';
    const gold: Array<{ start: number; end: number; label: string }> = [];
    const template = pick(r, CONTRACT_TEMPLATES);
    const parts = template.split(/(\{[A-Z]+\})/);
    for (const part of parts) {
      const m = /^\{([A-Z]+)\}$/.exec(part);
      if (m) {
        const v = pick(r, values[m[1]]);
        gold.push({ start: text.length, end: text.length + v.length, label: m[1] });
        text += v;
      } else {
        text += part;
      }
    }
    const spans = gold.flatMap((g) => {
      const roll = r();
      if (roll < 0.06) return []; // missed entity
      const label =
        roll < 0.12
          ? pick(
              r,
              ENTITY_LABELS.filter((l) => l !== g.label),
            )
          : g.label;
      const score = label === g.label ? 0.55 + r() * 0.45 : 0.3 + r() * 0.4;
      return [{ ...g, label, score: Math.round(score * 1e4) / 1e4 }];
    });
    const id = `${opts.idPrefix}-${String(i).padStart(5, '0')}`;
    out.push({ id, gold, record: { id, text, spans, tokens: tokenize(text, gold), model: opts.model } });
  }
  return out;
}
