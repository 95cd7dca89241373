import { mintValid } from './mint.js';
import { closedLoop, openLoop, summarize } from './load.js';
import { acsUrlOf, audienceOf, benchIdpKey, startSp } from './sp.js';
const idp = benchIdpKey();
const [sp, bodies] = await Promise.all([
  startSp({ workers: 2, nodeArgs: [], logLevel: 'info', accounts: ['bench'], idp, maxBodyBytes: 256 * 1024 }),
  mintValid({ acsUrl: acsUrlOf('bench'), audience: audienceOf('bench'), key: idp }, 1700 + 6000 * 2 + 600, 2),
]);
const v = (l: string[]) => l.map((body) => ({ kind: 'valid', body }));
await closedLoop(sp.origin, '/sso/bench/acs', v(bodies.slice(0, 1700)), 16);
console.log('peak done; idle 45 s');
await new Promise((r) => setTimeout(r, 45000));
(globalThis as { gc?: () => void }).gc?.();
const a = await openLoop(sp.origin, '/sso/bench/acs', v(bodies.slice(1700, 7700)), 400);
const sa = summarize(a.samples);
console.log('cold half: p99', sa.p99ms, 'max', sa.maxMs, 'late', a.maxLateMs);
const slow = a.samples.map((s, i) => ({ i, ms: Math.round(s.ms) })).filter((s) => s.ms > 30);
console.log('slow', slow.length, JSON.stringify(slow.slice(0, 30)));
await new Promise((r) => setTimeout(r, 45000));
await openLoop(sp.origin, '/sso/bench/acs', v(bodies.slice(7700, 8300)), 400);
const b = await openLoop(sp.origin, '/sso/bench/acs', v(bodies.slice(8300, 14300)), 400);
const sb = summarize(b.samples);
console.log('after warm-up: p99', sb.p99ms, 'max', sb.maxMs, 'late', b.maxLateMs);
await sp.stop();
