import { pino, type Logger } from 'pino';

/**
 * Structured JSON logs. Paths that could carry secrets are redacted even if someone logs a request
 * object: SAML messages, cookies, authorization headers, tokens and keys.
 */
export function createLogger(level: string, opts: { pretty?: boolean } = {}): Logger {
  return pino({
    // In development, one readable line per event (pino-pretty, in a worker thread); JSON otherwise.
    ...(opts.pretty
      ? { transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname,service' } } }
      : {}),
    level,
    base: { service: 'saml-sp-kit' },
    redact: {
      paths: [
        'req.headers.cookie',
        'req.headers.authorization',
        'headers.cookie',
        'headers.authorization',
        'body.SAMLResponse',
        'req.body.SAMLResponse',
        'SAMLResponse',
        'sessionSecret',
        'adminApiToken',
        'privateKey',
        'config.sessionSecret',
        'config.adminApiToken',
      ],
      censor: '[redacted]',
    },
  });
}
