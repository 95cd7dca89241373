import type { Logger } from 'pino';
import type { EmitEvent } from '../events.js';
import type { Stores } from '../storage/types.js';

const DAY_MS = 24 * 3600 * 1000;

/**
 * Emits `certificate.expiring` for every IdP certificate of a SAML connection that expires within
 * `withinDays` (or has expired): once now and then once a day. The timer is unref'd (it never keeps the
 * process alive); `stop()` ends it. With several instances each one reports: the host deduplicates by
 * fingerprint if it needs to.
 */
export function startCertificateExpiryCheck(opts: {
  stores: Stores;
  emit: EmitEvent;
  withinDays: number;
  logger: Logger;
  now?: () => number;
}): { runOnce: () => Promise<void>; stop: () => void } {
  const now = opts.now ?? Date.now;
  const runOnce = async (): Promise<void> => {
    const t = now();
    for (const connection of await opts.stores.connections.list()) {
      const expiring = connection.certificates.filter(
        (c) => Date.parse(c.notAfter) - t <= opts.withinDays * DAY_MS,
      );
      if (expiring.length === 0) continue;
      const account = await opts.stores.accounts.getById(connection.accountId);
      if (!account) continue;
      for (const cert of expiring) {
        opts.emit({
          type: 'certificate.expiring',
          account: account.slug,
          connectionId: connection.id,
          fingerprintSha256: cert.fingerprintSha256,
          notAfter: cert.notAfter,
          daysLeft: Math.floor((Date.parse(cert.notAfter) - t) / DAY_MS),
          at: new Date(t).toISOString(),
        });
      }
    }
  };
  const run = () => {
    runOnce().catch((err: unknown) => opts.logger.warn({ err }, 'certificate expiry check failed'));
  };
  run();
  const timer = setInterval(run, DAY_MS);
  timer.unref();
  return { runOnce, stop: () => clearInterval(timer) };
}
