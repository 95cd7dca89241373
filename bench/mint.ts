/**
 * Signed, Auth0-shaped responses for the bench, minted beforehand (5 ms or so each) in forked
 * processes so that minting never runs during a measurement. Each has its own assertion ID; users
 * cycle through {@link USERS} distinct NameIDs. Returned as ready-to-post form bodies.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { IdpKey } from '../test/support/idp.js';

/** Distinct users the valid logins cycle through. */
export const USERS = 200;

export interface MintJob {
  acsUrl: string;
  audience: string;
  key: IdpKey;
  /** Index of the first response (picks the user). */
  first: number;
  count: number;
}

/** A form body as a browser posts it to the ACS. */
export function formBody(samlResponseBase64: string): string {
  return new URLSearchParams({ SAMLResponse: samlResponseBase64, RelayState: '/' }).toString();
}

/** Mints `count` valid responses in `processes` forked children. */
export async function mintValid(
  job: Omit<MintJob, 'count' | 'first'> & { first?: number },
  count: number,
  processes: number,
): Promise<string[]> {
  if (count <= 0) return [];
  const first = job.first ?? 0;
  const per = Math.ceil(count / processes);
  const parts = await Promise.all(
    Array.from({ length: processes }, (_, p) => {
      const n = Math.max(0, Math.min(per, count - p * per));
      if (n === 0) return Promise.resolve([] as string[]);
      const child = fork(fileURLToPath(new URL('./mint-worker.ts', import.meta.url)), [], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const message: MintJob = { ...job, first: first + p * per, count: n };
      return new Promise<string[]>((resolve, reject) => {
        child.once('message', (bodies) => {
          resolve(bodies as string[]);
          child.disconnect();
        });
        child.once('error', reject);
        child.once('exit', (code) => {
          if (code !== 0) reject(new Error(`minting process exited with ${code}`));
        });
        child.send(message);
      });
    }),
  );
  return parts.flat();
}
