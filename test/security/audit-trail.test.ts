// The ACS audit trail as an attacker sees it: posts to a slug nobody owns yet must not become events
// in the trail of whoever creates that account later, must not turn a flood into database writes, and
// must not hide real events; what a request puts in the trail is bounded; old events expire.
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { pino } from 'pino';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStorage } from '../../src/storage/index.js';
import { AUDIT_TEXT_LIMITS } from '../../src/storage/audit-text.js';
import { openSqlDatabase } from '../../src/storage/sql/engine.js';
import { migrateToLatest } from '../../src/storage/sql/migrations.js';
import { loadConfigFromEnv } from '../../src/config/load.js';
import {
  ADMIN_TOKEN,
  adminGet,
  createAccountWithIdp,
  patchSettings,
  postAcs,
  responseFor,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { sqlEngines } from '../support/sql-engines.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  while (cleanups.length) await cleanups.pop()!();
});

/** A pino logger writing JSON lines into `lines`. */
function capturingLogger(lines: Record<string, unknown>[]) {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      done();
    },
  });
  return pino({ level: 'info' }, sink);
}

async function sp(...args: Parameters<typeof startSp>): Promise<TestSp> {
  const t = await startSp(...args);
  cleanups.push(() => t.close());
  return t;
}

function auditOf(t: TestSp, slug: string, query = '') {
  return request(t.app)
    .get(`/api/accounts/${slug}/audit${query}`)
    .set('Authorization', `Bearer ${ADMIN_TOKEN}`);
}

describe('posts to the ACS of an account that does not exist (yet)', () => {
  it('are logged with the reference and a truncated slug, never stored, and never shown to whoever creates the account later', async () => {
    const lines: Record<string, unknown>[] = [];
    const t = await sp({ maxSamlResponseBytes: 16 * 1024 }, { logger: capturingLogger(lines) });
    const slug = 'victim-co';

    // The attacker fills the slug's future trail: junk, validly signed responses for its audience, and
    // bodies refused before parsing.
    const refs: string[] = [];
    for (let i = 0; i < 5; i++) {
      const junk = await postAcs(t, slug, `junk-${i}`);
      const signed = await postAcs(t, slug, responseFor(t, slug, { nameId: 'auth0|attacker' }));
      const huge = await postAcs(t, slug, 'A'.repeat(64 * 1024));
      expect([junk.status, signed.status, huge.status]).toEqual([404, 404, 413]);
      refs.push(...[junk, signed, huge].map((r) => r.body.error.referenceId as string));
    }
    const longSlug = 'a'.repeat(3000);
    const long = await postAcs(t, longSlug, 'junk');
    expect(long.status).toBe(404);
    refs.push(long.body.error.referenceId as string);

    // Not written: no reference can be looked up in the database.
    for (const ref of refs) {
      expect(await t.sp.stores.audit.getByReference(ref)).toBeNull();
      await request(t.app).get(`/api/audit/${ref}`).set('Authorization', `Bearer ${ADMIN_TOKEN}`).expect(404);
    }
    // Logged: every reference, with the slug cut short.
    const notAudited = lines.filter(
      (l) => l.msg === 'ACS post for no known account: logged only, not audited',
    );
    expect(notAudited.map((l) => l.referenceId).sort()).toEqual([...refs].sort());
    expect(notAudited.find((l) => l.referenceId === long.body.error.referenceId)?.slug).toBe('a'.repeat(64));
    expect(JSON.stringify(lines)).not.toContain('a'.repeat(300));

    // The real owner creates the account and signs in: the trail holds that sign-in only (besides the
    // owner's own settings change).
    await createAccountWithIdp(t, slug);
    const login = await postAcs(t, slug, responseFor(t, slug, { nameId: 'auth0|owner' }));
    expect(login.status).toBe(303);
    const trail = (await adminGet(t, `/api/accounts/${slug}/audit`)).body.events as Record<string, unknown>[];
    expect(trail.map((e) => e.code)).toEqual(['OK', 'IDP_CONNECTION_IMPORTED', 'SETTINGS_CHANGED']);
    expect(trail[0]).toMatchObject({
      outcome: 'success',
      code: 'OK',
      subject: 'auth0|owner',
      accountSlug: slug,
    });
  });
});

