/**
 * CPU of one hostile ACS body in the protocol layer, in-process, against a legitimate login: the
 * 12,000-namespace bomb (an attacker-signed assertion under a Response carrying 12,000 `xmlns:pN`
 * declarations) and a forged response within every XML bound, each with 1 and with 10 trusted
 * certificates. Prints medians of process.cpuUsage() over a few runs.
 *
 *   npx tsx bench/bomb-cpu.ts
 */
import { readFileSync } from 'node:fs';
import { validateResponse } from '../src/saml/validate-response.js';
import { attackerKey, idpKey, mintResponseXml, rotatedIdpKey } from '../test/support/idp.js';

const RUNS = Number(process.env.BOMB_RUNS ?? 5);
const acsUrl = 'http://localhost:3000/sso/acme/acs';
const audience = 'http://localhost:3000/sso/acme/metadata';
const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');
const context = (idpCertificates: string[]) => ({
  spEntityId: audience,
  acsUrl,
  ssoUrl: 'https://test-tenant.auth0.com/samlp/x',
  idpCertificates,
  idpEntityId: null,
  spPrivateKey: read('../certs/sp-dev.key'),
  spCertificate: read('../certs/sp-dev.crt'),
  clockSkewMs: 60_000,
  allowSha1: false,
});
// Ten trusted certificates: the two fixture certificates, alternating (node-saml does not de-duplicate).
const ten = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? rotatedIdpKey.cert : idpKey.cert));

async function medianCpuMs(samlResponse: string, certs: string[]): Promise<{ ms: number; outcome: string }> {
  const samples: number[] = [];
  let outcome = '';
  for (let i = 0; i < RUNS + 1; i++) {
    const start = process.cpuUsage();
    try {
      await validateResponse(samlResponse, context(certs));
      outcome = 'accepted';
    } catch (err) {
      outcome = (err as { code?: string }).code ?? String(err);
    }
    const used = process.cpuUsage(start);
    if (i > 0) samples.push((used.user + used.system) / 1000); // the first run warms up
  }
  samples.sort((a, b) => a - b);
  return { ms: +samples[Math.floor(samples.length / 2)]!.toFixed(1), outcome };
}

const declarations = Array.from({ length: 12_000 }, (_, i) => ` xmlns:p${i}="u"`).join('');
const bodies = {
  legit: mintResponseXml({ acsUrl, audience }),
  'namespace bomb (12,000 declarations)': mintResponseXml({ acsUrl, audience, key: attackerKey }).replace(
    '<samlp:Response ',
    `<samlp:Response${declarations} `,
  ),
  'forged, within every bound (800 groups)': mintResponseXml({
    acsUrl,
    audience,
    key: attackerKey,
    groups: Array.from({ length: 800 }, (_, i) => `group-${i}-${'g'.repeat(40)}`),
  }),
};
for (const [name, xml] of Object.entries(bodies)) {
  const b64 = Buffer.from(xml).toString('base64');
  const one = await medianCpuMs(b64, [idpKey.cert]);
  const tenCerts = await medianCpuMs(b64, ten);
  console.log(
    `${name} (${Math.round(b64.length / 1024)} KB base64): ${one.outcome}; CPU ${one.ms} ms with 1 certificate, ${tenCerts.ms} ms with 10`,
  );
}
