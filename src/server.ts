import cluster from 'node:cluster';
import type { Registry } from 'prom-client';
import { createApp } from './app.js';
import { answerClusterMetrics, serveClusterMetrics, useClusterMetrics } from './cluster-metrics.js';
import { ConfigError, loadConfigFromEnv } from './config/load.js';
import { openStorage } from './storage/index.js';

/** How long requests in flight may take to finish once the server stopped accepting. */
const IN_FLIGHT_LIMIT_MS = 10_000;

/**
 * Entry point: the only place that listens. With WEB_CONCURRENCY=N (N > 1) the primary process runs
 * the migrations once and forks N workers sharing the port; signature verification is CPU-bound, so
 * this is how one machine uses all its cores.
 */
async function main(): Promise<void> {
  const config = loadConfigFromEnv();
  const workers = Number(process.env.WEB_CONCURRENCY ?? 1);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
    throw new ConfigError('WEB_CONCURRENCY', 'must be an integer from 1 to 64');
  }
  if (workers > 1 && cluster.isPrimary) {
    const { stores } = await openStorage({ databaseUrl: config.databaseUrl, sessionTtlMs: 60_000 });
    await stores.close();
    if (config.metricsEnabled) serveClusterMetrics();
    for (let i = 0; i < workers; i++) cluster.fork();
    cluster.on('exit', (worker, code, signal) => {
      if (signal !== 'SIGTERM' && signal !== 'SIGINT' && code !== 0) {
        process.stderr.write(
          `saml-sp-kit: worker ${worker.process.pid} exited (${signal ?? code}), starting another\n`,
        );
        cluster.fork();
      }
    });
    const stop = () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
      setTimeout(
        () => process.exit(0),
        config.shutdownDrainSeconds * 1000 + IN_FLIGHT_LIMIT_MS + 1000,
      ).unref();
      cluster.on('exit', () => {
        if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    return;
  }
  // A worker answers the primary's gathering from its first moment (with nothing until the app is up).
  let registry: Registry | null = null;
  if (config.metricsEnabled && cluster.isWorker) answerClusterMetrics(() => registry);
  const { app, sp, close } = await createApp({ config });
  if (config.metricsEnabled && cluster.isWorker) {
    registry = sp.metrics.registry;
    useClusterMetrics(sp.metrics);
  }
  const server = app.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (err: NodeJS.ErrnoException) => {
      // A busy port is a configuration problem: one line naming the variable, not a stack trace.
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') {
        reject(
          new ConfigError(
            'PORT',
            `${config.host}:${config.port} ${err.code === 'EADDRINUSE' ? 'is already in use' : 'cannot be opened (permission denied)'}; set PORT (and HOST) to a free one`,
          ),
        );
      } else reject(err);
    });
  }).catch(async (err: unknown) => {
    await close();
    throw err;
  });
  sp.logger.info(
    { url: config.baseUrl, host: config.host, port: config.port, pid: process.pid },
    `saml-sp-kit is running at ${config.baseUrl}/ — admin pages: ${config.baseUrl}/admin`,
  );
  // Graceful shutdown: not ready at once (the load balancer stops sending new requests), serve on for
  // SHUTDOWN_DRAIN_SECONDS while it notices, then stop accepting, finish the requests in flight, close
  // the stores and exit 0. /healthz stays 200 throughout: the process is alive, only leaving.
  let stopping = false;
  const shutdown = (signal: string) => {
    // Once: a cluster worker may get both the terminal's SIGINT and the primary's SIGTERM.
    if (stopping) return;
    stopping = true;
    sp.beginShutdown();
    sp.logger.info(
      { signal, drainSeconds: config.shutdownDrainSeconds },
      'shutting down: /readyz answers 503, draining before the server stops accepting',
    );
    setTimeout(() => {
      server.close(() => {
        close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      });
      // Keep-alive connections between requests would hold close() open; a request in flight keeps
      // its connection until it is answered.
      server.closeIdleConnections();
      setInterval(() => server.closeIdleConnections(), 100).unref();
      // Requests still in flight after this long are cut off.
      setTimeout(() => process.exit(1), IN_FLIGHT_LIMIT_MS).unref();
    }, config.shutdownDrainSeconds * 1000);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  // Bad configuration: one clear line naming the variable, no stack trace.
  if (err instanceof ConfigError) {
    process.stderr.write(`saml-sp-kit: configuration error: ${err.message}\n`);
  } else {
    process.stderr.write(
      `saml-sp-kit: failed to start: ${err instanceof Error ? err.message : String(err)}\n`,
    );
  }
  process.exit(1);
});
