/** Formatting shared by the admin page's sections. */

/** An ISO timestamp as `YYYY-MM-DD HH:MM:SS UTC`, or `—` when there is none. */
export const fmtTime = (iso: string | null): string =>
  iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC') : '—';
