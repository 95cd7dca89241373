/**
 * The scheduled refresh of IdP metadata imported from a URL: every connection with a metadata URL is
 * fetched again once per interval, so a certificate the IdP rotates in its metadata is picked up before
 * the old one stops working.
 *
 * Several instances may run this timer over one database. The timer ticks more often than the interval
 * (every five minutes at most) and each tick refreshes only the connections whose last attempt is older
 * than the interval (less half a tick); a connection is claimed with one conditional UPDATE before it
 * is fetched, so of instances ticking at once exactly one fetches it, and every write is conditional on
 * the URL still being the connection's (a re-import made meanwhile wins).
 */
import type { Logger } from 'pino';
import type { ConnectionService } from './service.js';

const MAX_TICK_MS = 5 * 60_000;

/** A running refresh timer. */
export interface MetadataRefresher {
  /** Runs one pass now (what each tick does); resolves when it is done. */
  runOnce(): Promise<void>;
  /** Stops the timer, aborts fetches in flight and waits for the running pass to end. */
  stop(): Promise<void>;
}

/** Starts the timer (unref'd: it never keeps the process alive). `intervalMs` 0 starts nothing. */
export function startMetadataRefresh(opts: {
  connections: ConnectionService;
  intervalMs: number;
  logger: Logger;
}): MetadataRefresher {
  const { connections, intervalMs, logger } = opts;
  const tickMs = Math.min(intervalMs, MAX_TICK_MS);
  let running: Promise<void> | null = null;
  let stopped = false;

  const pass = async (): Promise<void> => {
    const staleBefore = new Date(Date.now() - (intervalMs - tickMs / 2)).toISOString();
    const count = await connections.refreshDue(staleBefore, (err) =>
      logger.warn({ err }, 'IdP metadata refresh: a connection could not be refreshed'),
    );
    if (count > 0) logger.info({ count }, 'IdP metadata refreshed');
  };
  const runOnce = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    // One pass at a time per instance: a slow pass is not stacked on.
    running ??= pass()
      .catch((err: unknown) => logger.warn({ err }, 'IdP metadata refresh failed'))
      .finally(() => {
        running = null;
      });
    return running;
  };

  const timer = intervalMs > 0 ? setInterval(() => void runOnce(), tickMs) : null;
  timer?.unref();
  return {
    runOnce,
    stop: async () => {
      stopped = true;
      if (timer) clearInterval(timer);
      connections.stop();
      await running;
    },
  };
}
