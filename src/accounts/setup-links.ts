import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { SpError } from '../errors.js';
import type { Account, SetupLink, Stores } from '../storage/types.js';

/** Default and bounds of a setup link's lifetime. */
export const SETUP_LINK_HOURS = { default: 72, min: 1, max: 30 * 24 } as const;

/** A setup link as the API shows it (the URL only once, at creation). */
export interface SetupLinkView {
  id: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  status: 'active' | 'expired' | 'revoked';
}

const hash = (token: string): string => createHash('sha256').update(token).digest('hex');
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

function view(link: SetupLink, nowMs: number): SetupLinkView {
  return {
    id: link.id,
    createdAt: link.createdAt,
    expiresAt: link.expiresAt,
    revokedAt: link.revokedAt,
    status: link.revokedAt ? 'revoked' : Date.parse(link.expiresAt) <= nowMs ? 'expired' : 'active',
  };
}

/** True while a link opens sessions and keeps them: not revoked, not expired. */
export function setupLinkUsable(link: SetupLink, nowMs: number): boolean {
  return link.revokedAt === null && Date.parse(link.expiresAt) > nowMs;
}

/**
 * Setup links: the way a SaaS vendor invites a customer's IT admin. Opening the link gives that browser
 * an admin session for one account (its setup pages and admin API), until the link expires or is
 * revoked — which ends the sessions it opened (checked on every request). The link's secret is 32
 * random bytes; only its SHA-256 is stored.
 */
export class SetupLinkService {
  constructor(
    private readonly stores: Stores,
    private readonly baseUrl: string,
  ) {}

  async create(account: Account, expiresInHours: number = SETUP_LINK_HOURS.default) {
    const token = randomBytes(32).toString('base64url');
    const link = await this.stores.setupLinks.create({
      id: randomUUID(),
      accountId: account.id,
      tokenHash: hash(token),
      expiresAt: new Date(Date.now() + expiresInHours * 3600_000).toISOString(),
    });
    return { id: link.id, url: `${this.baseUrl}/setup/${token}`, expiresAt: link.expiresAt };
  }

  async list(account: Account): Promise<SetupLinkView[]> {
    const now = Date.now();
    return (await this.stores.setupLinks.list(account.id)).map((l) => view(l, now));
  }

  async revoke(account: Account, id: string): Promise<void> {
    const ok =
      /^[0-9a-f-]{36}$/.test(id) &&
      (await this.stores.setupLinks.revoke(account.id, id, new Date().toISOString()));
    if (!ok) throw new SpError('NOT_FOUND', { detail: `setup link ${id.slice(0, 64)}` });
  }

  /** The usable link behind a URL's secret, with its account; SETUP_LINK_INVALID otherwise. */
  async open(token: string): Promise<{ link: SetupLink; account: Account }> {
    const link = TOKEN.test(token) ? await this.stores.setupLinks.findByTokenHash(hash(token)) : null;
    if (!link || !setupLinkUsable(link, Date.now())) throw new SpError('SETUP_LINK_INVALID');
    const account = await this.stores.accounts.getById(link.accountId);
    if (!account) throw new SpError('SETUP_LINK_INVALID');
    return { link, account };
  }
}
