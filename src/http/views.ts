import { readFileSync } from 'node:fs';
import type { Site } from './site.js';

const layout = readFileSync(new URL('../../views/layout.html', import.meta.url), 'utf8');

/** HTML-escapes a value for text and attribute contexts. */
export function esc(value: unknown): string {
  const text =
    typeof value === 'string' ? value : value === null || value === undefined ? '' : JSON.stringify(value);
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A raw HTML fragment built only from escaped parts. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** Tagged template that escapes every interpolation unless it is already {@link Html}. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    const part = Array.isArray(v)
      ? v.map((x) => (x instanceof Html ? x.value : esc(x))).join('')
      : v instanceof Html
        ? v.value
        : esc(v);
    out += part + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

/**
 * Renders a full page in views/layout.html for `site` (its path prefix and branding: the stylesheet
 * links carry the prefix, so the page works wherever the router is mounted). Every slot is filled in
 * one pass over the layout alone: content put into one slot is never searched again, so a title
 * containing `{{body}}` cannot move the body (or anything else) into another slot.
 */
export function page(site: Site, title: string, body: Html): string {
  const slots: Record<string, string> = {
    title: esc(title),
    base: esc(site.base),
    stylesheets: site.stylesheets.map((href) => `\n<link rel="stylesheet" href="${esc(href)}">`).join(''),
    body: body.value,
  };
  return layout.replace(/\{\{(title|base|stylesheets|body)\}\}/g, (_m, name: string) => slots[name] ?? '');
}

/**
 * A table in a box that scrolls sideways on narrow screens, with a visible frame there so the reader
 * sees it can scroll.
 */
export function table(headers: readonly string[], rows: readonly Html[]): Html {
  return html`<div class="table-wrap">
    <table>
      <thead>
        <tr>
          ${headers.map((h) => html`<th>${h}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${rows}
      </tbody>
    </table>
  </div>`;
}
