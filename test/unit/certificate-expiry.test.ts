// certificate.expiring for the host's onEvent: every IdP certificate within the window (or already
// expired) is reported, with whole days left, at start and then daily.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { startCertificateExpiryCheck } from '../../src/connections/certificate-expiry.js';
import type { SpEvent } from '../../src/events.js';
import type { Stores } from '../../src/storage/types.js';

const NOW = Date.parse('2026-05-01T00:00:00Z');
const cert = (fp: string, notAfter: string) => ({ fingerprintSha256: fp, notAfter });

describe('startCertificateExpiryCheck', () => {
  it('reports the certificates expiring within the window, with the account and days left', async () => {
    const stores = {
      connections: {
        list: () =>
          Promise.resolve([
            {
              id: 'c1',
              accountId: 'a1',
              certificates: [cert('soon', '2026-05-11T12:00:00Z'), cert('later', '2027-01-01T00:00:00Z')],
            },
            { id: 'c2', accountId: 'a2', certificates: [cert('expired', '2026-04-29T00:00:00Z')] },
            { id: 'c3', accountId: 'gone', certificates: [cert('orphan', '2026-05-02T00:00:00Z')] },
          ]),
      },
      accounts: {
        getById: (id: string) => Promise.resolve(id === 'gone' ? null : { id, slug: `acct-${id}` }),
      },
    } as unknown as Stores;
    const events: SpEvent[] = [];
    const check = startCertificateExpiryCheck({
      stores,
      emit: (e) => events.push(e),
      withinDays: 30,
      logger: pino({ level: 'silent' }),
      now: () => NOW,
    });
    check.stop();
    // The pass at start: the same two events.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(events).toHaveLength(2);
    events.length = 0;
    await check.runOnce();
    expect(events).toEqual([
      expect.objectContaining({
        type: 'certificate.expiring',
        account: 'acct-a1',
        connectionId: 'c1',
        fingerprintSha256: 'soon',
        daysLeft: 10,
      }),
      expect.objectContaining({
        type: 'certificate.expiring',
        account: 'acct-a2',
        fingerprintSha256: 'expired',
        daysLeft: -2,
      }),
    ]);
  });
});
