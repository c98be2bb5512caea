/** The options a round takes from one opened config: what the CLI, the daemon and the demo share. */
import type { ProjectConfig } from '../../config/schema.js';
import type { Logger } from '../core/log.js';
import type { RoundOptions } from '../round/types.js';
import type { AppContext } from './app.js';

export async function roundOptionsFor(app: AppContext, project: ProjectConfig, roundId: string, logger: Logger): Promise<RoundOptions> {
  return {
    project,
    store: app.projectStore(project),
    pool: app.pool(),
    sink: await app.sink(),
    roundId,
    chunkBytes: app.config.worker.chunkBytes,
    logger,
    media: app.media,
    mediaSigner: app.mediaSigner,
  };
}
