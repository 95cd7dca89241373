/**
 * docs/openapi.json is true: one scenario (openapi-scenario.ts) exercises every operation it describes,
 * each real answer is checked against the document (status documented, JSON body valid against the
 * schema, redirects with a Location), and every JSON route the app serves is in the document.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSp, type TestSp } from '../support/harness.js';
import { METRICS_TOKEN, runScenario, type SeenResponse } from './openapi-scenario.js';

interface Operation {
  responses: Record<
    string,
    { content?: Record<string, { schema: unknown }>; headers?: Record<string, unknown> }
  >;
}
type PathItem = Record<string, unknown>;
interface OpenApi {
  openapi: string;
  paths: Record<string, PathItem>;
  servers: { url: string }[];
}

const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;
const doc = JSON.parse(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8')) as OpenApi;
// ajv-formats is CommonJS with a default export.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv2020,
) => void;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(doc, 'openapi.json');

/** JSON-pointer escaping of one path segment. */
const esc = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');
const validators = new Map<string, ValidateFunction>();
function validatorFor(template: string, method: string, status: string): ValidateFunction {
  const pointer = `openapi.json#/paths/${esc(template)}/${method}/responses/${status}/content/application~1json/schema`;
  let v = validators.get(pointer);
  if (!v) {
    v = ajv.compile({ $ref: pointer });
    validators.set(pointer, v);
  }
  return v;
}

function operation(template: string, method: string): Operation | undefined {
  return doc.paths[template]?.[method] as Operation | undefined;
}

describe('docs/openapi.json', () => {
  let t: TestSp;
  const problems: string[] = [];
  const covered = new Set<string>();

  beforeAll(async () => {
    t = await startSp({ metricsEnabled: true, metricsToken: METRICS_TOKEN });
    await runScenario(t, (method, template, res: SeenResponse) => {
      const where = `${method.toUpperCase()} ${template} → ${res.status}`;
      const op = operation(template, method);
      if (!op) return void problems.push(`${where}: operation not documented`);
      covered.add(`${method} ${template}`);
      const documented = op.responses[String(res.status)];
      if (!documented) return void problems.push(`${where}: status not documented`);
      if (res.status >= 300 && res.status < 400 && documented.headers?.Location && !res.headers.location) {
        problems.push(`${where}: no Location header`);
      }
      const type = String(res.headers['content-type'] ?? '');
      if (type.startsWith('application/json')) {
        if (!documented.content?.['application/json'])
          return void problems.push(`${where}: JSON answer not documented`);
        const validate = validatorFor(template, method, String(res.status));
        if (!validate(res.body)) {
          problems.push(
            `${where}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(res.body).slice(0, 300)}`,
          );
        }
      } else if (documented.content && !Object.keys(documented.content).some((ct) => type.startsWith(ct))) {
        problems.push(
          `${where}: answered ${type || 'no body'}, documented ${Object.keys(documented.content).join(', ')}`,
        );
      }
    });
  }, 60_000);
  afterAll(async () => t?.close());

  it('is an OpenAPI 3.1 document whose every reference resolves', () => {
    expect(doc.openapi).toBe('3.1.0');
    for (const [template, item] of Object.entries(doc.paths)) {
      for (const method of METHODS) {
        const op = operation(template, method);
        if (!op) continue;
        for (const [status, response] of Object.entries(op.responses)) {
          if (response.content?.['application/json'])
            expect(() => validatorFor(template, method, status)).not.toThrow();
        }
      }
      expect(item).toBeTypeOf('object');
    }
  });

  it('every real answer of the scenario matches it', () => {
    expect(problems).toEqual([]);
  });

  it('every operation it describes was exercised', () => {
    const described = Object.keys(doc.paths).flatMap((template) =>
      METHODS.filter((m) => operation(template, m)).map((m) => `${m} ${template}`),
    );
    expect(described.filter((op) => !covered.has(op))).toEqual([]);
  });

  it('describes every route the app serves, but the admin HTML pages and static assets', () => {
    interface Layer {
      route?: { path: string; methods: Record<string, boolean> };
      handle?: { stack?: Layer[] };
    }
    const served: string[] = [];
    const walk = (stack: Layer[]) => {
      for (const layer of stack) {
        if (layer.route) {
          for (const m of Object.keys(layer.route.methods)) served.push(`${m} ${layer.route.path}`);
        } else if (layer.handle?.stack) walk(layer.handle.stack);
      }
    };
    walk((t.app as unknown as { router: { stack: Layer[] } }).router.stack);
    expect(served.length).toBeGreaterThan(40);
    // The admin pages and the password form are for people (README, "Admin pages"), not an API.
    const pages = /^(get|post) \/(admin|login\/password|assets\/|favicon\.ico)/;
    const undocumented = served
      .filter((route) => !pages.test(route))
      .map((route) => route.replace(/:(\w+)/g, '{$1}'))
      .filter((route) => {
        const [method, template] = route.split(' ') as [string, string];
        return !operation(template, method);
      });
    expect(undocumented).toEqual([]);
  });

  it('GET /api/openapi.json serves it with this deployment as the server', async () => {
    const res = await request(t.app).get('/api/openapi.json').expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toMatchObject({ openapi: '3.1.0', servers: [{ url: t.sp.config.baseUrl }] });
    expect(Object.keys((res.body as OpenApi).paths)).toEqual(Object.keys(doc.paths));
  });
});
