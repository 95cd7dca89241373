/**
 * Interleaved A/B of the full ACS (`npm run bench:ab -- <checkout> <checkout> …`): server CPU per login
 * of the SP built in each checkout, measured in one run with the rounds interleaved, so that whatever
 * else the machine does in the meantime falls on every side alike. Two runs of `npm run bench` on this
 * 2-core machine differ by up to 12 % in CPU per login; interleaved, two copies of the same build
 * agree within about 4 %, which is what tells a 4 % lever from noise.
 *
 * Each argument is a checkout with its own `node_modules` and a built `dist/` (`npm run build`
 * there): e.g. `git worktree add /tmp/before HEAD~1 && (cd /tmp/before && npm ci && npm run build)`.
 * `.` is this checkout (built first by `npm run bench:ab`). A checkout can be named twice (`dir:2`) to
 * see the noise, and given Node flags after `+` (`.:gc+--max-semi-space-size=64`) to weigh them. Each SP: 2 workers, SQLite, production mode, the per-IP limits lifted, like
 * `npm run bench`'s peak; every side gets its own freshly minted logins, AB_ROUNDS rounds of
 * AB_LOGINS logins from 16 clients, after one unmeasured round.
 *
 *   npm run bench:ab -- /tmp/before . /tmp/before:2 .:2
 *   AB_ROUNDS=12 AB_LOGINS=1000 npm run bench:ab -- /tmp/before .
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { closedLoop } from './load.js';
import { treeCpuMs } from './machine.js';
import { mintValid } from './mint.js';
import { acsUrlOf, audienceOf, benchIdpKey, type startSp as StartSp } from './sp.js';

const ROUNDS = Number(process.env.AB_ROUNDS ?? 8);
const LOGINS = Number(process.env.AB_LOGINS ?? 600);
const CLIENTS = 16;
const ACS = '/sso/bench/acs';

const sides = process.argv.slice(2);
if (sides.length < 2 || !Number.isInteger(ROUNDS) || ROUNDS < 1 || !Number.isInteger(LOGINS) || LOGINS < 1) {
  console.error('usage: npm run bench:ab -- <checkout>[:label] <checkout>[:label] … (AB_ROUNDS, AB_LOGINS)');
  process.exit(2);
}

const idp = benchIdpKey();
const sps: Awaited<ReturnType<typeof StartSp>>[] = [];
try {
  for (const side of sides) {
    // `dir[:label][+--node-flag…]`: Node flags for that side's SP (its workers inherit them).
    const [spec, ...flags] = side.split('+');
    const dir = resolve(spec!.split(':')[0]!);
    // Each checkout's own bench/sp.ts starts its own dist/server.js.
    const { startSp } = (await import(pathToFileURL(`${dir}/bench/sp.ts`).href)) as {
      startSp: typeof StartSp;
    };
    sps.push(
      await startSp({
        workers: 2,
        nodeArgs: flags,
        logLevel: 'info',
        accounts: ['bench'],
        idp,
        maxBodyBytes: 256 * 1024,
      }),
    );
  }
  const bodies = await mintValid(
    { acsUrl: acsUrlOf('bench'), audience: audienceOf('bench'), key: idp },
    (ROUNDS + 1) * LOGINS * sides.length,
    2,
  );
  let next = 0;
  const take = () => bodies.slice(next, (next += LOGINS)).map((body) => ({ kind: 'valid', body }));
  for (const sp of sps) await closedLoop(sp.origin, ACS, take(), CLIENTS);
  const cpuMs = sides.map(() => 0);
  const seconds = sides.map(() => 0);
  for (let round = 0; round < ROUNDS; round++) {
    // Every other round in reverse order: no side always runs right after another.
    const order = round % 2 === 0 ? sps.map((_, i) => i) : sps.map((_, i) => sps.length - 1 - i);
    for (const i of order) {
      const sp = sps[i]!;
      const before = treeCpuMs(sp.pid);
      const run = await closedLoop(sp.origin, ACS, take(), CLIENTS);
      cpuMs[i]! += treeCpuMs(sp.pid) - before;
      seconds[i]! += run.seconds;
      const refused = run.samples.filter((s) => s.status !== 303);
      if (refused.length > 0) throw new Error(`${sides[i]}: ${refused.length} logins not signed in`);
    }
  }
  const logins = ROUNDS * LOGINS;
  console.log(`${ROUNDS} rounds of ${LOGINS} logins per side, interleaved`);
  sides.forEach((side, i) => {
    const each = (cpuMs[i]! / logins).toFixed(3);
    console.log(
      `${side.padEnd(32)} ${each} ms server CPU per login, ${(logins / seconds[i]!).toFixed(0)} logins/s`,
    );
  });
} finally {
  for (const sp of sps) await sp.stop();
}
