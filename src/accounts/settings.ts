/**
 * The one schema for a change of account settings. The admin API (JSON) and the admin page's settings
 * form (urlencoded) both end here, so a value one of them accepts the other accepts too, with the same
 * message when it does not.
 */
import { z } from 'zod';
import { SpError } from '../errors.js';
import type { AccountSettings } from '../storage/types.js';

/** At most this many e-mail domains, and as many admin groups. */
export const MAX_SETTINGS_LIST = 100;

const DOMAIN_NAME = /^[a-z0-9.-]+\.[a-z]{2,63}$/;

/** A list without repeats, in the order given. */
const unique = <T>(values: T[]): T[] => [...new Set(values)];

const settingsPatchSchema = z
  .object({
    idpInitiated: z.boolean(),
    allowedEmailDomains: z
      .array(z.string().trim().toLowerCase().max(253).regex(DOMAIN_NAME))
      .max(MAX_SETTINGS_LIST)
      .transform(unique),
    allowSha1: z.boolean(),
    adminGroups: z.array(z.string().trim().min(1).max(256)).max(MAX_SETTINGS_LIST).transform(unique),
    ssoOnly: z.boolean(),
    loginConfirmation: z.boolean(),
    requireEmail: z.boolean(),
    // Not a setting: with `ssoOnly` (or any change that would remove the last admin), the caller accepts
    // that only the operator's command line can let anyone back in (see ConnectionService.updateSettings).
    acceptCliRecoveryOnly: z.boolean(),
  })
  .partial()
  .strict();

/** The fields a settings change may name. */
export const SETTINGS_FIELDS: readonly string[] = Object.keys(settingsPatchSchema.shape);

/** A checked settings change: the settings to write, and whether the caller accepts CLI-only recovery. */
export interface SettingsChange {
  patch: Partial<AccountSettings>;
  acceptCliRecoveryOnly: boolean;
}

/**
 * Checks a settings change. `describe` turns the schema's refusal into the sentence the caller shows
 * (the API and the form word field names differently); the error is SETTINGS_INVALID.
 */
export function parseSettingsChange(input: unknown, describe: (error: z.ZodError) => string): SettingsChange {
  const parsed = settingsPatchSchema.safeParse(input);
  if (!parsed.success) {
    throw new SpError('SETTINGS_INVALID', {
      message: `The account settings are invalid: ${describe(parsed.error)}`,
      detail: parsed.error.message,
    });
  }
  const { acceptCliRecoveryOnly, ...patch } = parsed.data;
  return { patch, acceptCliRecoveryOnly: acceptCliRecoveryOnly === true };
}
