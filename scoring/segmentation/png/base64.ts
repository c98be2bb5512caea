/**
 * Strict base64 → bytes. `Buffer.from(s, 'base64')` silently skips characters
 * outside the alphabet, so a truncated or mangled mask would decode to garbage
 * bytes and fail later with a misleading "corrupt PNG"; checking the alphabet
 * and padding first names the real fault.
 */
import { Buffer } from 'node:buffer';
import { fail, ok, type SegResult } from '../result.js';

// Standard and URL-safe alphabets, optional padding; no whitespace inside.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;
const BASE64URL = /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?$/;

export function decodeBase64(value: unknown, field: string): SegResult<Uint8Array> {
  if (typeof value !== 'string') return fail(field, `expected a base64 string, got ${value === null ? 'null' : typeof value}`);
  // Line breaks every 76 characters (MIME style) are common in exported JSON; they carry no data.
  const s = value.includes('\n') || value.includes('\r') ? value.replace(/\r?\n/g, '') : value;
  if (s.length === 0) return fail(field, 'is an empty string, not a base64 PNG');
  if (!BASE64.test(s) && !BASE64URL.test(s)) {
    const bad = /[^A-Za-z0-9+/=_-]/.exec(s);
    const why = bad ? `character ${JSON.stringify(bad[0])} at offset ${bad.index} is not base64` : 'bad base64 length or padding';
    return fail(field, `not base64: ${why}`);
  }
  const buf = Buffer.from(s, BASE64.test(s) ? 'base64' : 'base64url');
  return ok(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
}
