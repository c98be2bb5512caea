/**
 * The Google clients take ~0.5 s and tens of MB each to load. Commands that
 * never touch them (a local `score`, `round` on a directory) should not pay
 * for them, so they are required on first use instead of imported at start.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function loadStorage(): typeof import('@google-cloud/storage') {
  return require('@google-cloud/storage') as typeof import('@google-cloud/storage');
}

export function loadBigQuery(): typeof import('@google-cloud/bigquery') {
  return require('@google-cloud/bigquery') as typeof import('@google-cloud/bigquery');
}

/** True for 127.0.0.1 / localhost / ::1 endpoints: the emulators, which get a dummy credential. */
export function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === '127.0.0.1' || host === 'localhost' || host === '[::1]' || host === '::1';
  } catch {
    return false;
  }
}

/** A static-token auth client for emulators: nothing probes ADC or a metadata server. */
export function dummyAuthClient(): import('google-auth-library').OAuth2Client {
  const { OAuth2Client } = require('google-auth-library') as typeof import('google-auth-library');
  const c = new OAuth2Client();
  c.setCredentials({ access_token: 'emulator', expiry_date: Date.now() + 10 * 365 * 24 * 3600 * 1000 });
  return c;
}
