import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { SpError } from './errors.js';
import type { SpMetrics } from './metrics.js';

const ASK = 'sspk:metrics-request';
const ANSWER = 'sspk:metrics-answer';
/** prom-client gives the workers 5 s to answer the primary; the asking worker waits a little longer. */
const ANSWER_TIMEOUT_MS = 6000;

interface Ask {
  type: typeof ASK;
  id: number;
}
interface Answer {
  type: typeof ANSWER;
  id: number;
  body?: string;
  contentType?: string;
  error?: string;
}

const isMessage = <T extends { type: string }>(m: unknown, type: T['type']): m is T =>
  typeof m === 'object' && m !== null && (m as { type?: unknown }).type === type;

/**
 * With WEB_CONCURRENCY > 1 each worker counts only the requests it served, and a scrape of /metrics
 * lands on any one of them: counters would jump between workers' values and look like resets. The
 * primary process therefore answers a worker's scrape with every worker's registry, summed by
 * prom-client's cluster aggregation (counters and histograms added, process gauges by their own rule).
 */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: unknown) => {
    if (!isMessage<Ask>(message, ASK)) return;
    const reply = (answer: Omit<Answer, 'type' | 'id'>) => {
      if (worker.isConnected()) worker.send({ type: ANSWER, id: message.id, ...answer } satisfies Answer);
    };
    aggregator.clusterMetrics().then(
      (body) => reply({ body, contentType: aggregator.contentType }),
      (err: unknown) => reply({ error: err instanceof Error ? err.message : String(err) }),
    );
  });
}

/** In a cluster worker: lets the primary gather this worker's metrics, and serves the whole cluster's. */
export function useClusterMetrics(metrics: SpMetrics): void {
  // Constructing one installs prom-client's answer to the primary's requests in this worker.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([metrics.registry]);
  let next = 0;
  const waiting = new Map<number, (answer: Answer) => void>();
  process.on('message', (message: unknown) => {
    if (isMessage<Answer>(message, ANSWER)) waiting.get(message.id)?.(message);
  });
  metrics.aggregateWith(
    () =>
      new Promise((resolve, reject) => {
        const id = next++;
        const fail = (detail: string) =>
          new SpError('METRICS_UNAVAILABLE', { detail: `metrics of the other workers: ${detail}` });
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(fail(`no answer within ${ANSWER_TIMEOUT_MS} ms`));
        }, ANSWER_TIMEOUT_MS);
        waiting.set(id, (answer) => {
          clearTimeout(timer);
          waiting.delete(id);
          if (answer.body !== undefined && answer.contentType !== undefined) {
            resolve({ contentType: answer.contentType, body: answer.body });
          } else reject(fail(answer.error ?? 'no metrics'));
        });
        process.send?.({ type: ASK, id } satisfies Ask);
      }),
  );
}
