import { createCipheriv, createDecipheriv, createPrivateKey, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Encrypts OIDC client secrets at rest (AES-256-GCM). The key is derived (HKDF-SHA256) from the SP
 * private key, which is stable across restarts and instances (unlike the development SESSION_SECRET)
 * and never stored in the database: a copy of the database alone holds no usable client secret.
 *
 * The account id is bound as additional authenticated data, so a box copied onto another account's
 * row does not open there.
 */
export class SecretBox {
  private readonly key: Buffer;

  /** @param spPrivateKeyPem the SP private key (PEM), as loaded from SP_KEY_FILE. */
  constructor(spPrivateKeyPem: string) {
    const der = createPrivateKey(spPrivateKeyPem).export({ type: 'pkcs8', format: 'der' });
    this.key = Buffer.from(hkdfSync('sha256', der, Buffer.alloc(0), 'saml-sp-kit oidc client secret v1', 32));
  }

  /** `v1.<iv>.<tag>.<ciphertext>` (base64url). */
  seal(plaintext: string, accountId: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(accountId, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv, cipher.getAuthTag(), body]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  }

  /** The secret; throws when the box was made under another key or for another account, or was altered. */
  open(box: string, accountId: string): string {
    const [version, iv, tag, body] = box.split('.');
    if (version !== 'v1' || iv === undefined || tag === undefined || body === undefined) {
      throw new TypeError('not a sealed secret');
    }
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'), {
      authTagLength: 16,
    });
    decipher.setAAD(Buffer.from(accountId, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  }
}
