/**
 * Every key that ships with the repository must be in src/connections/published-keys.ts, or a
 * production deployment could be told to trust it. Walks the working tree (not node_modules, .git or
 * the ignored build/data directories) for PEM blocks in any text file and for DER certificate files,
 * so that adding a fixture key cannot silently escape the list.
 */
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PUBLISHED_KEYS, publishedKeyOf, spkiSha256 } from '../../src/connections/published-keys.js';
import { certificateFor, generatedPair } from '../support/certs.js';
import { idpKey } from '../support/idp.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SKIP = new Set(['node_modules', '.git', 'dist', 'data', 'coverage']);
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const path = join(dir, name);
    const stat = statSync(path);
    if (stat.isDirectory()) yield* files(path);
    else if (stat.isFile() && stat.size < 4 * 1024 * 1024) yield path;
  }
}

/** The public key of a PEM block, or null when the block is not a usable key (e.g. a placeholder). */
function publicKeyOf(label: string, pem: string): KeyObject | null {
  try {
    if (label.endsWith('CERTIFICATE')) return new X509Certificate(pem).publicKey;
    if (label.endsWith('PRIVATE KEY')) return createPublicKey(createPrivateKey(pem));
    if (label.endsWith('PUBLIC KEY')) return createPublicKey(pem);
  } catch {
    return null;
  }
  return null;
}

/** Every key found in the repository: SPKI SHA-256 → files. */
function repositoryKeys(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const add = (key: KeyObject, file: string) => {
    const hash = spkiSha256(key);
    found.set(hash, [...(found.get(hash) ?? []), relative(ROOT, file)]);
  };
  for (const file of files(ROOT)) {
    const bytes = readFileSync(file);
    if (/\.(der|cer)$/i.test(file)) {
      add(new X509Certificate(bytes).publicKey, file);
      continue;
    }
    expect(/\.(p12|pfx|jks|p7b)$/i.test(file), `${relative(ROOT, file)}: key store format not checked`).toBe(
      false,
    );
    if (bytes.subarray(0, 8192).includes(0)) continue; // binary
    for (const [block, label] of bytes.toString('utf8').matchAll(PEM_BLOCK)) {
      expect(label, `${relative(ROOT, file)}: encrypted keys cannot be checked`).not.toContain('ENCRYPTED');
      const key = publicKeyOf(label!, block);
      if (key) add(key, file);
    }
  }
  return found;
}

describe('published keys', () => {
  const found = repositoryKeys();

  it('the walk finds the shipped pairs (certs/ and test/fixtures/)', () => {
    const paths = [...found.values()].flat();
    for (const f of [
      'certs/sp-dev.crt',
      'certs/sp-dev.key',
      'test/fixtures/idp.crt',
      'test/fixtures/idp.key',
    ]) {
      expect(paths).toContain(f);
    }
  });

  it('lists every key and certificate found in the repository', () => {
    const missing = [...found]
      .filter(([hash]) => !PUBLISHED_KEYS.has(hash))
      .map(([h, f]) => `${h} (${f.join(', ')})`);
    expect(missing, 'add these to src/connections/published-keys.ts').toEqual([]);
  });

  it('lists no key that is not in the repository any more', () => {
    const stale = [...PUBLISHED_KEYS]
      .filter(([hash]) => !found.has(hash))
      .map(([h, where]) => `${h} (${where})`);
    expect(stale).toEqual([]);
  });

  it('recognises a published key in a new certificate, and not a fresh key', () => {
    expect(publishedKeyOf(idpKey.cert)).toContain('test/fixtures/idp');
    // Anyone can wrap the published key in a new certificate (its private key is public): matched on the key.
    const rewrapped = certificateFor(new X509Certificate(idpKey.cert).publicKey, 'idp.example.com');
    expect(new X509Certificate(rewrapped).fingerprint256).not.toBe(
      new X509Certificate(idpKey.cert).fingerprint256,
    );
    expect(publishedKeyOf(rewrapped)).toContain('test/fixtures/idp');
    expect(publishedKeyOf(generatedPair({ type: 'ec', curve: 'prime256v1' }, 'fresh').cert)).toBeNull();
  });
});
