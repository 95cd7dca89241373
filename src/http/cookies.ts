import type { Request } from 'express';

/** Reads one cookie from the Cookie header (no cookie-parser needed for the one cookie we read). */
export function readCookie(req: Request, name: string): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** The cookies whose name starts with `prefix`, in the order the browser sent them. */
export function readCookiesStartingWith(req: Request, prefix: string): { name: string; value: string }[] {
  const header = req.headers.cookie;
  if (!header) return [];
  const found: { name: string; value: string }[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (name.startsWith(prefix)) found.push({ name, value: part.slice(eq + 1).trim() });
  }
  return found;
}
