/**
 * The admin page's form posts: parsing their bodies into service inputs, translating their errors to the
 * catalogue, and the values a rejected post puts back into the re-rendered form.
 */
import type { Request } from 'express';
import type { IdpImport } from '../../connections/service.js';
import { SpError, isSpError } from '../../errors.js';
import { parseSettingsChange, type SettingsChange } from '../../accounts/settings.js';
import type { UserAdminPatch } from '../../storage/types.js';
import { describeIssue } from '../validation.js';
import type { IssuedForPage } from './bots-section.js';

/** The OpenID Connect form's values (never the client secret). */
export interface OidcFormValues {
  issuer: string;
  clientId: string;
  clientType: string;
  tokenEndpointAuthMethod: string;
  authorizationUrl: string;
  tokenUrl: string;
  jwksUri: string;
  userinfoUrl: string;
}

const OIDC_FORM_FIELDS = [
  'issuer',
  'clientId',
  'clientType',
  'tokenEndpointAuthMethod',
  'authorizationUrl',
  'tokenUrl',
  'jwksUri',
  'userinfoUrl',
] as const;

/** Values a failed form post showed, put back into the re-rendered form. */
export interface FormState {
  /** The protocol part of the page to show (a rejected OIDC post shows the OIDC part). */
  protocol?: 'saml' | 'oidc';
  /** The OpenID Connect form a rejected post showed (the secret is never put back). */
  oidc?: OidcFormValues;
  idp?: { ssoUrl: string; idpEntityId: string };
  /** The metadata URL a rejected import showed. */
  metadataUrl?: string;
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

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
/** Whether a checkbox field was ticked. */
export const checked = (v: unknown): boolean => v === 'on' || v === 'true' || v === '1';

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

/** The settings form's field labels, as the page shows them. */
const SETTINGS_LABELS: Record<string, string> = {
  idpInitiated: 'IdP-initiated sign-in',
  allowedEmailDomains: 'Allowed e-mail domains',
  adminGroups: 'Admin groups',
  ssoOnly: 'SSO only',
  loginConfirmation: 'Login confirmation',
  requireEmail: 'Require an e-mail',
};

/**
 * Parses the settings form (urlencoded) into the shape the admin API takes and checks it with the same
 * schema (src/accounts/settings.ts); a refusal names the form's field and the value it refused.
 */
export function parseSettingsForm(body: Record<string, unknown>): SettingsChange {
  const input = {
    idpInitiated: checked(body.idpInitiated),
    allowedEmailDomains: splitList(str(body.allowedEmailDomains), /[,\s]+/),
    adminGroups: splitList(str(body.adminGroups), /\r?\n/),
    ssoOnly: checked(body.ssoOnly),
    loginConfirmation: checked(body.loginConfirmation),
    requireEmail: checked(body.requireEmail),
    acceptCliRecoveryOnly: checked(body.acceptCliRecoveryOnly),
  };
  return parseSettingsChange(
    input,
    (error) =>
      // The first refusal of each field: one bad domain is enough to name.
      error.issues
        .filter((issue, i) => error.issues.findIndex((other) => other.path[0] === issue.path[0]) === i)
        .map((issue) => {
          const [field, index] = issue.path;
          const label = SETTINGS_LABELS[String(field)] ?? String(field);
          const list = field === 'allowedEmailDomains' ? input.allowedEmailDomains : input.adminGroups;
          const value = typeof index === 'number' ? list[index] : undefined;
          return value === undefined
            ? `${label}: ${describeIssue(issue)}`
            : `${label}: "${value.slice(0, 100)}" is ${describeIssue(issue)}`;
        })
        .join('; ') + '. List e-mail domains separated by commas, and admin groups one per line.',
  );
}

/** The manual import form (multipart): a certificate file or pasted PEM, the SAML Protocol URL, an optional entity ID. */
export function parseIdpForm(req: Request): IdpImport {
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
export function parseUserForm(body: Record<string, unknown>): UserAdminPatch {
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

/** The metadata import form (multipart): the IdP metadata XML file. */
export function parseMetadataForm(req: Request): IdpImport {
  const file = req.file;
  if (!file || file.size === 0) {
    throw new SpError('METADATA_INVALID', { message: 'Choose the IdP metadata XML file to upload.' });
  }
  return { kind: 'metadata', metadataXml: file.buffer.toString('utf8') };
}

/** The metadata URL form (urlencoded): the IdP metadata URL. */
export function parseMetadataUrlForm(body: Record<string, unknown>): IdpImport {
  const url = str(body.metadataUrl).trim();
  if (url === '') {
    throw new SpError('METADATA_URL_INVALID', {
      message: 'metadataUrl: give the https:// address of the IdP metadata.',
    });
  }
  return { kind: 'metadataUrl', metadataUrl: url };
}

/**
 * The OpenID Connect form (urlencoded) in the shape of `PUT /api/accounts/:slug/oidc`: empty fields are
 * left out, so the one schema of the OIDC service (src/connections/oidc-service.ts) judges the rest
 * with the same field-named messages as the API.
 */
export function parseOidcForm(body: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const field of [...OIDC_FORM_FIELDS, 'clientSecret'] as const) {
    // The secret is taken as typed (a secret may start or end with a space); the rest is trimmed.
    const value = field === 'clientSecret' ? str(body[field]) : str(body[field]).trim();
    if (value !== '') out[field] = value;
  }
  return out;
}

/** Multer's limit errors, translated to the catalogue (other errors go to the app's error handler). */
export function toFormError(err: unknown): SpError | null {
  if (isSpError(err)) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  if (code === 'LIMIT_FILE_SIZE' || code === 'LIMIT_FIELD_VALUE')
    return new SpError('PAYLOAD_TOO_LARGE', { cause: err });
  if (code.startsWith('LIMIT_')) return new SpError('REQUEST_INVALID', { cause: err, detail: code });
  return null;
}

/** The forms whose rejected posts re-render the page (see {@link formStateAfter}). */
export type FormName = 'idp' | 'metadata' | 'metadataUrl' | 'refresh' | 'settings' | 'user' | 'bots' | 'oidc';

/**
 * The values a rejected post of `which` showed, to put back into the re-rendered form. A CSRF failure
 * puts nothing back.
 */
export function formStateAfter(
  which: FormName,
  error: SpError,
  path: string,
  body: Record<string, unknown>,
): FormState {
  const formState: FormState = {};
  if (which === 'oidc') {
    formState.protocol = 'oidc';
    if (error.code !== 'CSRF_INVALID' && path === '/admin/oidc') {
      const values = Object.fromEntries(OIDC_FORM_FIELDS.map((f) => [f, str(body[f])]));
      formState.oidc = values as unknown as OidcFormValues;
    }
  }
  if (which === 'idp' && error.code !== 'CSRF_INVALID') {
    formState.idp = { ssoUrl: str(body.ssoUrl), idpEntityId: str(body.idpEntityId) };
  }
  if (which === 'metadataUrl' && error.code !== 'CSRF_INVALID') {
    formState.metadataUrl = str(body.metadataUrl);
  }
  if (which === 'bots' && error.code !== 'CSRF_INVALID' && path === '/admin/bots') {
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
  return formState;
}
