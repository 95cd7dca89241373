import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Gauge, type Registry } from 'prom-client';
import { SpError } from './errors.js';
import type { SpMetrics } from './metrics.js';

/** Worker → primary: a scrape to answer. Primary → worker: the answer. */
const ASK = 'sspk:metrics-ask';
const ANSWER = 'sspk:metrics-answer';
/** Primary → every worker: send your registry. Worker → primary: here it is. */
const COLLECT = 'sspk:metrics-collect';
const PART = 'sspk:metrics-part';
/** How long the primary waits for the workers; the ones that did not answer are reported missing. */
const WORKER_TIMEOUT_MS = 2000;
/** How long the asking worker waits for the primary. */
const ANSWER_TIMEOUT_MS = 5000;
/** Scrapes within this long share one gathering: a scrape flood costs the workers one each second. */
const CACHE_MS = 1000;

type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;
interface Exposition {
  contentType: string;
  body: string;
}
interface Ask {
  type: typeof ASK;
  id: number;
}
interface Answer {
  type: typeof ANSWER;
  id: number;
  exposition?: Exposition;
  error?: string;
}
interface Collect {
  type: typeof COLLECT;
  id: number;
}
interface Part {
  type: typeof PART;
  id: number;
  metrics: MetricsJson;
}

const isMessage = <T extends { type: string }>(m: unknown, type: T['type']): m is T =>
  typeof m === 'object' && m !== null && (m as { type?: unknown }).type === type;

/**
 * Cluster-wide metrics (WEB_CONCURRENCY > 1). Each worker counts only the requests it served, and a
 * scrape of /metrics lands on any one of them: on its own, counters would jump between the workers'
 * values and look like resets. So a worker's /metrics asks the primary, which gathers every worker's
 * registry and sums them (prom-client's aggregation: counters and histograms added, process gauges by
 * their own rule). A worker that does not answer within 2 s (starting, stuck) is left out and counted
 * in `sspk_metrics_workers_missing`, so that scrapes go on during an incident; scrapes within one
 * second share one gathering.
 */
export function serveClusterMetrics(): void {
  let nextId = 0;
  let inFlight: Promise<Exposition> | null = null;
  let cached: { at: number; exposition: Exposition } | null = null;

  const gather = async (): Promise<Exposition> => {
    const workers = Object.values(cluster.workers ?? {}).filter(
      (w): w is Worker => w !== undefined && w.isConnected(),
    );
    const id = nextId++;
    const parts = await new Promise<MetricsJson[]>((resolve) => {
      const got: MetricsJson[] = [];
      let left = workers.length;
      const onMessage = (_worker: Worker, message: unknown) => {
        if (!isMessage<Part>(message, PART) || message.id !== id) return;
        got.push(message.metrics);
        if (--left === 0) done();
      };
      const done = () => {
        clearTimeout(timer);
        cluster.off('message', onMessage);
        resolve(got);
      };
      const timer = setTimeout(done, WORKER_TIMEOUT_MS);
      cluster.on('message', onMessage);
      for (const worker of workers) worker.send({ type: COLLECT, id } satisfies Collect);
      if (left === 0) done();
    });
    const registry = AggregatorRegistry.aggregate(parts);
    new Gauge({
      name: 'sspk_metrics_workers_missing',
      help: 'Workers whose metrics did not reach this scrape (starting, restarting or stuck).',
      registers: [registry],
    }).set(workers.length - parts.length);
    return { contentType: registry.contentType, body: await registry.metrics() };
  };

  cluster.on('message', (worker, message: unknown) => {
    if (!isMessage<Ask>(message, ASK)) return;
    const reply = (answer: Omit<Answer, 'type' | 'id'>) => {
      if (worker.isConnected()) worker.send({ type: ANSWER, id: message.id, ...answer } satisfies Answer);
    };
    const fresh = cached !== null && Date.now() - cached.at < CACHE_MS ? cached.exposition : null;
    const exposition = fresh
      ? Promise.resolve(fresh)
      : (inFlight ??= gather()
          .then((gathered) => {
            cached = { at: Date.now(), exposition: gathered };
            return gathered;
          })
          .finally(() => {
            inFlight = null;
          }));
    exposition.then(
      (gathered) => reply({ exposition: gathered }),
      (err: unknown) => reply({ error: err instanceof Error ? err.message : String(err) }),
    );
  });
}

/**
 * In a cluster worker, from its first moment (before the app is built): sends the primary this
 * worker's registry when it gathers, an empty one until `registry()` has one.
 */
export function answerClusterMetrics(registry: () => Registry | null): void {
  process.on('message', (message: unknown) => {
    if (!isMessage<Collect>(message, COLLECT)) return;
    const current = registry();
    (current ? current.getMetricsAsJSON() : Promise.resolve([] as MetricsJson)).then(
      (metrics) => process.send?.({ type: PART, id: message.id, metrics } satisfies Part),
      () => process.send?.({ type: PART, id: message.id, metrics: [] } satisfies Part),
    );
  });
}

/** In a cluster worker: /metrics answers for the whole cluster, as the primary gathered it. */
export function useClusterMetrics(metrics: SpMetrics): void {
  let nextId = 0;
  const waiting = new Map<number, (answer: Answer) => void>();
  process.on('message', (message: unknown) => {
    if (isMessage<Answer>(message, ANSWER)) waiting.get(message.id)?.(message);
  });
  metrics.aggregateWith(
    () =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        const fail = (detail: string) =>
          new SpError('METRICS_UNAVAILABLE', { detail: `metrics of the cluster: ${detail}` });
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(fail(`the primary process did not answer within ${ANSWER_TIMEOUT_MS} ms`));
        }, ANSWER_TIMEOUT_MS);
        waiting.set(id, (answer) => {
          clearTimeout(timer);
          waiting.delete(id);
          if (answer.exposition) resolve(answer.exposition);
          else reject(fail(answer.error ?? 'no metrics'));
        });
        process.send?.({ type: ASK, id } satisfies Ask);
      }),
  );
}
