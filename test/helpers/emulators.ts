/**
 * Endpoints of the emulators that `npm test` (scripts/test.mjs) starts. A
 * missing variable is a loud error, never a skip: a suite that silently skips
 * its real-service half would report green without testing anything.
 */
export interface EmulatorEnv {
  gcsEndpoint: string;
  bqEndpoint: string;
  bqProjectId: string;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set. Integration tests need the emulators: run them with \`npm test\` ` +
        '(it builds, starts fake-gcs-server and bigquery-emulator, and sets RL_GCS_ENDPOINT, RL_BQ_ENDPOINT, RL_BQ_PROJECT), ' +
        'or start them with `npm run emulators` and export the lines it prints.',
    );
  }
  const host = new URL(value.includes('://') ? value : `http://${value}`).hostname;
  if (name.endsWith('ENDPOINT') && host !== '127.0.0.1') throw new Error(`${name}=${value}: tests only talk to 127.0.0.1`);
  return value;
}

export function emulatorEnv(): EmulatorEnv {
  return { gcsEndpoint: required('RL_GCS_ENDPOINT'), bqEndpoint: required('RL_BQ_ENDPOINT'), bqProjectId: required('RL_BQ_PROJECT') };
}

export function gcsEndpoint(): string {
  return required('RL_GCS_ENDPOINT');
}
