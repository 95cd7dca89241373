import { createApp } from './app.js';
import { ConfigError, loadConfigFromEnv } from './config/load.js';

/** Entry point: the only place that listens. */
async function main(): Promise<void> {
  const config = loadConfigFromEnv();
  const { app, sp, close } = await createApp({ config });
  const server = app.listen(config.port, config.host, () => {
    sp.logger.info({ url: config.baseUrl, host: config.host, port: config.port }, 'saml-sp-kit listening');
  });
  const shutdown = (signal: string) => {
    sp.logger.info({ signal }, 'shutting down');
    server.close(() => {
      close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
    setTimeout(() => process.exit(1), 10_000).unref();
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
