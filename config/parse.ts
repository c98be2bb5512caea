import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';
import { ConfigError } from './error.js';

export { ConfigError };

/** `projects[0].strategy.topK` from zod's path array. */
export function formatPath(p: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const seg of p) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out.length === 0 ? String(seg) : `.${String(seg)}`;
  }
  return out.length > 0 ? out : '(root)';
}

export function formatIssues(issues: ReadonlyArray<z.core.$ZodIssue>, source: string): string {
  const lines = issues.map((i) => `  ${formatPath(i.path)}: ${i.message}`);
  return `invalid config ${source}:\n${lines.join('\n')}`;
}

/** Validates an already-parsed object. Throws ConfigError (CONFIG_INVALID) naming every bad path. */
export function parseConfig(raw: unknown, source = '(inline)'): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues, source));
  return result.data;
}
