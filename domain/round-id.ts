import { CronExpressionParser } from 'cron-parser';
import { ReviewloopError } from './errors.js';

const SLOT_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})Z$/;
const MANUAL_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** `20261127T0200Z` for a slot time (minute precision, UTC). */
export function slotRoundId(slot: Date): string {
  const iso = slot.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}Z`;
}

/** Slot time of a slot-shaped round id, or null for a free-form manual id. */
export function slotTimeOf(roundId: string): Date | null {
  const m = SLOT_RE.exec(roundId);
  if (!m) return null;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]));
  return Number.isNaN(d.getTime()) ? null : d;
}

/**
 * The time a round's figures refer to: its slot for a slot-shaped id, else
 * the newest input object's update time (never "now", so reruns agree).
 */
export function roundEventTime(roundId: string, newestInputUpdated: string | null): string {
  return (slotTimeOf(roundId) ?? (newestInputUpdated ? new Date(newestInputUpdated) : new Date(0))).toISOString();
}

export function validateRoundId(roundId: string): string {
  if (!MANUAL_RE.test(roundId) || roundId.includes('..')) {
    throw new ReviewloopError(
      'CONFIG_INVALID',
      `invalid round id ${JSON.stringify(roundId)}: use letters, digits, ".", "_" and "-" (at most 64), e.g. 20261127T0200Z or relabel-3`,
    );
  }
  return roundId;
}

/** The latest slot of `cron` at or before `now`: what a manual run without --round belongs to. */
export function latestSlot(cron: string, timezone: string, now: Date): Date {
  try {
    const it = CronExpressionParser.parse(cron, { currentDate: new Date(now.getTime() + 1000), tz: timezone });
    return it.prev().toDate();
  } catch (err) {
    throw new ReviewloopError('CONFIG_INVALID', `invalid cron expression "${cron}": ${(err as Error).message}`, { cause: err });
  }
}
