/**
 * A config that fails its schema. It has the shape of every reviewloop error
 * (`code`, `retryable`, `details`) without importing the worker's error table:
 * config/ sits below everything else and imports only scoring/. It lives apart
 * from the schema so that domain/errors.ts, which every command loads, does not
 * pull zod into commands that read no config (`score`).
 */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID' as const;
  readonly retryable = false;
  readonly details: Record<string, unknown> = {};

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigError';
  }
}
