/** Child process of bench/mint.ts: mints one batch of valid responses and sends the form bodies back. */
import { mintResponse } from '../test/support/idp.js';
import { USERS, formBody, type MintJob } from './mint.js';

process.once('message', (job: MintJob) => {
  const bodies: string[] = [];
  for (let i = job.first; i < job.first + job.count; i++) {
    bodies.push(
      formBody(
        mintResponse({
          acsUrl: job.acsUrl,
          audience: job.audience,
          key: job.key,
          nameId: `auth0|bench${i % USERS}`,
          email: `u${i % USERS}@bench.test`,
        }),
      ),
    );
  }
  process.send!(bodies);
});
