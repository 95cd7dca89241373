import type { z } from 'zod';

const MAX_ISSUES = 5;
const name = (key: PropertyKey): string => `"${String(key).slice(0, 64)}"`;

/**
 * A refused body as one sentence that names each offending field and says which fields exist, so an
 * API caller can fix the request without reading the source. Only field names and what is wrong
 * are quoted (in plain words, never zod's own text), never the values sent.
 */
export function fieldMessage(error: z.ZodError, allowed: readonly string[]): string {
  const parts = error.issues.slice(0, MAX_ISSUES).map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return `unknown field${issue.keys.length === 1 ? '' : 's'} ${issue.keys.slice(0, MAX_ISSUES).map(name).join(', ')}`;
    }
    const field = issue.path.length > 0 ? `field ${name(issue.path.map(String).join('.'))}` : 'the body';
    return `${field}: ${describeIssue(issue)}`;
  });
  return `${parts.join('; ')}. Send a JSON object with only ${allowed.map(name).join(', ')}.`;
}

/** A zod issue in words an admin reads: never zod's own text, which can quote a regular expression. */
export function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected === 'array' ? 'a list' : issue.expected === 'boolean' ? 'true or false' : `a ${issue.expected}`}`;
    case 'invalid_format':
      return 'not a domain name like example.com';
    case 'too_big':
      return `at most ${String(issue.maximum)}`;
    case 'too_small':
      return `at least ${String(issue.minimum)}`;
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return 'invalid value';
  }
}
