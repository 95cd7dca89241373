import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorCatalog, isSpError, SpError, type ErrorCode } from '../../src/errors.js';

const doc = readFileSync(new URL('../../docs/ERRORS.md', import.meta.url), 'utf8');

/** `| \`CODE\` | 400 | when | what |` rows of docs/ERRORS.md → code → documented statuses. */
function documentedRows(markdown: string): Map<string, number[]> {
  const rows = new Map<string, number[]>();
  for (const line of markdown.split('\n')) {
    const m = /^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|\s*(\d{3})\s*\|(.*)\|\s*$/.exec(line);
    if (!m) continue;
    const [, code, status, rest] = m;
    // when + what: two non-empty cells
    const cells = rest!.split('|').map((c) => c.trim());
    expect(cells.length, `row ${code} needs "when" and "what" cells`).toBeGreaterThanOrEqual(2);
    expect(
      cells.every((c) => c.length > 0),
      `row ${code} has an empty cell`,
    ).toBe(true);
    rows.set(code!, [...(rows.get(code!) ?? []), Number(status)]);
  }
  return rows;
}

describe('docs/ERRORS.md', () => {
  const rows = documentedRows(doc);
  const codes = Object.keys(errorCatalog) as ErrorCode[];

  it('has a table header with code, status, when and what to do', () => {
    expect(doc).toMatch(/\|\s*Code\s*\|\s*HTTP status\s*\|\s*When it happens\s*\|\s*What to do\s*\|/);
  });

  it('documents every code of the catalogue', () => {
    const missing = codes.filter((c) => !rows.has(c));
    expect(missing).toEqual([]);
  });

  it('documents each code once, with the status of the catalogue', () => {
    const wrong = codes
      .filter((c) => rows.has(c))
      .filter((c) => rows.get(c)!.length !== 1 || rows.get(c)![0] !== errorCatalog[c].status)
      .map((c) => `${c}: documented ${rows.get(c)!.join(',')}, catalogue ${errorCatalog[c].status}`);
    expect(wrong).toEqual([]);
  });

  it('documents no code that the catalogue does not have', () => {
    const unknown = [...rows.keys()].filter((c) => !(c in errorCatalog));
    expect(unknown).toEqual([]);
  });
});

describe('SpError', () => {
  it('takes status and public message from the catalogue and keeps detail private', () => {
    const err = new SpError('CERT_EXPIRED', { detail: 'secret detail' });
    expect(err.code).toBe('CERT_EXPIRED');
    expect(err.status).toBe(400);
    expect(err.message).toBe(errorCatalog.CERT_EXPIRED.message);
    expect(err.message).not.toContain('secret detail');
    expect(err.detail).toBe('secret detail');
  });

  it('isSpError matches the type and, when given, the code', () => {
    const err = new SpError('FORBIDDEN');
    expect(isSpError(err)).toBe(true);
    expect(isSpError(err, 'FORBIDDEN')).toBe(true);
    expect(isSpError(err, 'AUTH_REQUIRED')).toBe(false);
    expect(isSpError(new Error('FORBIDDEN'), 'FORBIDDEN')).toBe(false);
    expect(isSpError({ code: 'FORBIDDEN', status: 403 })).toBe(false);
  });

  it('every catalogue entry has a 4xx/5xx status and a non-empty message', () => {
    for (const [code, entry] of Object.entries(errorCatalog)) {
      expect(entry.status, code).toBeGreaterThanOrEqual(400);
      expect(entry.status, code).toBeLessThan(600);
      expect(entry.message.length, code).toBeGreaterThan(0);
    }
  });
});