for (const engine of sqlEngines) {
  describe.skipIf(!engine.enabled)(
    engine.title('a database written before events were kept by account id'),
    () => {
      it('attributes an old event to the account only when it is not older than the account', async () => {
        const fresh = engine.fresh();
        cleanups.push(() => fresh.cleanup());
        const { db, dialect, schema } = await openSqlDatabase(fresh.databaseUrl);
        try {
          await migrateToLatest(db, dialect, schema, '0002_local_users');
          const row = (ref: string, at: string, slug: string) =>
            sql`INSERT INTO audit (reference_id, at, account_slug, outcome, code, detail)
              VALUES (${ref}, ${at}, ${slug}, 'failure', 'SAML_SIGNATURE_INVALID', 'planted')`.execute(db);
          // Junk posted to "acme" before anybody had it, then the account, then its own events.
          await row('ref_before', '2024-03-01T10:00:00.000Z', 'acme');
          await row('ref_just_before', '2024-03-02T08:59:59.999Z', 'acme');
          await sql`INSERT INTO accounts (id, slug, name, settings, created_at)
                  VALUES ('acc-acme', 'acme', 'Acme', '{}', '2024-03-02T09:00:00.000Z')`.execute(db);
          await row('ref_same_instant', '2024-03-02T09:00:00.000Z', 'acme');
          await row('ref_after', '2024-03-05T12:00:00.000Z', 'acme');
          await row('ref_other_slug', '2024-03-05T12:00:00.000Z', 'nobody');
          expect(await migrateToLatest(db, dialect, schema)).toContain('0003_audit_account_id');
        } finally {
          await db.destroy();
        }
        const { stores } = await openStorage({ databaseUrl: fresh.databaseUrl, sessionTtlMs: 60_000 });
        try {
          const trail = await stores.audit.list('acc-acme', { limit: 50 });
          expect(trail.map((e) => e.referenceId)).toEqual(['ref_after', 'ref_same_instant']);
          for (const ref of ['ref_before', 'ref_just_before', 'ref_other_slug']) {
            expect((await stores.audit.getByReference(ref))?.accountId).toBeNull();
          }
        } finally {
          await stores.close();
        }
      });
    },
  );
}

describe('a flood of junk failures', () => {
  it('cannot hide real events: the admin filters by outcome and code, newest first; bad filters are 400', async () => {
    const t = await sp();
    await createAccountWithIdp(t, 'acme');
    const real = await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'auth0|real' }));
    expect(real.status).toBe(303);
    for (let i = 0; i < 60; i++) expect((await postAcs(t, 'acme', `junk-${i}`)).status).toBe(400);

    const newest = (await auditOf(t, 'acme', '?limit=50').expect(200)).body.events as { code: string }[];
    expect(newest).toHaveLength(50);
    expect(newest.every((e) => e.code !== 'OK')).toBe(true);

    const successes = (await auditOf(t, 'acme', '?outcome=success&limit=5').expect(200)).body.events as {
      code: string;
    }[];
    // The sign-in, and the IdP import and settings change createAccountWithIdp made (changes are in the trail too).
    expect(successes.map((e) => e.code)).toEqual(['OK', 'IDP_CONNECTION_IMPORTED', 'SETTINGS_CHANGED']);
    expect(successes[0]).toMatchObject({ outcome: 'success', code: 'OK', subject: 'auth0|real' });
    const byCode = (await auditOf(t, 'acme', '?code=OK').expect(200)).body.events as { subject: string }[];
    expect(byCode.map((e) => e.subject)).toEqual(['auth0|real']);
    const failures = (
      await auditOf(t, 'acme', '?outcome=failure&code=SAML_RESPONSE_MALFORMED&limit=3').expect(200)
    ).body.events as { outcome: string; code: string; at: string }[];
    expect(failures).toHaveLength(3);
    expect(failures.every((e) => e.outcome === 'failure' && e.code === 'SAML_RESPONSE_MALFORMED')).toBe(true);
    expect([...failures].sort((x, y) => y.at.localeCompare(x.at))).toEqual(failures);

    for (const bad of [
      '?outcome=bogus',
      '?outcome=',
      '?outcome=success&outcome=failure',
      '?code=NOT_A_CODE',
      '?code=constructor',
      '?limit=0',
      '?limit=501',
      '?limit=abc',
      '?limit=-1',
      '?limit=1e2',
    ]) {
      const res = await auditOf(t, 'acme', bad);
      expect(res.status, bad).toBe(400);
      expect(res.body.error.code, bad).toBe('AUDIT_QUERY_INVALID');
    }
  });
});

