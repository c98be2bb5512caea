/**
 * The `segmentation.colors` map (label → "#rrggbb") as a lookup from a packed
 * 24-bit colour to a class index: 0 = background (black), 1 + the label's
 * position in `labels` otherwise, the same numbering the snapshot masks use.
 */
import { fail, ok, type SegResult } from '../result.js';

export type ColorTable = Map<number, number>;

const HEX = /^#([0-9a-fA-F]{6})$/;

/** "#ff0000" → 0xff0000, or null when the string is not a 6-digit hex colour. */
export function parseHexColor(s: string): number | null {
  const m = HEX.exec(s);
  return m ? Number.parseInt(m[1], 16) : null;
}

export function hexColor(rgb: number): string {
  return `#${rgb.toString(16).padStart(6, '0')}`;
}

/**
 * Builds the lookup. Every label must have a colour (a pixel of a label with
 * no colour could not be read back), colours must be distinct and not black
 * (black is background), and no colour may name a label outside `labels`.
 */
export function buildColorTable(colors: Record<string, string>, labels: readonly string[]): SegResult<ColorTable> {
  const table: ColorTable = new Map([[0, 0]]);
  const position = new Map(labels.map((l, i) => [l, i]));
  for (const [label, hex] of Object.entries(colors)) {
    const field = `segmentation.colors.${label}`;
    if (!position.has(label)) return fail(field, `label ${JSON.stringify(label)} is not in labels`);
    const rgb = parseHexColor(hex);
    if (rgb === null) return fail(field, `${JSON.stringify(hex)} is not a colour like "#ff0000"`);
    if (rgb === 0) return fail(field, '"#000000" is background; give the label another colour');
    const taken = table.get(rgb);
    if (taken !== undefined) return fail(field, `${hex} is already the colour of ${JSON.stringify(labels[taken - 1])}`);
    table.set(rgb, 1 + (position.get(label) as number));
  }
  for (const label of labels) {
    if (!(label in colors)) return fail(`segmentation.colors.${label}`, `label ${JSON.stringify(label)} has no colour`);
  }
  return ok(table);
}
