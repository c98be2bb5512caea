import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../config/parse.js';
import type { Config } from '../../config/schema.js';
import { ReviewloopError } from '../../domain/errors.js';

/**
 * Reads YAML (or JSON) config. Relative `storage.root` and `stats.path` are
 * resolved against the config file's folder so a config works from any cwd.
 * `REVIEWLOOP_STORAGE_ROOT`, `REVIEWLOOP_STORAGE_API_ENDPOINT` override the file,
 * and so does `PORT` for `worker.httpPort`: Cloud Run sends requests to the
 * port it puts in `PORT`, so a server elsewhere would never see them.
 */
export async function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ReviewloopError('CONFIG_INVALID', `cannot read config ${file}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, maxAliasCount: 100 });
  } catch (err) {
    throw new ReviewloopError('CONFIG_INVALID', `invalid YAML in ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ReviewloopError('CONFIG_INVALID', `invalid config ${file}:\n  (root): expected a mapping with storage, stats and projects`);
  }
  const obj = raw as Record<string, any>;
  if (env.REVIEWLOOP_STORAGE_ROOT) obj.storage = { ...(obj.storage ?? {}), root: env.REVIEWLOOP_STORAGE_ROOT };
  if (env.REVIEWLOOP_STORAGE_API_ENDPOINT) obj.storage = { ...(obj.storage ?? {}), apiEndpoint: env.REVIEWLOOP_STORAGE_API_ENDPOINT };
  if (env.PORT !== undefined && env.PORT.trim() !== '') {
    const port = Number(env.PORT);
    if (!(Number.isInteger(port) && port >= 1 && port <= 65535))
      throw new ReviewloopError('CONFIG_INVALID', `PORT=${env.PORT} in the environment: expected a TCP port 1..65535 (it sets worker.httpPort)`);
    obj.worker = { ...(obj.worker ?? {}), httpPort: port };
  }
  const config = parseConfig(obj, file);
  return resolveRelative(config, path.dirname(path.resolve(file)));
}

export function resolveRelative(config: Config, baseDir: string): Config {
  const root = config.storage.root;
  const isLocal = !/^[a-z][a-z0-9+.-]*:\/\//i.test(root);
  const storage = { ...config.storage, root: isLocal ? path.resolve(baseDir, root) : root };
  const stats =
    config.stats.sink === 'duckdb' && config.stats.path !== undefined ? { ...config.stats, path: path.resolve(baseDir, config.stats.path) } : config.stats;
  return { ...config, storage, stats };
}
