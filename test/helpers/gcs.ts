import { randomBytes } from 'node:crypto';
import { Storage } from '@google-cloud/storage';
import { gcsEndpoint } from './emulators.js';

/** A client for the emulator, configured the way GcsStore configures its own: custom endpoint, no auth, no client retries. */
export function emulatorStorage(apiEndpoint = gcsEndpoint()): Storage {
  return new Storage({
    apiEndpoint,
    projectId: 'reviewloop-test',
    retryOptions: { autoRetry: false, maxRetries: 0 },
    credentials: { client_email: 'emulator@reviewloop.invalid', private_key: 'unused' },
  });
}

export interface TestBucket {
  name: string;
  storage: Storage;
  /** Deletes every object, then the bucket. */
  cleanup(): Promise<void>;
}

/** Creates a uniquely named bucket on the emulator; call `cleanup` in afterEach/afterAll. */
export async function makeTestBucket(label = 'rl'): Promise<TestBucket> {
  const storage = emulatorStorage();
  const name = `${label
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 30)}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  await storage.createBucket(name);
  return {
    name,
    storage,
    async cleanup() {
      const bucket = storage.bucket(name);
      const [files] = await bucket.getFiles();
      await Promise.all(files.map((f) => f.delete({ ignoreNotFound: true })));
      await bucket.delete({ ignoreNotFound: true });
    },
  };
}
