/**
 * `GET /api/openapi.json`: the OpenAPI 3.1 description of the HTTP surface (docs/openapi.json, shipped
 * with the package), with `servers` set to this deployment's base URL. test/contract/openapi.test.ts
 * keeps the document true: every operation in it is exercised and every real answer checked against it.
 */
import { readFileSync } from 'node:fs';
import { Router } from 'express';

/** docs/openapi.json, relative to this module (src/http or dist/http): the same path in both. */
const DOCUMENT = new URL('../../docs/openapi.json', import.meta.url);

/** The router serving the description for `baseUrl`. */
export function openApiRouter(baseUrl: string): Router {
  const router = Router();
  let body: string | null = null;
  router.get('/api/openapi.json', (_req, res) => {
    // Read on first use (not at start-up: an app that never serves it never reads it).
    body ??= JSON.stringify({
      ...(JSON.parse(readFileSync(DOCUMENT, 'utf8')) as Record<string, unknown>),
      servers: [{ url: baseUrl }],
    });
    res.type('application/json').set('Cache-Control', 'public, max-age=300').send(body);
  });
  return router;
}
