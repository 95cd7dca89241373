import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Bot, BotCredential, BotStore, BotToken } from '../types.js';
import type { BotTokensTable, BotsTable, Database } from './schema.js';

const now = (): string => new Date().toISOString();

function toBot(row: Selectable<BotsTable>): Bot {
  return {
    id: row.id,
    accountId: row.account_id,
    name: row.name,
    role: row.role === 'admin' ? 'admin' : 'member',
    disabled: Number(row.disabled) === 1,
    createdAt: row.created_at,
    disabledAt: row.disabled_at,
    createdBy: row.created_by,
  };
}

function toToken(row: Selectable<BotTokensTable>): BotToken {
  return {
    id: row.id,
    botId: row.bot_id,
    kid: row.kid,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    createdBy: row.created_by,
  };
}

/**
 * Bots and their issued tokens in SQL. Revocation and disabling are single-row updates in the database
 * every instance reads on every bot request: there is no copy anywhere that could outlive them.
 */
export class SqlBotStore implements BotStore {
  constructor(private readonly db: Kysely<Database>) {}

  async create(input: Parameters<BotStore['create']>[0]): Promise<Bot> {
    const row = {
      id: randomUUID(),
      account_id: input.accountId,
      name: input.name,
      role: input.role,
      disabled: 0,
      created_at: now(),
      disabled_at: null,
      created_by: input.createdBy,
    };
    await this.db.insertInto('bots').values(row).execute();
    return toBot(row);
  }

  async getById(botId: string): Promise<Bot | null> {
    const row = await this.db.selectFrom('bots').selectAll().where('id', '=', botId).executeTakeFirst();
    return row ? toBot(row) : null;
  }

  async listByAccount(accountId: string): Promise<Bot[]> {
    const rows = await this.db
      .selectFrom('bots')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toBot);
  }

  async disable(botId: string): Promise<boolean> {
    const res = await this.db
      .updateTable('bots')
      .set({ disabled: 1, disabled_at: sql<string>`COALESCE(disabled_at, ${now()})` })
      .where('id', '=', botId)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async addToken(token: Parameters<BotStore['addToken']>[0]): Promise<BotToken> {
    const row = {
      id: token.id,
      bot_id: token.botId,
      kid: token.kid,
      created_at: now(),
      expires_at: token.expiresAt,
      revoked_at: null,
      created_by: token.createdBy,
    };
    await this.db.insertInto('bot_tokens').values(row).execute();
    return toToken(row);
  }

  async listTokens(botId: string): Promise<BotToken[]> {
    const rows = await this.db
      .selectFrom('bot_tokens')
      .selectAll()
      .where('bot_id', '=', botId)
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .execute();
    return rows.map(toToken);
  }

  async revokeToken(botId: string, tokenId: string): Promise<boolean> {
    const res = await this.db
      .updateTable('bot_tokens')
      .set({ revoked_at: sql<string>`COALESCE(revoked_at, ${now()})` })
      .where('id', '=', tokenId)
      .where('bot_id', '=', botId)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async credential(tokenId: string): Promise<BotCredential | null> {
    // One indexed read per bot request (primary key of bot_tokens, then bots and accounts by key).
    const row = await this.db
      .selectFrom('bot_tokens as t')
      .innerJoin('bots as b', 'b.id', 't.bot_id')
      .innerJoin('accounts as a', 'a.id', 'b.account_id')
      .select([
        't.id as t_id',
        't.bot_id as t_bot_id',
        't.kid as t_kid',
        't.created_at as t_created_at',
        't.expires_at as t_expires_at',
        't.revoked_at as t_revoked_at',
        't.created_by as t_created_by',
        'b.id as b_id',
        'b.account_id as b_account_id',
        'b.name as b_name',
        'b.role as b_role',
        'b.disabled as b_disabled',
        'b.created_at as b_created_at',
        'b.disabled_at as b_disabled_at',
        'b.created_by as b_created_by',
        'a.slug as account_slug',
      ])
      .where('t.id', '=', tokenId)
      .executeTakeFirst();
    if (!row) return null;
    return {
      token: toToken({
        id: row.t_id,
        bot_id: row.t_bot_id,
        kid: row.t_kid,
        created_at: row.t_created_at,
        expires_at: row.t_expires_at,
        revoked_at: row.t_revoked_at,
        created_by: row.t_created_by,
      }),
      bot: toBot({
        id: row.b_id,
        account_id: row.b_account_id,
        name: row.b_name,
        role: row.b_role,
        disabled: row.b_disabled,
        created_at: row.b_created_at,
        disabled_at: row.b_disabled_at,
        created_by: row.b_created_by,
      }),
      accountSlug: row.account_slug,
    };
  }
}
