import { isReviewloopError } from '../../domain/errors.js';

/** 'OK' when `p` resolves, else the ReviewloopError code it rejects with (`raw:…` for anything untyped, so it never passes as a code). */
export async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    return isReviewloopError(err) ? err.code : `raw:${String(err)}`;
  }
}
