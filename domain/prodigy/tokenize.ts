import type { Span, Token } from '../../scoring/types.js';

/**
 * Prodigy's manual span views need tokens with character offsets, and spans
 * must start and end on token boundaries. Words and single punctuation marks
 * become tokens; span edges also split tokens, so pre-annotations always align.
 */
export function tokenize(text: string, spans: ReadonlyArray<Pick<Span, 'start' | 'end'>> = []): Token[] {
  const cuts = new Set<number>();
  for (const s of spans) {
    cuts.add(s.start);
    cuts.add(s.end);
  }
  const tokens: Token[] = [];
  const re = /[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu;
  let m: RegExpExecArray | null;
  const pieces: Array<[number, number]> = [];
  while ((m = re.exec(text)) !== null) {
    let start = m.index;
    const end = start + m[0].length;
    for (let i = start + 1; i < end; i++) {
      if (cuts.has(i)) {
        pieces.push([start, i]);
        start = i;
      }
    }
    pieces.push([start, end]);
  }
  pieces.forEach(([start, end], id) => {
    const next = pieces[id + 1];
    const ws = end < text.length && /\s/.test(text[end]) && (next === undefined || next[0] > end);
    tokens.push({ text: text.slice(start, end), start, end, id, ws });
  });
  return tokens;
}

/** Token index range (inclusive end) of a character span, or null when it does not align. */
export function tokenRange(tokens: ReadonlyArray<Token>, span: Pick<Span, 'start' | 'end'>): { token_start: number; token_end: number } | null {
  let first = -1;
  let last = -1;
  for (const t of tokens) {
    if (t.start === span.start) first = t.id;
    if (t.end === span.end) last = t.id;
  }
  return first === -1 || last === -1 || last < first ? null : { token_start: first, token_end: last };
}
