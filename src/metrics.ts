import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** Protocol label of the sign-in metrics. */
export type SignInProtocol = 'saml' | 'oidc' | 'password';

/** A decided sign-in, as {@link SpMetrics.signIn} counts it. */
export interface SignInOutcome {
  protocol: SignInProtocol;
  outcome: 'success' | 'failure';
  /** `OK`, or the catalogued error code that refused the sign-in (a closed set: bounded cardinality). */
  code: string;
}

/**
 * The kit's Prometheus metrics, on a registry of its own (never prom-client's global one), so several
 * SP instances in one process (tests, a host app embedding two) do not collide and a host can merge
 * the registry into its own (`Registry.merge`).
 *
 * Names (all prefixed `sspk_`):
 * - `sspk_sign_ins_total{protocol,outcome,code}`: decided sign-ins, SSO (`saml`, `oidc`) and local
 *   passwords (`password`), where the account's trail records them (not sign-in tests, not sign-ins
 *   still waiting for the user's confirmation);
 * - `sspk_sso_response_duration_seconds{protocol}`: time to answer an ACS post or an OIDC callback;
 * - `sspk_saml_signature_checks_total`: SAML signatures the ACS verified or refused, i.e. the
 *   cryptographic work spent (a post refused by a cheap check before any signature work adds nothing);
 * - `sspk_saml_decryptions_total`: encrypted assertions decrypted with the SP key;
 * - `sspk_store_errors_total`: requests answered 503 STORE_UNAVAILABLE (database or Redis failed);
 * - `sspk_rate_limit_store_errors_total{limiter}`: requests let through unlimited because the shared
 *   rate-limit counters (Redis) failed (fail open);
 * - process metrics (`sspk_process_*`, `sspk_nodejs_*`) when {@link SpMetricsOptions.processMetrics}.
 */
export class SpMetrics {
  readonly registry = new Registry();
  private readonly signIns = new Counter({
    name: 'sspk_sign_ins_total',
    help: 'Decided sign-ins by protocol, outcome and code (OK or the error code that refused it).',
    labelNames: ['protocol', 'outcome', 'code'] as const,
    registers: [this.registry],
  });
  private readonly ssoDuration = new Histogram({
    name: 'sspk_sso_response_duration_seconds',
    help: 'Time to answer an ACS post (saml) or an OIDC callback (oidc), whatever the outcome.',
    labelNames: ['protocol'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly signatureChecks = new Counter({
    name: 'sspk_saml_signature_checks_total',
    help: 'SAML signatures the ACS verified or refused (cryptographic work; a post refused by a cheap check never adds to it).',
    registers: [this.registry],
  });
  private readonly decryptions = new Counter({
    name: 'sspk_saml_decryptions_total',
    help: 'Encrypted assertions the ACS decrypted with the SP key (an RSA private-key operation each).',
    registers: [this.registry],
  });
  private readonly storeErrors = new Counter({
    name: 'sspk_store_errors_total',
    help: 'Requests answered 503 STORE_UNAVAILABLE because the database or Redis failed.',
    registers: [this.registry],
  });
  private readonly rateLimitStoreErrors = new Counter({
    name: 'sspk_rate_limit_store_errors_total',
    help: 'Requests let through without rate limiting because the shared counters (Redis) failed.',
    labelNames: ['limiter'] as const,
    registers: [this.registry],
  });

  constructor(opts: SpMetricsOptions = {}) {
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'sspk_' });
  }

  /** Counts a decided sign-in. */
  signIn(e: SignInOutcome): void {
    this.signIns.inc({ protocol: e.protocol, outcome: e.outcome, code: e.code });
  }

  /** Starts timing an ACS post or OIDC callback; call the returned function when answered. */
  startSsoTimer(protocol: SignInProtocol): () => void {
    const end = this.ssoDuration.startTimer({ protocol });
    return () => void end();
  }

  /** Counts a SAML signature about to be verified. */
  signatureCheck(): void {
    this.signatureChecks.inc();
  }

  /** Counts an encrypted assertion about to be decrypted. */
  decryption(): void {
    this.decryptions.inc();
  }

  /** Counts a request answered 503 because a store failed. */
  storeError(): void {
    this.storeErrors.inc();
  }

  /** Counts a request the named limiter let through because its shared store failed. */
  rateLimitStoreError(limiter: string): void {
    this.rateLimitStoreErrors.inc({ limiter });
  }

  private aggregated: (() => Promise<{ contentType: string; body: string }>) | null = null;

  /** Serves, instead of this registry, what `source` gathers (every cluster worker's, summed). */
  aggregateWith(source: () => Promise<{ contentType: string; body: string }>): void {
    this.aggregated = source;
  }

  /** The text exposition format (`text/plain; version=0.0.4`). */
  async exposition(): Promise<{ contentType: string; body: string }> {
    if (this.aggregated) return this.aggregated();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** Options of {@link SpMetrics}. */
export interface SpMetricsOptions {
  /** Also collect prom-client's default process metrics (CPU, memory, event loop, GC). */
  processMetrics?: boolean;
}
