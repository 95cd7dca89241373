import { describe, expect, it } from 'vitest';
import { parseSettingsChange, SETTINGS_FIELDS } from '../../src/accounts/settings.js';
import { isSpError } from '../../src/errors.js';
import { parseSettingsForm } from '../../src/http/admin-views/forms.js';
import { fieldMessage } from '../../src/http/validation.js';

const api = (body: unknown) => parseSettingsChange(body, (e) => fieldMessage(e, SETTINGS_FIELDS));

/** The same lists, as the API takes them and as the settings form posts them. */
const cases: { domains: string[]; groups: string[]; ok: boolean }[] = [
  { domains: ['example.com'], groups: ['admins'], ok: true },
  { domains: ['Example.COM', 'example.com'], groups: ['admins', 'admins'], ok: true },
  { domains: ['not_a_domain'], groups: [], ok: false },
  { domains: [`${'a'.repeat(250)}.com`], groups: [], ok: false },
  { domains: [], groups: ['g'.repeat(257)], ok: false },
  { domains: Array.from({ length: 101 }, (_, i) => `d${i}.example`), groups: [], ok: false },
  { domains: [], groups: Array.from({ length: 101 }, (_, i) => `group ${i}`), ok: false },
];

describe('account settings: one schema for the admin API and the settings form', () => {
  it.each(cases)('API and form agree on %j', ({ domains, groups, ok }) => {
    const fromApi = () => api({ allowedEmailDomains: domains, adminGroups: groups });
    const fromForm = () =>
      parseSettingsForm({ allowedEmailDomains: domains.join(', '), adminGroups: groups.join('\n') });
    if (ok) {
      expect(fromForm().patch.allowedEmailDomains).toEqual(fromApi().patch.allowedEmailDomains);
      expect(fromForm().patch.adminGroups).toEqual(fromApi().patch.adminGroups);
    } else {
      expect(fromApi).toThrow(expect.toSatisfy((e: unknown) => isSpError(e, 'SETTINGS_INVALID')));
      expect(fromForm).toThrow(expect.toSatisfy((e: unknown) => isSpError(e, 'SETTINGS_INVALID')));
    }
  });

  it('normalises domains the same way on both paths (trimmed, lower case, no repeats)', () => {
    expect(api({ allowedEmailDomains: [' Example.COM ', 'example.com'] }).patch.allowedEmailDomains).toEqual([
      'example.com',
    ]);
    expect(
      parseSettingsForm({ allowedEmailDomains: 'Example.COM,example.com' }).patch.allowedEmailDomains,
    ).toEqual(['example.com']);
  });

  it('the form names its own field and the value it refused, never a regular expression', () => {
    let message = '';
    try {
      parseSettingsForm({ allowedEmailDomains: 'example.com, bad_domain' });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('Allowed e-mail domains: "bad_domain" is not a domain name like example.com');
    expect(message).not.toMatch(/\[a-z|\^|\$\//);
  });

  it('carries the CLI-only recovery acknowledgement apart from the settings', () => {
    const change = parseSettingsForm({ ssoOnly: 'on', acceptCliRecoveryOnly: 'on' });
    expect(change.acceptCliRecoveryOnly).toBe(true);
    expect(change.patch).not.toHaveProperty('acceptCliRecoveryOnly');
    expect(api({ ssoOnly: true }).acceptCliRecoveryOnly).toBe(false);
  });
});
