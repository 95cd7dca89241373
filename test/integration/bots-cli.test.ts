import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tokenKeyId } from '../../src/config/token-keys.js';
import { cliRunner } from '../support/cli.js';
import { startSp } from '../support/harness.js';
import { expectCode, meWith, partsOf } from '../support/bots.js';

describe('the bot commands of the CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sspk-bots-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'token.key');
  const env = {
    DATABASE_URL: `sqlite:${join(dir, 'cli.db')}`,
    TOKEN_SIGNING_KEY_FILE: keyFile,
    LOG_LEVEL: 'silent',
  };
  // Only PATH and HOME of the test run's environment: no token key settings of its own reach the CLI.
  const cli = cliRunner(env, { inherit: false });

  it('generate-token-key writes a private key with mode 0600, prints its kid and never overwrites', async () => {
    const res = cli('generate-token-key', '--type', 'ed25519', '--out', keyFile);
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = createPrivateKey(readFileSync(keyFile));
    expect(key.asymmetricKeyType).toBe('ed25519');
    expect(res.stdout).toContain(`kid ${await tokenKeyId(key)}`);
    const again = cli('generate-token-key', '--out', keyFile);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('EEXIST');
    expect(createPrivateKey(readFileSync(keyFile)).asymmetricKeyType).toBe('ed25519');
    const bad = cli('generate-token-key', '--type', 'dsa');
    expect(bad.status).toBe(1);
  });

  it('create-bot, issue-token and revoke-token work on the database the server uses', async () => {
    expect(cli('create-account', 'acme', 'Acme Inc').status).toBe(0);
    const created = cli('create-bot', '--account', 'acme', '--name', 'nightly', '--role', 'admin');
    expect(created.status, created.stderr).toBe(0);
    const botId = /created bot ([0-9a-f-]{36})/.exec(created.stdout)![1]!;
    const issued = cli('issue-token', '--account', 'acme', '--bot', botId, '--no-expiry');
    expect(issued.status, issued.stderr).toBe(0);
    const token = issued.stdout.trim();
    expect(issued.stderr).toMatch(/never expires/);
    const tokenId = partsOf(token).claims.jti as string;
    expect(partsOf(token).claims).not.toHaveProperty('exp');
    const t = await startSp({ databaseUrl: env.DATABASE_URL, tokenSigningKeyFile: keyFile });
    try {
      const me = await meWith(t, token).expect(200);
      expect(me.body).toEqual({ account: 'acme', role: 'admin', bot: { id: botId, name: 'nightly' } });
      expect(cli('revoke-token', '--account', 'acme', '--bot', botId, '--token', tokenId).status).toBe(0);
      expectCode(await meWith(t, token), 401, 'TOKEN_REVOKED');
      const unknown = cli('revoke-token', '--account', 'acme', '--bot', botId, '--token', botId);
      expect(unknown.status).toBe(1);
      expect(unknown.stderr).toContain('BOT_TOKEN_NOT_FOUND');
    } finally {
      await t.close();
    }
  });
});
