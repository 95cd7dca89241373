/**
 * The "Bots" section of the admin page: an account admin lists the account's bots, creates and disables
 * them, issues a token (shown once, in a read-only box to copy) and revokes tokens. The forms post
 * urlencoded with the page's CSRF token; their values go through the same schemas as the JSON API
 * (see BotService).
 */
import type { BotTokenView, BotView, IssuedBotToken } from '../../bots/service.js';
import { html, table, type Html } from '../views.js';

/** The lifetimes the issue form offers (seconds, or `never`). */
export const TOKEN_LIFETIME_CHOICES: ReadonlyArray<readonly [string, string]> = [
  ['2592000', '30 days'],
  ['7776000', '90 days'],
  ['31622400', '366 days'],
  ['never', 'never expires'],
];

/** Bots shown on the page, and tokens per bot (newest first); the API lists them all. */
export const BOTS_SHOWN = 50;
export const TOKENS_SHOWN = 20;

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The create form as the API's body: `{ name, role }` (validated by the bot schema). */
export function parseBotForm(body: Record<string, unknown>): Record<string, unknown> {
  return { name: body.name, role: body.role };
}

/** The issue form as the API's body: `{ expiresInSeconds }` (validated by the token schema). */
export function parseTokenForm(body: Record<string, unknown>): Record<string, unknown> {
  const value = str(body.expiresIn);
  if (value === 'never') return { expiresInSeconds: null };
  return /^\d{1,9}$/.test(value) ? { expiresInSeconds: Number(value) } : { expiresInSeconds: value };
}

/** A token just issued, to show once. */
export interface IssuedForPage extends IssuedBotToken {
  botName: string;
}

const fmt = (iso: string | null): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC') : '—');

function tokenRows(base: string, csrf: string, bot: BotView, tokens: BotTokenView[]): Html {
  if (tokens.length === 0) return html`<p class="muted">No tokens.</p>`;
  const now = Date.now();
  const rows = tokens.slice(0, TOKENS_SHOWN).map((t) => {
    const expired = t.expiresAt !== null && Date.parse(t.expiresAt) <= now;
    const status = t.revoked ? 'revoked' : expired ? 'expired' : 'active';
    return html`<tr>
      <td><code>${t.id}</code></td>
      <td>${fmt(t.createdAt)}</td>
      <td>${t.neverExpires ? html`<strong>never expires</strong>` : fmt(t.expiresAt)}</td>
      <td>${status}</td>
      <td>
        ${
          t.revoked
            ? ''
            : html`<form
                method="post"
                action="${`${base}/admin/bots/${bot.id}/tokens/${t.id}/revoke`}"
                class="inline"
              >
                <input type="hidden" name="_csrf" value="${csrf}" />
                <button type="submit" class="secondary">Revoke</button>
              </form>`
        }
      </td>
    </tr>`;
  });
  return table(['Token id', 'Issued', 'Expires', 'Status', ''], rows);
}

function botBlock(base: string, csrf: string, bot: BotView, tokens: BotTokenView[]): Html {
  const choices = TOKEN_LIFETIME_CHOICES.map(
    ([value, label]) =>
      html`<option value="${value}" ${value === '7776000' ? html` selected` : ''}>${label}</option>`,
  );
  return html`<div class="bot">
    <h3>${bot.name} <span class="muted">(${bot.role}${bot.disabled ? ', disabled' : ''})</span></h3>
    <p class="muted">Bot id <code>${bot.id}</code> · created ${fmt(bot.createdAt)}</p>
    ${tokenRows(base, csrf, bot, tokens)}
    ${
      bot.disabled
        ? ''
        : html`<form method="post" action="${`${base}/admin/bots/${bot.id}/tokens`}">
              <input type="hidden" name="_csrf" value="${csrf}" />
              <label for="${`expiresIn-${bot.id}`}">New token, valid for</label>
              <select id="${`expiresIn-${bot.id}`}" name="expiresIn">
                ${choices}
              </select>
              <button type="submit">Issue a token</button>
            </form>
            <form method="post" action="${`${base}/admin/bots/${bot.id}/disable`}" class="inline">
              <input type="hidden" name="_csrf" value="${csrf}" />
              <button type="submit" class="secondary">Disable this bot (all its tokens stop at once)</button>
            </form>`
    }
  </div>`;
}

/** The section; `issued` is a token issued by this very request (its only showing). */
export function botsSection(
  base: string,
  csrf: string,
  bots: Array<{ bot: BotView; tokens: BotTokenView[] }>,
  issued: IssuedForPage | null,
  form: { name: string; role: string } | null,
): Html {
  const shown = bots.slice(0, BOTS_SHOWN);
  const role = form?.role ?? 'member';
  return html`<section id="bots">
    <h2>Bots <span class="muted">(${bots.length})</span></h2>
    <p class="muted">
      Bots are machine users of this account (ingestion jobs, CI, scripts). They call the API with a token:
      <code>Authorization: Bearer &lt;token&gt;</code>. A member bot can only identify itself; an admin bot
      can also use this account's admin API.
    </p>
    ${
      issued
        ? html`<div class="ok notice" role="status">
            <p>
              New token for <strong>${issued.botName}</strong>
              (${issued.neverExpires ? 'never expires' : `expires ${fmt(issued.expiresAt)}`}). Copy it now: it
              is shown only this once and is not stored.
            </p>
            <label for="new-token">Token</label>
            <textarea id="new-token" class="token" rows="5" readonly spellcheck="false">
${issued.token}</textarea>
          </div>`
        : ''
    }
    ${shown.map(({ bot, tokens }) => botBlock(base, csrf, bot, tokens))}
    ${bots.length > shown.length ? html`<p class="muted">Showing the first ${shown.length}.</p>` : ''}
    <h3>Add a bot</h3>
    <form method="post" action="${`${base}/admin/bots`}">
      <input type="hidden" name="_csrf" value="${csrf}" />
      <label for="bot-name">Name</label>
      <input id="bot-name" name="name" required maxlength="100" value="${form?.name ?? ''}" />
      <label for="bot-role">Role</label>
      <select id="bot-role" name="role">
        <option value="member" ${role === 'member' ? html` selected` : ''}>member</option>
        <option value="admin" ${role === 'admin' ? html` selected` : ''}>admin</option>
      </select>
      <button type="submit">Add bot</button>
    </form>
  </section>`;
}
