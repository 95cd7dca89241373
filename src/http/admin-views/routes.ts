/**
 * Self-serve admin pages: an account admin connects the IdP, reads the values to paste into Auth0 and
 * changes the account's SSO policy. Server-rendered HTML only (no client-side JavaScript): the pages work
 * under the app's CSP (`default-src 'none'; style-src 'self'; form-action 'self'`).
 */
import express, {
  Router,
  type ErrorRequestHandler,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import multer from 'multer';
import type { BotService } from '../../bots/service.js';
import {
  auth0Settings,
  connectionView,
  type ConnectionService,
  type IdpImport,
} from '../../connections/service.js';
import { spUrls } from '../../connections/urls.js';
import type { Actor } from '../../audit/trail.js';
import { SpError, isSpError } from '../../errors.js';
import type {
  Account,
  AccountSettings,
  AuditEvent,
  LoginFlow,
  Stores,
  User,
  UserAdminPatch,
} from '../../storage/types.js';
import type { SetupLinkService, SetupLinkView } from '../../accounts/setup-links.js';
import type { SignInTestView, SsoService } from '../../sso/service.js';
import { userView, type UserAdmin, type UserView } from '../../users/admin.js';
import { ssoAdmins, userLabel } from '../../users/roles.js';
import { allowFormRedirectTo } from '../csp.js';
import { csrfToken, verifyCsrf } from '../middleware/csrf.js';
import { perClientLimit } from '../middleware/rate-limit.js';
import { html, page, table, type Html } from '../views.js';
import { botsSection, parseBotForm, parseTokenForm, BOTS_SHOWN, type IssuedForPage } from './bots-section.js';
import '../session-user.js';

/** The only flash messages `?saved=` can show. */
const SAVED: Readonly<Record<string, string>> = {
  idp: 'The identity provider was imported. Sign in once with single sign-on to activate the connection.',
  metadata:
    'The identity provider metadata was imported. Sign in once with single sign-on to activate the connection.',
  settings: 'The settings were saved.',
  user: 'The user was changed.',
  'link-revoked': 'The setup link was revoked; the sessions it opened have ended.',
  bot: 'The bot was added. Issue it a token below.',
  'bot-disabled': 'The bot was disabled: its tokens are refused from now on.',
  'token-revoked': 'The token was revoked: it is refused from now on.',
};

const DOMAIN = /^[a-z0-9.-]+\.[a-z]{2,63}$/i;
const MAX_LIST = 100;
const MAX_USERS_SHOWN = 200;
const AUDIT_SHOWN = 20;

type ConnectionJson = ReturnType<typeof connectionView>;

/** Values a failed form post showed, put back into the re-rendered form. */
interface FormState {
  idp?: { ssoUrl: string; idpEntityId: string };
  settings?: {
    idpInitiated: boolean;
    allowedEmailDomains: string;
    adminGroups: string;
    ssoOnly: boolean;
    loginConfirmation: boolean;
    requireEmail: boolean;
    acceptCliRecoveryOnly: boolean;
  };
  bot?: { name: string; role: string };
  /** A token issued by this request: shown once, in this response only. */
  issued?: IssuedForPage;
}

interface Notice {
  kind: 'ok' | 'error';
  message: string;
  code?: string;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const checked = (v: unknown): boolean => v === 'on' || v === 'true' || v === '1';

/** Splits a comma (or newline) separated list, trimmed, without empties or duplicates. */
function splitList(value: string, separators: RegExp): string[] {
  return [
    ...new Set(
      value
        .split(separators)
        .map((s) => s.trim())
        .filter((s) => s.length > 0),
    ),
  ];
}

/** Parses the settings form (urlencoded) into a settings patch; SETTINGS_INVALID with a precise message. */
export function parseSettingsForm(body: Record<string, unknown>): Partial<AccountSettings> {
  const domains = splitList(str(body.allowedEmailDomains), /[,\s]+/).map((d) => d.toLowerCase());
  const badDomain = domains.find((d) => !DOMAIN.test(d) || d.length > 253);
  if (badDomain !== undefined) {
    throw new SpError('SETTINGS_INVALID', {
      message: `"${badDomain.slice(0, 100)}" is not a domain name. List e-mail domains like example.com, separated by commas.`,
    });
  }
  const groups = splitList(str(body.adminGroups), /\r?\n/);
  const badGroup = groups.find((g) => g.length > 256);
  if (badGroup !== undefined) {
    throw new SpError('SETTINGS_INVALID', { message: 'A group name may have at most 256 characters.' });
  }
  if (domains.length > MAX_LIST || groups.length > MAX_LIST) {
    throw new SpError('SETTINGS_INVALID', {
      message: `List at most ${MAX_LIST} domains and ${MAX_LIST} groups.`,
    });
  }
  return {
    idpInitiated: checked(body.idpInitiated),
    allowedEmailDomains: domains,
    adminGroups: groups,
    ssoOnly: checked(body.ssoOnly),
    loginConfirmation: checked(body.loginConfirmation),
    requireEmail: checked(body.requireEmail),
  };
}

/** The manual import form (multipart): a certificate file or pasted PEM, the SAML Protocol URL, an optional entity ID. */
function parseIdpForm(req: Request): IdpImport {
  const body = (req.body ?? {}) as Record<string, unknown>;
  const file = req.file;
  const pasted = str(body.certificatePem).trim();
  const certificate: string | Buffer | null =
    file && file.size > 0 ? file.buffer : pasted !== '' ? pasted : null;
  if (certificate === null) throw new SpError('CERT_MISSING');
  const entityId = str(body.idpEntityId).trim();
  return {
    kind: 'manual',
    certificate,
    ssoUrl: str(body.ssoUrl).trim(),
    idpEntityId: entityId === '' ? null : entityId,
  };
}

/** A user row's form: `disabled=true|false` or `role=admin|member|auto`. */
function parseUserForm(body: Record<string, unknown>): UserAdminPatch {
  const patch: UserAdminPatch = {};
  if (body.disabled === 'true' || body.disabled === 'false') patch.disabled = body.disabled === 'true';
  if (body.role === 'admin' || body.role === 'member') patch.roleOverride = body.role;
  if (body.role === 'auto') patch.roleOverride = null;
  if (Object.keys(patch).length === 0) {
    throw new SpError('REQUEST_INVALID', {
      message: 'Choose Disable or Enable, or a role (admin, member or automatic).',
    });
  }
  return patch;
}

function parseMetadataForm(req: Request): IdpImport {
  const file = req.file;
  if (!file || file.size === 0) {
    throw new SpError('METADATA_INVALID', { message: 'Choose the IdP metadata XML file to upload.' });
  }
  return { kind: 'metadata', metadataXml: file.buffer.toString('utf8') };
}

/** Multer's limit errors, translated to the catalogue (other errors go to the app's error handler). */
function toFormError(err: unknown): SpError | null {
  if (isSpError(err)) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  if (code === 'LIMIT_FILE_SIZE' || code === 'LIMIT_FIELD_VALUE')
    return new SpError('PAYLOAD_TOO_LARGE', { cause: err });
  if (code.startsWith('LIMIT_')) return new SpError('REQUEST_INVALID', { cause: err, detail: code });
  return null;
}

/** "expires in 23 days" / "expired 2 days ago", for a certificate's notAfter. */
function expiresIn(iso: string): string {
  const days = Math.floor((Date.parse(iso) - Date.now()) / 86_400_000);
  if (days < 0) return `expired ${-days} day${days === -1 ? '' : 's'} ago`;
  return days === 0 ? 'expires today' : `expires in ${days} day${days === 1 ? '' : 's'}`;
}

const fmtTime = (iso: string | null): string =>
  iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC') : '—';

function signInPage(req: Request, res: Response, signedIn: boolean): void {
  const base = req.baseUrl;
  res
    .status(signedIn ? 403 : 401)
    .set('Cache-Control', 'no-store')
    .type('html')
    .send(
      page(
        'Sign in',
        html`<h1>Sign in as an administrator</h1>
          <p>
            ${signedIn ? 'Your account is not an administrator of this account. Sign in with an administrator account to manage single sign-on.' : 'Sign in as an administrator of your account to manage single sign-on.'}
          </p>
          <p><a href="${`${base}/login/password`}">Administrator sign-in with a password</a></p>
          <p><a href="${`${base}/`}">Start page (single sign-on)</a></p>`,
      ),
    );
}

function connectionSection(conn: ConnectionJson | null): Html {
  if (!conn) {
    return html`<section>
      <h2>Connection <span class="badge badge-none">not connected</span></h2>
      <p>
        No identity provider is connected yet. Configure Auth0 with the values below, then import its
        certificate and SAML Protocol URL.
      </p>
    </section>`;
  }
  const certs = conn.certificates.map(
    (c) =>
      html`<tr>
        <td><code class="wrap">${c.fingerprintSha256}</code></td>
        <td>${c.subject}</td>
        <td>${fmtTime(c.notBefore)}</td>
        <td>${fmtTime(c.notAfter)}<br /><span class="muted">${expiresIn(c.notAfter)}</span></td>
      </tr>`,
  );
  const warnings = conn.warnings.map((w) => html`<li>${w}</li>`);
  return html`<section>
    <h2>Connection <span class="${`badge badge-${conn.status}`}">${conn.status}</span></h2>
    <p class="muted">
      ${conn.status === 'active' ? `Active since ${fmtTime(conn.activatedAt)}.` : 'Pending: the connection becomes active at the first successful single sign-on.'}
    </p>
    ${
      warnings.length > 0
        ? html`<div class="warning">
            <strong>Warnings</strong>
            <ul>
              ${warnings}
            </ul>
          </div>`
        : ''
    }
    <dl class="values">
      <dt>SAML Protocol URL (IdP)</dt>
      <dd><code class="wrap">${conn.ssoUrl}</code></dd>
      <dt>IdP entity ID</dt>
      <dd>
        ${conn.idpEntityId === null ? html`<span class="muted">not known yet (pinned at the first login)</span>` : html`<code class="wrap">${conn.idpEntityId}</code> <span class="muted">(${conn.idpEntityIdSource ?? ''})</span>`}
      </dd>
      <dt>Last import</dt>
      <dd>${fmtTime(conn.updatedAt)}</dd>
    </dl>
    <h3>Trusted certificates</h3>
    ${table(['SHA-256 fingerprint', 'Subject', 'Valid from', 'Valid until'], certs)}
  </section>`;
}

/** A value to paste into the IdP, with a button that copies it. */
function copyable(id: string, value: string): Html {
  return html`<code class="wrap" id="${id}">${value}</code>
    <button type="button" class="copy secondary" data-copy="${id}">Copy</button>`;
}

function auth0Section(baseUrl: string, account: Account): Html {
  const urls = spUrls(baseUrl, account.slug);
  const a0 = auth0Settings(urls);
  return html`<section>
    <h2>Values for Auth0</h2>
    <ol class="steps">
      ${a0.steps.map((s) => html`<li>${s}</li>`)}
    </ol>
    <dl class="values">
      <dt>Application Callback URL</dt>
      <dd>${copyable('value-callback', a0.applicationCallbackUrl)}</dd>
      <dt>Audience (SP entity ID)</dt>
      <dd>${copyable('value-audience', a0.addonSettings.audience)}</dd>
      <dt>SP metadata URL</dt>
      <dd>${copyable('value-metadata', urls.metadataUrl)}</dd>
      <dt>Login URL</dt>
      <dd>${copyable('value-login', urls.loginUrl)}</dd>
    </dl>
    <p class="muted">The addon's Settings JSON is below the import form.</p>
  </section>`;
}

/** The long Settings JSON for Auth0's SAML2 Web App addon, after the import form. */
function auth0JsonSection(baseUrl: string, account: Account): Html {
  const a0 = auth0Settings(spUrls(baseUrl, account.slug));
  return html`<section>
    <h2>SAML2 Web App addon — Settings JSON</h2>
    <p>Paste it into the addon's Settings tab in Auth0, replacing what is there.</p>
    <pre class="json" id="value-settings-json">${JSON.stringify(a0.addonSettings, null, 2)}</pre>
    <button type="button" class="copy secondary" data-copy="value-settings-json">Copy the JSON</button>
  </section>`;
}

function setupLinksSection(
  base: string,
  token: string,
  links: SetupLinkView[],
  currentLink: string | undefined,
): Html {
  const rows = links.map(
    (l) =>
      html`<tr>
        <td><code>${l.id.slice(0, 8)}</code></td>
        <td>${fmtTime(l.createdAt)}</td>
        <td>${fmtTime(l.expiresAt)}</td>
        <td>${l.status}${l.id === currentLink ? ' (this browser)' : ''}</td>
        <td>
          ${
            l.status === 'active'
              ? html`<form
                  method="post"
                  action="${`${base}/admin/setup-links/${l.id}/revoke`}"
                  class="inline"
                >
                  <input type="hidden" name="_csrf" value="${token}" />
                  <button type="submit" class="secondary">Revoke</button>
                </form>`
              : ''
          }
        </td>
      </tr>`,
  );
  return html`<section>
    <h2>Setup links</h2>
    <p class="muted">
      Links that open these setup pages without a password, made by the operator (<code
        >npm run cli -- setup-link create ACCOUNT</code
      >). Revoking a link ends the sessions it opened.
    </p>
    ${
      links.length === 0
        ? html`<p class="muted">No setup links.</p>`
        : table(['Link', 'Created', 'Expires', 'Status', ''], rows)
    }
  </section>`;
}

function testSection(base: string, token: string, conn: ConnectionJson | null): Html | string {
  if (!conn) return '';
  return html`<section>
    <h2>Test sign-in</h2>
    <p>
      Opens your identity provider; sign in there and you come back to a checklist of everything this SP
      checks, with the setting to change for each failure. It signs nobody in or out and creates no
      user.${conn.status === 'pending' ? ' A passing test activates the connection.' : ''}
    </p>
    <form method="post" action="${`${base}/admin/tests`}">
      <input type="hidden" name="_csrf" value="${token}" />
      <button type="submit">Test sign-in</button>
    </form>
  </section>`;
}

/** The verdict of a test sign-in, as a checklist. */
function verdictBody(base: string, test: SignInTestView): Html {
  const badge =
    test.status === 'passed'
      ? html`<span class="badge badge-active">passed</span>`
      : test.status === 'failed'
        ? html`<span class="badge badge-failed">failed</span>`
        : html`<span class="badge badge-pending">waiting for the IdP</span>`;
  const items = test.checks.map(
    (c) =>
      html`<li class="${c.ok ? 'check-ok' : c.evaluated ? 'check-failed' : 'check-skipped'}">
        <strong>${c.ok ? '✓' : c.evaluated ? '✗' : '–'} ${c.label}</strong>
        ${c.received ? html`<p class="muted">Received: <code>${c.received}</code></p>` : ''}
        ${!c.ok && c.expected ? html`<p class="muted">Expected: <code>${c.expected}</code></p>` : ''}
        ${!c.ok && c.hint ? html`<p class="hint">${c.hint}</p>` : ''}
      </li>`,
  );
  return html`<div class="admin">
    <h1>Test sign-in ${badge}</h1>
    ${
      test.status === 'passed'
        ? html`<p class="ok">Every check passed: users of this identity provider can sign in.</p>`
        : test.status === 'failed'
          ? html`<p class="error">Fix the failed checks at the identity provider, then test again.</p>`
          : html`<p class="muted">The identity provider has not answered yet.</p>`
    }
    <ol class="checklist">
      ${items}
    </ol>
    <p class="muted">Reference <code>${test.referenceId ?? '—'}</code> · test <code>${test.id}</code></p>
    <p><a href="${`${base}/admin`}">Back to the setup page</a></p>
  </div>`;
}

function importSection(base: string, token: string, conn: ConnectionJson | null, form: FormState): Html {
  const ssoUrl = form.idp?.ssoUrl ?? conn?.ssoUrl ?? '';
  const entityId =
    form.idp?.idpEntityId ?? (conn?.idpEntityIdSource === 'admin' ? (conn.idpEntityId ?? '') : '');
  return html`<section>
    <h2>${conn ? 'Replace the identity provider' : 'Import the identity provider'}</h2>
    <p class="muted">
      A new import replaces the current one only when it is fully valid; otherwise nothing changes.
    </p>
    <form method="post" action="${`${base}/admin/idp`}" enctype="multipart/form-data">
      <input type="hidden" name="_csrf" value="${token}" />
      <label for="certificate">IdP signing certificate file (.pem, .crt, .cer)</label>
      <input
        id="certificate"
        name="certificate"
        type="file"
        accept=".pem,.crt,.cer,application/x-x509-ca-cert,application/x-pem-file"
      />
      <label for="certificatePem">…or paste the certificate (PEM)</label>
      <textarea
        id="certificatePem"
        name="certificatePem"
        rows="5"
        spellcheck="false"
        placeholder="-----BEGIN CERTIFICATE-----"
      ></textarea>
      <label for="ssoUrl">SAML Protocol URL</label>
      <input
        id="ssoUrl"
        name="ssoUrl"
        type="url"
        required
        value="${ssoUrl}"
        placeholder="https://TENANT.auth0.com/samlp/CLIENT_ID"
      />
      <label for="idpEntityId"
        >IdP entity ID <span class="muted">(optional, e.g. urn:TENANT.auth0.com)</span></label
      >
      <input id="idpEntityId" name="idpEntityId" value="${entityId}" spellcheck="false" />
      <button type="submit">Import</button>
    </form>
    <h3>…or import the IdP metadata</h3>
    <form method="post" action="${`${base}/admin/idp/metadata`}" enctype="multipart/form-data">
      <input type="hidden" name="_csrf" value="${token}" />
      <label for="metadata">IdP metadata XML file</label>
      <input
        id="metadata"
        name="metadata"
        type="file"
        required
        accept=".xml,application/xml,text/xml,application/samlmetadata+xml"
      />
      <button type="submit">Import metadata</button>
    </form>
  </section>`;
}

/**
 * Who would still get in with SSO only: the admins who can sign in with single sign-on now, or why the
 * switch is refused when there are none.
 */
function ssoAdminsBlock(admins: User[], ssoOnly: boolean, acceptChecked: boolean): Html {
  if (admins.length > 0) {
    return html`<div class="sso-admins">
      <p class="muted">
        Administrators who can sign in with single
        sign-on${ssoOnly ? '' : ' (they keep access with SSO only)'}:
      </p>
      <ul>
        ${admins.map(
          (u) =>
            html`<li>
              <strong class="wrap">${userLabel(u)}</strong>
              <span class="muted">· last sign-in ${fmtTime(u.lastLoginAt)}</span>
            </li>`,
        )}
      </ul>
    </div>`;
  }
  return html`<div class="warning sso-admins">
    <p>
      <strong>No administrator has signed in with single sign-on yet.</strong> Turning SSO only on now would
      leave only password administrators, and they lose access with it: the switch is refused. Sign in once
      with single sign-on as a member of an admin group (or give an SSO user the admin role below) first.
    </p>
    ${
      ssoOnly
        ? ''
        : html`<label class="check"
            ><input
              type="checkbox"
              name="acceptCliRecoveryOnly"
              value="on"
              ${acceptChecked ? html` checked` : ''}
            />
            Turn it on anyway: I accept that only the operator's command line can let anyone back in</label
          >`
    }
  </div>`;
}

function settingsSection(
  base: string,
  token: string,
  account: Account,
  conn: ConnectionJson | null,
  form: FormState,
  admins: User[],
): Html {
  const s = form.settings ?? {
    idpInitiated: account.settings.idpInitiated,
    allowedEmailDomains: account.settings.allowedEmailDomains.join(', '),
    adminGroups: account.settings.adminGroups.join('\n'),
    ssoOnly: account.settings.ssoOnly,
    loginConfirmation: account.settings.loginConfirmation,
    requireEmail: account.settings.requireEmail,
    acceptCliRecoveryOnly: false,
  };
  const active = conn?.status === 'active';
  return html`<section>
    <h2>Settings</h2>
    <form method="post" action="${`${base}/admin/settings`}">
      <input type="hidden" name="_csrf" value="${token}" />
      <label class="check"
        ><input type="checkbox" name="idpInitiated" value="on" ${s.idpInitiated ? html` checked` : ''} />
        Allow IdP-initiated sign-in (the application tile in Auth0)</label
      >
      <label class="check"
        ><input
          type="checkbox"
          name="loginConfirmation"
          value="on"
          ${s.loginConfirmation ? html` checked` : ''}
        />
        Ask users to confirm a sign-in that did not start on this site (protects against login CSRF)</label
      >
      <label class="check"
        ><input type="checkbox" name="requireEmail" value="on" ${s.requireEmail ? html` checked` : ''} />
        Require an e-mail address from the identity provider</label
      >
      <label for="allowedEmailDomains"
        >Allowed e-mail domains <span class="muted">(comma separated; empty allows every domain)</span></label
      >
      <input
        id="allowedEmailDomains"
        name="allowedEmailDomains"
        value="${s.allowedEmailDomains}"
        placeholder="example.com, example.org"
        spellcheck="false"
      />
      <label for="adminGroups"
        >Admin groups
        <span class="muted">(one IdP group per line; members become administrators here)</span></label
      >
      <textarea id="adminGroups" name="adminGroups" rows="3" spellcheck="false">${s.adminGroups}</textarea>
      <label class="check"
        ><input type="checkbox" name="ssoOnly" value="on" ${s.ssoOnly ? html` checked` : ''} /> SSO
        only</label
      >
      <p class="muted">
        SSO only switches off password sign-in for this account, including the bootstrap administrator you may
        be signed in with now: afterwards everyone signs in with single sign-on. It can be turned on only once
        single sign-on is active${active ? '' : ' (it is not yet: sign in once with SSO first)'}, and when an
        administrator has signed in with single sign-on.
      </p>
      ${ssoAdminsBlock(admins, account.settings.ssoOnly, s.acceptCliRecoveryOnly)}
      <button type="submit">Save settings</button>
    </form>
  </section>`;
}

const FLOW_LABELS: Readonly<Record<LoginFlow, string>> = {
  'sp-initiated': 'SSO, started here',
  'idp-initiated': 'SSO, from the IdP',
  password: 'password',
  'setup-link': 'setup link',
};
const GROUPS_SHOWN = 10;

function roleCell(u: UserView): Html {
  if (u.roleOverride !== null) {
    return html`<strong>${u.role}</strong> <span class="badge badge-override">set by an admin</span>`;
  }
  return html`${u.role} <span class="muted">${u.kind === 'sso' ? '(from groups)' : '(local)'}</span>`;
}

/** One user row: what the admin needs to decide, and the forms to act (CSRF-protected posts). */
function userRow(base: string, token: string, u: UserView, self: string): Html {
  const action = `${base}/admin/users/${u.id}`;
  const groups = u.groups.slice(0, GROUPS_SHOWN);
  const more = u.groups.length - groups.length;
  const who = u.email ?? u.nameId;
  return html`<tr class="${u.disabled ? 'user-disabled' : ''}">
    <td class="who">
      <strong>${who}</strong>${u.id === self ? html` <span class="badge badge-none">you</span>` : ''}
      ${u.name ? html`<br /><span class="muted">${u.name}</span>` : ''}
      ${u.email !== null && u.kind === 'sso' ? html`<br /><span class="muted">NameID <code>${u.nameId}</code></span>` : ''}
    </td>
    <td class="wrap">
      ${groups.length > 0 ? groups.map((g, i) => html`${i > 0 ? ', ' : ''}<code>${g}</code>`) : html`<span class="muted">none</span>`}
      ${more > 0 ? html` <span class="muted">and ${more} more</span>` : ''}
    </td>
    <td>${roleCell(u)}</td>
    <td>${u.disabled ? html`<span class="outcome outcome-failure">disabled</span>` : 'enabled'}</td>
    <td>
      ${fmtTime(u.lastLoginAt)}<br /><span class="muted"
        >${u.lastLoginFlow ? FLOW_LABELS[u.lastLoginFlow] : u.kind === 'local' ? 'password' : '—'}</span
      >
    </td>
    <td class="actions">
      <form method="post" action="${action}" class="inline">
        <input type="hidden" name="_csrf" value="${token}" />
        <input type="hidden" name="disabled" value="${u.disabled ? 'false' : 'true'}" />
        <button type="submit" class="secondary">${u.disabled ? 'Enable' : 'Disable'}</button>
      </form>
      <form method="post" action="${action}" class="inline role-form">
        <input type="hidden" name="_csrf" value="${token}" />
        <select name="role" aria-label="${`Role of ${who}`}">
          <option value="auto" ${u.roleOverride === null ? html`selected` : ''}>
            ${u.kind === 'sso' ? 'automatic (groups)' : 'automatic'}
          </option>
          <option value="admin" ${u.roleOverride === 'admin' ? html`selected` : ''}>admin</option>
          <option value="member" ${u.roleOverride === 'member' ? html`selected` : ''}>member</option>
        </select>
        <button type="submit" class="secondary">Set role</button>
      </form>
    </td>
  </tr>`;
}

function usersSection(base: string, token: string, users: UserView[], self: string): Html {
  const shown = users.slice(0, MAX_USERS_SHOWN);
  return html`<section id="users">
    <h2>Users <span class="muted">(${users.length})</span></h2>
    <p class="muted">
      Groups are as the identity provider last sent them. A role set by an admin wins over the groups;
      "automatic" follows the admin groups again. Disabling a user ends their sessions at once. The last
      administrator who can sign in cannot be disabled or demoted here.
    </p>
    ${
      users.length === 0
        ? html`<p class="muted">No users yet. Users are created at their first single sign-on.</p>`
        : html`<p class="scroll-hint muted">Scroll the table sideways to see every column.</p>
            <div class="table-wrap" tabindex="0" role="region" aria-label="Users">
              <table class="users">
                <thead>
                  <tr>
                    <th>User</th>
                    <th>IdP groups</th>
                    <th>Role</th>
                    <th>Status</th>
                    <th>Last sign-in</th>
                    <th>Actions</th>
                  </tr>
                </thead>
                <tbody>
                  ${shown.map((u) => userRow(base, token, u, self))}
                </tbody>
              </table>
            </div>
            ${users.length > shown.length ? html`<p class="muted">Showing the first ${shown.length}.</p>` : ''}`
    }
  </section>`;
}

/** One event of the trail in full: what a user's reference leads the admin to. */
function referenceBody(base: string, ref: string, e: AuditEvent | null): Html {
  const field = (label: string, value: string | null) =>
    value
      ? html`<dt>${label}</dt>
          <dd><code class="wrap">${value}</code></dd>`
      : '';
  return html`<div class="admin">
    <h1>Reference <code>${ref}</code></h1>
    ${
      e === null
        ? html`<p class="error">
            No event of this account has this reference. References of requests that named no account, or that
            were rate limited, are only in the server log.
          </p>`
        : html`<dl class="values">
              <dt>Time</dt>
              <dd>${fmtTime(e.at)}</dd>
              <dt>Outcome</dt>
              <dd><span class="${`outcome outcome-${e.outcome}`}">${e.outcome}</span></dd>
              <dt>Code</dt>
              <dd><code>${e.code}</code></dd>
              ${field('Subject', e.subject)} ${field('User id', e.userId)} ${field('Client IP', e.clientIp)}
              ${field('Detail', e.detail)} ${field('Expected', e.expected)} ${field('Received', e.received)}
            </dl>
            ${e.hint ? html`<p class="hint">${e.hint}</p>` : ''}`
    }
    <p><a href="${`${base}/admin#audit`}">Back to the setup page</a></p>
  </div>`;
}

function auditSection(base: string, events: AuditEvent[]): Html {
  const rows = events.map(
    (e) =>
      html`<tr>
        <td>${fmtTime(e.at)}</td>
        <td><span class="${`outcome outcome-${e.outcome}`}">${e.outcome}</span></td>
        <td class="wrap">
          <code>${e.code}</code>
          ${
            e.outcome === 'failure' && e.hint
              ? html`<p class="hint">${e.hint}</p>
                  ${e.expected ? html`<p class="muted">Expected: <code>${e.expected}</code></p>` : ''}
                  ${e.received ? html`<p class="muted">Received: <code>${e.received}</code></p>` : ''}`
              : ''
          }
        </td>
        <td class="wrap">${e.subject ?? ''}</td>
        <td class="wrap">${e.detail ?? ''}</td>
        <td><code>${e.referenceId}</code></td>
      </tr>`,
  );
  return html`<section id="audit">
    <h2>Audit trail</h2>
    <form method="get" action="${`${base}/admin/reference`}" class="reference-search">
      <label for="ref">Look up the reference of an error page <span class="muted">(ref_…)</span></label>
      <input id="ref" name="ref" required pattern="ref_[0-9a-f]{16}" placeholder="ref_0123456789abcdef" />
      <button type="submit" class="secondary">Look up</button>
    </form>
    <h3>Recent sign-ins and changes</h3>
    ${
      events.length === 0
        ? html`<p class="muted">No sign-in attempts yet.</p>`
        : table(['Time', 'Outcome', 'Code and what to change', 'Subject', 'Detail', 'Reference'], rows)
    }
  </section>`;
}

/** The admin pages (GET /admin and its form posts), for account admins on their own account. */
export function adminViewsRouter(opts: {
  connections: ConnectionService;
  sso: SsoService;
  links: SetupLinkService;
  stores: Stores;
  users: UserAdmin;
  bots: BotService;
  baseUrl: string;
  perMinute: number;
}): Router {
  const router = Router();
  /** Who the trail names for a change made on these pages. */
  const actorOf = (req: Request): Actor => {
    const user = req.session.user!;
    return { kind: 'session', userId: user.userId, label: user.email ?? user.nameId };
  };
  const limit = perClientLimit(opts.perMinute);
  const form = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 10 });
  const limits = { fileSize: 512 * 1024, files: 1, fields: 6, fieldSize: 256 * 1024, parts: 8 };
  const certUpload = multer({ storage: multer.memoryStorage(), limits }).single('certificate');
  const metadataUpload = multer({ storage: multer.memoryStorage(), limits }).single('metadata');

  /** Only an admin session passes; everyone else gets the sign-in page (before any body is parsed). */
  const requireAdmin: RequestHandler = (req, res, next) => {
    const user = req.session?.user;
    if (user?.role !== 'admin') return signInPage(req, res, user !== undefined);
    next();
  };

  async function render(
    req: Request,
    res: Response,
    status: number,
    notice: Notice | null,
    formState: FormState = {},
  ) {
    const user = req.session.user!;
    const account = await opts.connections.account(user.accountSlug);
    const stored = await opts.stores.connections.getByAccount(account.id);
    const conn = stored ? connectionView(opts.baseUrl, account, stored) : null;
    const [users, events, links, botList] = await Promise.all([
      opts.stores.users.listByAccount(account.id),
      opts.stores.audit.list(account.id, { limit: AUDIT_SHOWN }),
      opts.links.list(account),
      opts.bots.listBots(account),
    ]);
    const admins = ssoAdmins({ account, connection: stored, users });
    const bots = await Promise.all(
      botList
        .slice(0, BOTS_SHOWN)
        .map(async (bot) => ({ bot, tokens: await opts.bots.listTokens(account, bot.id) })),
    );
    const base = req.baseUrl;
    const token = csrfToken(res);
    // The test sign-in form's answer redirects to the IdP: that origin must be a form-action source.
    if (conn) allowFormRedirectTo(res, conn.ssoUrl);
    const noticeHtml = notice
      ? notice.kind === 'ok'
        ? html`<div class="ok notice" role="status"><p>${notice.message}</p></div>`
        : html`<div class="error notice" role="alert">
            <p>${notice.message}</p>
            <p class="muted">Error code <code>${notice.code ?? ''}</code></p>
          </div>`
      : '';
    const body = html`<div class="admin">
      <header class="topbar">
        <p class="muted">
          Signed in as
          ${
            user.via === 'setup-link'
              ? html`<strong>a setup link</strong> ·`
              : html`<strong>${user.email ?? user.nameId}</strong>
                  (${user.via === 'password' ? 'password' : 'SSO'}) ·`
          }
          account <code>${account.slug}</code>
        </p>
        <form method="post" action="${`${base}/logout`}" class="inline">
          <input type="hidden" name="_csrf" value="${token}" />
          <button type="submit" class="secondary">Sign out</button>
        </form>
      </header>
      <h1>Single sign-on for ${account.name}</h1>
      ${noticeHtml} ${connectionSection(conn)} ${auth0Section(opts.baseUrl, account)}
      ${importSection(base, token, conn, formState)} ${testSection(base, token, conn)}
      ${auth0JsonSection(opts.baseUrl, account)}
      ${settingsSection(base, token, account, conn, formState, admins)}
      ${usersSection(
        base,
        token,
        users.map((u) => userView(u, account)),
        user.userId,
      )}
      ${botsSection(base, token, bots, formState.issued ?? null, formState.bot ?? null)}
      ${setupLinksSection(base, token, links, user.setupLinkId)} ${auditSection(base, events)}
      <script src="${`${base}/assets/copy.js`}" defer></script>
    </div>`;
    res
      .status(status)
      .set('Cache-Control', 'no-store')
      .type('html')
      .send(page(`SSO setup · ${account.name}`, body));
  }

  router.get('/admin', requireAdmin, async (req, res) => {
    const saved = typeof req.query.saved === 'string' ? req.query.saved : '';
    const message = Object.hasOwn(SAVED, saved) ? SAVED[saved] : undefined;
    await render(req, res, 200, message ? { kind: 'ok', message } : null);
  });

  /**
   * A rejected form post re-renders the page with the catalogued message and the error's status. Only for
   * an admin session and form errors: rate limiting and unexpected errors go to the app's error handler.
   */
  const formErrors =
    (which: 'idp' | 'metadata' | 'settings' | 'user' | 'bots'): ErrorRequestHandler =>
    (err, req, res, next) => {
      const error = toFormError(err);
      if (
        !error ||
        error.code === 'RATE_LIMITED' ||
        error.status >= 500 ||
        req.session?.user?.role !== 'admin'
      ) {
        next(err);
        return;
      }
      const body = (req.body ?? {}) as Record<string, unknown>;
      const formState: FormState = {};
      if (which === 'idp' && error.code !== 'CSRF_INVALID') {
        formState.idp = { ssoUrl: str(body.ssoUrl), idpEntityId: str(body.idpEntityId) };
      }
      if (which === 'bots' && error.code !== 'CSRF_INVALID' && req.path === '/admin/bots') {
        formState.bot = { name: str(body.name), role: str(body.role) };
      }
      if (which === 'settings' && error.code !== 'CSRF_INVALID') {
        formState.settings = {
          idpInitiated: checked(body.idpInitiated),
          allowedEmailDomains: str(body.allowedEmailDomains),
          adminGroups: str(body.adminGroups),
          ssoOnly: checked(body.ssoOnly),
          loginConfirmation: checked(body.loginConfirmation),
          requireEmail: checked(body.requireEmail),
          acceptCliRecoveryOnly: checked(body.acceptCliRecoveryOnly),
        };
      }
      render(
        req,
        res,
        error.status,
        { kind: 'error', message: error.message, code: error.code },
        formState,
      ).catch(next);
    };

  router.post(
    '/admin/idp',
    limit,
    requireAdmin,
    certUpload,
    verifyCsrf,
    async (req: Request, res: Response) => {
      await opts.connections.importIdp(req.session.user!.accountSlug, parseIdpForm(req));
      res.redirect(303, `${req.baseUrl}/admin?saved=idp`);
    },
    formErrors('idp'),
  );

  router.post(
    '/admin/idp/metadata',
    limit,
    requireAdmin,
    metadataUpload,
    verifyCsrf,
    async (req: Request, res: Response) => {
      await opts.connections.importIdp(req.session.user!.accountSlug, parseMetadataForm(req));
      res.redirect(303, `${req.baseUrl}/admin?saved=metadata`);
    },
    formErrors('metadata'),
  );

  router.post(
    '/admin/settings',
    limit,
    requireAdmin,
    form,
    verifyCsrf,
    async (req: Request, res: Response) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      await opts.connections.updateSettings(req.session.user!.accountSlug, parseSettingsForm(body), {
        acceptCliRecoveryOnly: checked(body.acceptCliRecoveryOnly),
        actor: actorOf(req),
        clientIp: req.ip ?? null,
      });
      res.redirect(303, `${req.baseUrl}/admin?saved=settings`);
    },
    formErrors('settings'),
  );

  // A user row's forms: Disable/Enable, or the role (admin, member, or automatic = no override).
  router.post(
    '/admin/users/:userId',
    limit,
    requireAdmin,
    form,
    verifyCsrf,
    async (req: Request, res: Response) => {
      const account = await opts.connections.account(req.session.user!.accountSlug);
      const userId = String(req.params.userId);
      if (!/^[0-9a-f-]{36}$/.test(userId)) throw new SpError('USER_NOT_FOUND');
      await opts.users.update(
        account,
        userId,
        parseUserForm((req.body ?? {}) as Record<string, unknown>),
        actorOf(req),
        { enforceLockoutRule: true, clientIp: req.ip ?? null },
      );
      res.redirect(303, `${req.baseUrl}/admin?saved=user#users`);
    },
    formErrors('user'),
  );

  // The reference of an error page, looked up in this admin's account only.
  router.get('/admin/reference', limit, requireAdmin, async (req: Request, res: Response) => {
    const ref = typeof req.query.ref === 'string' ? req.query.ref.trim() : '';
    if (!/^ref_[0-9a-f]{16}$/.test(ref)) throw new SpError('NOT_FOUND', { detail: 'malformed reference' });
    const account = await opts.connections.account(req.session.user!.accountSlug);
    const event = await opts.stores.audit.getByReference(ref);
    const mine = event !== null && event.accountId === account.id ? event : null;
    res
      .status(mine ? 200 : 404)
      .set('Cache-Control', 'no-store')
      .type('html')
      .send(page(`Reference ${ref}`, referenceBody(req.baseUrl, ref, mine)));
  });

  router.post(
    '/admin/setup-links/:id/revoke',
    limit,
    requireAdmin,
    form,
    verifyCsrf,
    async (req: Request, res: Response) => {
      const account = await opts.connections.account(req.session.user!.accountSlug);
      await opts.links.revoke(account, String(req.params.id));
      if (req.session.user!.setupLinkId === String(req.params.id)) {
        // The admin revoked the link this browser signed in with: say so, rather than a bare sign-in page.
        await new Promise<void>((resolve) => req.session.destroy(() => resolve()));
        res
          .set('Cache-Control', 'no-store')
          .type('html')
          .send(
            page(
              'Setup link revoked',
              html`<h1>Setup link revoked</h1>
                <p>The link you signed in with was revoked, so this browser is now signed out.</p>
                <p><a href="${`${req.baseUrl}/`}">Start page</a></p>`,
            ),
          );
        return;
      }
      res.redirect(303, `${req.baseUrl}/admin?saved=link-revoked`);
    },
  );

  // Test sign-in: make a one-time test link and follow it (its answer redirects on to the IdP).
  router.post('/admin/tests', limit, requireAdmin, form, verifyCsrf, async (req: Request, res: Response) => {
    const test = await opts.sso.createTest(req.session.user!.accountSlug);
    res.set('Cache-Control', 'no-store').redirect(303, new URL(test.loginUrl).pathname);
  });

  // The verdict. Its details (fingerprints, entity IDs, hints) are for this account's admins; the
  // browser that ran the test for someone else only learns that it finished.
  router.get('/admin/tests/:id', limit, async (req: Request, res: Response) => {
    const user = req.session?.user;
    res.set('Cache-Control', 'no-store').type('html');
    if (user?.role !== 'admin') {
      res.send(
        page(
          'Test sign-in',
          html`<h1>Test sign-in finished</h1>
            <p>
              Nobody was signed in. The administrator who started the test sees the result on the setup page.
            </p>`,
        ),
      );
      return;
    }
    const test = await opts.sso.getTest(user.accountSlug, String(req.params.id));
    res.send(page('Test sign-in', verdictBody(req.baseUrl, test)));
  });

  /** The signed-in admin's account and their identity as the actor of bot changes. */
  const botContext = async (req: Request) => {
    const user = req.session.user!;
    return {
      account: await opts.connections.account(user.accountSlug),
      actor: { kind: 'user' as const, userId: user.userId },
    };
  };

  router.post(
    '/admin/bots',
    limit,
    requireAdmin,
    form,
    verifyCsrf,
    async (req: Request, res: Response) => {
      const { account, actor } = await botContext(req);
      await opts.bots.createBot(account, parseBotForm((req.body ?? {}) as Record<string, unknown>), actor);
      res.redirect(303, `${req.baseUrl}/admin?saved=bot#bots`);
    },
    formErrors('bots'),
  );

  router.post(
    '/admin/bots/:botId/tokens',
    limit,
    requireAdmin,
    form,
    verifyCsrf,
    async (req: Request, res: Response) => {
      const { account, actor } = await botContext(req);
      const botId = req.params.botId as string;
      const issued = await opts.bots.issueToken(
        account,
        botId,
        parseTokenForm((req.body ?? {}) as Record<string, unknown>),
        actor,
      );
      const bot = (await opts.bots.listBots(account)).find((b) => b.id === botId);
      // Rendered in this response, never behind a redirect: the token must not travel in a URL or be
      // kept anywhere (the page is Cache-Control: no-store).
      await render(req, res, 201, null, { issued: { ...issued, botName: bot?.name ?? botId } });
    },
    formErrors('bots'),
  );

  router.post(
    '/admin/bots/:botId/tokens/:tokenId/revoke',
    limit,
    requireAdmin,
    form,
    verifyCsrf,
    async (req: Request, res: Response) => {
      const { account } = await botContext(req);
      await opts.bots.revokeToken(account, req.params.botId as string, req.params.tokenId as string);
      res.redirect(303, `${req.baseUrl}/admin?saved=token-revoked#bots`);
    },
    formErrors('bots'),
  );

  router.post(
    '/admin/bots/:botId/disable',
    limit,
    requireAdmin,
    form,
    verifyCsrf,
    async (req: Request, res: Response) => {
      const { account } = await botContext(req);
      await opts.bots.disableBot(account, req.params.botId as string);
      res.redirect(303, `${req.baseUrl}/admin?saved=bot-disabled#bots`);
    },
    formErrors('bots'),
  );

  return router;
}