describe('what one request can put in the trail', () => {
  it('is bounded: a 4 KB NameID and a forged 8 KB X-Forwarded-For are cut to a few hundred characters', async () => {
    // Behind one proxy, the address it appends is trusted; a client reaching the app directly writes it.
    const t = await sp({ trustProxy: '1' });
    await createAccountWithIdp(t, 'acme');
    await patchSettings(t, 'acme', { allowedEmailDomains: ['acme.example'] });
    const nameId = `auth0|${'n'.repeat(4096)}`;
    const res = await request(t.app)
      .post(t.urls('acme').acsPath)
      .type('form')
      .set('Accept', 'application/json')
      .set('X-Forwarded-For', `fe80::1%${'z'.repeat(8192)}`)
      .send({ SAMLResponse: responseFor(t, 'acme', { nameId, email: 'x@elsewhere.example' }) });
    expect(res.body.error.code).toBe('USER_EMAIL_DOMAIN_NOT_ALLOWED');
    const event = (await adminGet(t, `/api/audit/${res.body.error.referenceId}`)).body as Record<
      string,
      string
    >;
    expect(event.subject!.length).toBeLessThanOrEqual(AUDIT_TEXT_LIMITS.subject);
    expect(event.subject!.startsWith('auth0|nnn')).toBe(true);
    expect(event.clientIp!.startsWith('fe80::1%zzz')).toBe(true);
    expect(event.clientIp!.length).toBeLessThanOrEqual(AUDIT_TEXT_LIMITS.clientIp);
    expect(event.detail!.length).toBeLessThanOrEqual(AUDIT_TEXT_LIMITS.detail);
    expect(JSON.stringify(event).length).toBeLessThan(1500);
  });
});

describe('retention', () => {
  it('AUDIT_RETENTION_DAYS defaults to 90 and must be an integer of at least 1', () => {
    expect(loadConfigFromEnv({}).auditRetentionDays).toBe(90);
    expect(loadConfigFromEnv({ AUDIT_RETENTION_DAYS: '7' }).auditRetentionDays).toBe(7);
    for (const bad of ['0', '-3', '1.5', 'forever']) {
      expect(() => loadConfigFromEnv({ AUDIT_RETENTION_DAYS: bad }), bad).toThrow(/^AUDIT_RETENTION_DAYS: /);
    }
  });

  it('the app’s periodic sweep deletes events older than the retention period and keeps the rest', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const t = await sp({ auditRetentionDays: 30 });
    await createAccountWithIdp(t, 'acme');
    const account = (await t.sp.stores.accounts.getBySlug('acme'))!;
    const day = 24 * 3600 * 1000;
    const at = (daysAgo: number) => new Date(Date.now() - daysAgo * day).toISOString();
    const base = {
      accountId: account.id,
      accountSlug: 'acme',
      connectionId: null,
      outcome: 'failure' as const,
      code: 'SAML_REPLAY',
      subject: null,
      userId: null,
      clientIp: null,
      detail: null,
      expected: null,
      received: null,
      hint: null,
    };
    await t.sp.stores.audit.record({ ...base, referenceId: 'ref_expired', at: at(31) });
    await t.sp.stores.audit.record({ ...base, referenceId: 'ref_kept', at: at(29) });

    await vi.advanceTimersByTimeAsync(60_000);
    await vi.waitFor(async () => expect(await t.sp.stores.audit.getByReference('ref_expired')).toBeNull(), {
      timeout: 5000,
    });
    expect(await t.sp.stores.audit.getByReference('ref_kept')).not.toBeNull();

    // One sweeper per minute, whichever worker or instance claims it first: a sweep due again before
    // that minute has passed (here: the interval fired again at once) leaves the work to the claimant.
    await t.sp.stores.audit.record({ ...base, referenceId: 'ref_expired_2', at: at(31) });
    await vi.advanceTimersByTimeAsync(60_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(await t.sp.stores.audit.getByReference('ref_expired_2')).not.toBeNull();
  });
});
