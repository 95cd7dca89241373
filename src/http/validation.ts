import type { z } from 'zod';

const MAX_ISSUES = 5;
const name = (key: PropertyKey): string => `"${String(key).slice(0, 64)}"`;

/**
 * A refused body as one sentence that names each offending field and says which fields exist, so an
 * API caller can fix the request without reading the source. Only field names and zod's own wording
 * are quoted, never the values sent.
 */
export function fieldMessage(error: z.ZodError, allowed: readonly string[]): string {
  const parts = error.issues.slice(0, MAX_ISSUES).map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return `unknown field${issue.keys.length === 1 ? '' : 's'} ${issue.keys.slice(0, MAX_ISSUES).map(name).join(', ')}`;
    }
    const field = issue.path.length > 0 ? `field ${name(issue.path.map(String).join('.'))}` : 'the body';
    return `${field}: ${issue.message}`;
  });
  return `${parts.join('; ')}. Send a JSON object with only ${allowed.map(name).join(', ')}.`;
}
