/**
 * What the browser tests share (Debian's Chromium driven by playwright-core): the app on a free port
 * with SQLite in a temp dir, the local demo IdP as a child process, Chromium's launch flags, a page
 * factory that collects every console message and CSP violation, navigation waits that say where the
 * browser got stuck, and screenshots at laptop and phone width with a check that nothing sticks out.
 *
 * Not a test file itself (no `.test.ts`): the `*.browser.test.ts` files import it.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  chromium,
  type Browser,
  type BrowserContextOptions,
  type Page,
  type Response,
} from 'playwright-core';
import { afterAll, beforeAll, expect } from 'vitest';
import { createApp, type SamlSp } from '../../src/app.js';

/** Debian's Chromium; the browser tests are skipped when it is missing ({@link CHROMIUM_MISSING}). */
export const CHROMIUM = '/usr/bin/chromium';
/** True when {@link CHROMIUM} is not installed: for `describe.skipIf`. */
export const CHROMIUM_MISSING = !existsSync(CHROMIUM);
/** The operator's admin API token of the app (used by {@link BrowserTest.api}). */
const ADMIN_TOKEN = 'browser-admin-token-0123456789abcdef';
/** The acme account's admin with a password (`createLocalAdmin`), as the tests sign in on the form. */
export const ACME_ADMIN = {
  account: 'acme',
  email: 'admin@acme.test',
  password: 'correct horse battery staple',
} as const;
/** The repository root (the demo IdP runs from there, as a developer runs it). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where the browser tests leave their screenshots (git ignores it): look at them after a change. */
export const SCREENSHOTS_DIR = join(ROOT, 'test-results');

/** The path of the screenshot `name` (`name.png` under {@link SCREENSHOTS_DIR}, which is made if missing). */
export function screenshotPath(name: string): string {
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  return join(SCREENSHOTS_DIR, `${name}.png`);
}

/** The laptop viewport of {@link screenshots} (and of the tests' browser contexts). */
export const LAPTOP = { width: 1280, height: 900 } as const;
/** The phone viewport of {@link screenshots}. */
export const PHONE = { width: 390, height: 844 } as const;

/** The path of the phone-width screenshot next to the laptop one (`x.png` → `x-phone.png`). */
export const phone = (path: string): string => path.replace(/\.png$/, '-phone.png');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A free TCP port on 127.0.0.1 (the base URLs must be known before the app and the IdP start).
 *
 * @returns a port that was free a moment ago (the OS hands out a fresh one to the next caller)
 */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A fetch of the app's admin API with the operator's token, sending and accepting JSON. */
export type AdminApi = (path: string, init?: RequestInit) => Promise<globalThis.Response>;

/** The app that {@link startApp} started. */
interface BrowserTestApp {
  /** Its base URL, `http://127.0.0.1:PORT` (no trailing slash). */
  base: string;
  /** The SP inside (for its stores). */
  sp: SamlSp;
  /** The admin API of this app, with {@link ADMIN_TOKEN}. */
  api: AdminApi;
  /** Stops listening, closes the SP and removes the temp dir. */
  stop(): Promise<void>;
}

/**
 * Builds the app with `createApp` (test settings, SQLite in a fresh temp dir, {@link ADMIN_TOKEN}) and
 * serves it on a free port of 127.0.0.1. On a failure on the way, what was started is cleaned up.
 *
 * @param dirPrefix - the temp dir's name prefix (`sspk-browser-…-`), to tell the tests' dirs apart
 */
async function startApp(dirPrefix: string): Promise<BrowserTestApp> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), dirPrefix));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  let built: Awaited<ReturnType<typeof createApp>>;
  try {
    built = await createApp({
      config: {
        nodeEnv: 'test',
        baseUrl: base,
        databaseUrl: `sqlite:${join(dir, 'sp.db')}`,
        adminApiToken: ADMIN_TOKEN,
        sessionSecret: 'browser-session-secret-0123456789abcdef01',
        logLevel: 'silent',
      },
    });
  } catch (err) {
    removeDir();
    throw err;
  }
  const { app, sp, close } = built;
  let server: Server;
  try {
    server = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(port, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
    });
  } catch (err) {
    await close();
    removeDir();
    throw err;
  }
  const api: AdminApi = (path, init = {}) =>
    fetch(`${base}${path}`, {
      ...init,
      headers: {
        Authorization: `Bearer ${ADMIN_TOKEN}`,
        'Content-Type': 'application/json',
        Accept: 'application/json',
      },
    });
  return {
    base,
    sp,
    api,
    stop: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await close();
      removeDir();
    },
  };
}

/**
 * Creates an account with the operator's API (the operator's part of every browser test).
 *
 * @param api - the app's {@link AdminApi}
 */
export async function createAccount(api: AdminApi, slug: string, name: string): Promise<void> {
  const created = await api('/api/accounts', { method: 'POST', body: JSON.stringify({ slug, name }) });
  expect(created.status).toBe(201);
}

/** The demo IdP that {@link startDemoIdp} started. */
interface DemoIdp {
  /** Its origin as a connection names it, `http://localhost:PORT` (http is allowed for localhost only). */
  origin: string;
  /** Ends the IdP's whole process group (npx, tsx and node) and waits up to 5 s for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts the local demo IdP (scripts/demo-idp.ts) on a free port, exactly as a developer runs it:
 * `npx tsx scripts/demo-idp.ts` in its own process group, so that {@link DemoIdp.stop} ends npx, tsx
 * and node together. Resolves once it answers on `/` (within 45 s); throws with its output when it
 * exits or does not start, after ending it.
 *
 * @param spBase - the SP's base URL (DEMO_SP_BASE_URL: where the IdP posts its responses)
 */
async function startDemoIdp(spBase: string): Promise<DemoIdp> {
  const port = await freePort();
  const child = spawn('npx', ['tsx', 'scripts/demo-idp.ts'], {
    cwd: ROOT,
    env: { ...process.env, DEMO_IDP_PORT: String(port), DEMO_SP_BASE_URL: spBase },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const stop = async () => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    await Promise.race([exited, sleep(5_000)]);
  };
  try {
    const deadline = Date.now() + 45_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the demo IdP exited: ${output}`);
      const up = await fetch(`http://127.0.0.1:${port}/`).then(
        (r) => r.ok,
        () => false,
      );
      if (up) break;
      if (Date.now() > deadline) throw new Error(`the demo IdP did not start: ${output}`);
      await sleep(200);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { origin: `http://localhost:${port}`, stop };
}

/** Chromium's flags for the tests: headless, without sandbox, GPU, QUIC and background traffic. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches {@link CHROMIUM} with {@link CHROMIUM_ARGS}. */
function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS] });
}

/** What {@link useBrowserTest} started: the app and Chromium. */
export interface BrowserTest {
  /** The app's base URL, `http://127.0.0.1:PORT` (no trailing slash). */
  base: string;
  /** The SP inside the app (for its stores). */
  sp: SamlSp;
  /** The app's admin API, with {@link ADMIN_TOKEN}. */
  api: AdminApi;
  /** Chromium, headless. */
  browser: Browser;
}

/** A {@link BrowserTest} with the demo IdP running. */
export interface BrowserTestWithIdp extends BrowserTest {
  /** The demo IdP's origin as a connection names it, `http://localhost:PORT` (http: localhost only). */
  idpOrigin: string;
}

/** Options of {@link useBrowserTest}. */
export interface BrowserTestOptions {
  /** Start the local demo IdP too (scripts/demo-idp.ts, posting to the app). */
  demoIdp?: boolean;
  /** The test file's own set-up once all runs (accounts, users, connections), in the same `beforeAll`. */
  setUp?: () => Promise<void>;
  /** The `beforeAll` timeout in ms (default 60 s; the demo IdP compiles TypeScript as it starts). */
  timeout?: number;
}

/**
 * Starts the app, with `demoIdp` the demo IdP, and Chromium; `stop` ends them in reverse order. When a
 * step fails, what was started is stopped before the error is thrown.
 */
async function startBrowserTest(
  dirPrefix: string,
  demoIdp: boolean,
): Promise<{ started: BrowserTest & { idpOrigin?: string }; stop: () => Promise<void> }> {
  const app = await startApp(dirPrefix);
  let idp: DemoIdp | undefined;
  let browser: Browser | undefined;
  const stop = async () => {
    await browser?.close();
    await idp?.stop();
    await app.stop();
  };
  try {
    if (demoIdp) idp = await startDemoIdp(app.base);
    browser = await launchChromium();
  } catch (err) {
    await stop();
    throw err;
  }
  const { base, sp, api } = app;
  return { started: { base, sp, api, browser, ...(idp ? { idpOrigin: idp.origin } : {}) }, stop };
}

/**
 * For a browser test file's `describe`: registers a `beforeAll` that starts the app on a free port of
 * 127.0.0.1 (`createApp` with test settings, SQLite in a fresh temp dir, {@link ADMIN_TOKEN}), with
 * `demoIdp` the local demo IdP, and Chromium, then runs the file's `setUp`; and an `afterAll` that
 * closes Chromium, ends the demo IdP, stops the app and removes its temp dir.
 *
 * @param dirPrefix - the temp dir's name prefix (`sspk-browser-…-`), to tell the test files' dirs apart
 * @returns the app and browser, filled in by the `beforeAll`: read its fields in hooks and tests only
 */
export function useBrowserTest(
  dirPrefix: string,
  options: BrowserTestOptions & { demoIdp: true },
): BrowserTestWithIdp;
export function useBrowserTest(dirPrefix: string, options?: BrowserTestOptions): BrowserTest;
export function useBrowserTest(dirPrefix: string, options: BrowserTestOptions = {}): BrowserTest {
  const test = {} as BrowserTest;
  let stop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const run = await startBrowserTest(dirPrefix, options.demoIdp === true);
    stop = run.stop;
    Object.assign(test, run.started);
    await options.setUp?.();
  }, options.timeout ?? 60_000);
  afterAll(() => stop?.());
  return test;
}

/** The way through the demo IdP of {@link signInAtDemoIdp}. */
export interface DemoIdpSignIn {
  /** The demo IdP's origin ({@link BrowserTestWithIdp.idpOrigin}). */
  idpOrigin: string;
  /** The click on our site whose answer leads to the IdP's sign-in page. */
  start: () => Promise<unknown>;
  /** The e-mail address to sign in with at the IdP. */
  email: string;
  /** Checks on the IdP's consent page, before its Continue. */
  atConsent?: () => Promise<void>;
  /** Where Continue (the IdP's form post to the ACS) ends up: its name and a test of its URL. */
  back: { what: string; match: (url: URL) => boolean };
}

/**
 * Goes from our site through the demo IdP and back: `start` leads to its sign-in page (which must carry a
 * SAMLRequest and be the demo IdP's), the user signs in as `email`, reaches the consent page and clicks
 * Continue, and the browser must arrive at `back`.
 *
 * @param arrive - the test file's {@link PageMessages.arrive} (a timeout names the place and the console)
 */
export async function signInAtDemoIdp(
  arrive: PageMessages['arrive'],
  page: Page,
  flow: DemoIdpSignIn,
): Promise<void> {
  await Promise.all([
    arrive(page, 'the demo IdP', (u) => u.origin === flow.idpOrigin && u.pathname === '/samlp/demo'),
    flow.start(),
  ]);
  expect(new URL(page.url()).searchParams.has('SAMLRequest')).toBe(true);
  expect(await page.textContent('h1')).toBe('Demo IdP');
  await page.fill('input[name=email]', flow.email);
  await Promise.all([
    arrive(page, 'the demo IdP consent page', (u) => u.searchParams.get('email') === flow.email),
    page.click('button:has-text("Sign in")'),
  ]);
  await flow.atConsent?.();
  await Promise.all([
    arrive(page, flow.back.what, flow.back.match),
    page.click('button:has-text("Continue")'),
  ]);
}

/** Options of {@link collectPageMessages}. */
export interface PageMessagesOptions {
  /**
   * Documents a test opens on purpose with an error status, as "STATUS URL": Chromium logs "Failed to
   * load resource" for every such main-frame document, which is the browser's note on the status, not a
   * message of the page. Any other failed load (a stylesheet, another document) still counts. Read at
   * each message, so a test may add to the set as it goes.
   */
  expectedErrorDocuments?: ReadonlySet<string>;
}

/** What {@link collectPageMessages} returns. */
export interface PageMessages {
  /** Every console message of every page made by {@link PageMessages.newPage}, and uncaught page errors. */
  messages: string[];
  /**
   * A page in a new browser context (`options`, by default the {@link LAPTOP} viewport; close it with
   * `page.context().close()`) whose console messages, CSP violations (reported as console errors) and
   * uncaught errors land in {@link PageMessages.messages}.
   */
  newPage: (browser: Browser, options?: BrowserContextOptions) => Promise<Page>;
  /**
   * Waits (up to 15 s) for `page` to reach a URL that `match` accepts; on a timeout, says where the
   * browser got stuck and what it logged.
   *
   * @param what - the place awaited, for the error ("the demo IdP")
   */
  arrive: (page: Page, what: string, match: (url: URL) => boolean) => Promise<void>;
  /**
   * Expects {@link PageMessages.messages} empty: first the CSP violations among them (the clearer
   * failure), then any message at all.
   */
  expectNoMessages: () => void;
}

const FAILED_LOAD = /^Failed to load resource: the server responded with a status of (\d+) /;

/**
 * A collector of the browser's console for one test file: pages made with its `newPage` report every
 * console message (but the browser's own favicon probes: the servers have none, and documents listed
 * in `expectedErrorDocuments`) and uncaught error into `messages`, which a test then expects empty.
 */
export function collectPageMessages(options: PageMessagesOptions = {}): PageMessages {
  const messages: string[] = [];

  async function newPage(
    browser: Browser,
    contextOptions: BrowserContextOptions = { viewport: LAPTOP },
  ): Promise<Page> {
    const context = await browser.newContext(contextOptions);
    // Test instrumentation only (injected by the browser, not subject to the page's CSP): report CSP
    // violations as console errors so that they land in `messages` too.
    // (A string: the test project has no DOM typings.)
    await context.addInitScript({
      content:
        "document.addEventListener('securitypolicyviolation', (e) => console.error(" +
        "'Content Security Policy violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI));",
    });
    const page = await context.newPage();
    page.on('console', (m) => {
      const url = m.location().url || page.url();
      // The browser's own favicon probes (no server of the tests has one) are not messages of our pages.
      if (/^https?:\/\/[^/]+\/favicon\.ico/.test(url)) return;
      const failed = FAILED_LOAD.exec(m.text());
      if (failed && options.expectedErrorDocuments?.has(`${failed[1]} ${url}`)) return;
      messages.push(`[${m.type()}] ${m.text()} (${url})`);
    });
    page.on('pageerror', (e) => messages.push(`[pageerror] ${e.message} (${page.url()})`));
    return page;
  }

  async function arrive(page: Page, what: string, match: (url: URL) => boolean): Promise<void> {
    try {
      await page.waitForURL(match, { timeout: 15_000 });
    } catch (err) {
      throw new Error(
        `the browser did not reach ${what}: it is at ${page.url()}; console: ${JSON.stringify(messages)}`,
        { cause: err },
      );
    }
  }

  function expectNoMessages(): void {
    expect(messages.filter((m) => m.includes('Content Security Policy'))).toEqual([]);
    expect(messages).toEqual([]);
  }

  return { messages, newPage, arrive, expectNoMessages };
}

/**
 * Signs in on the password form (`/login/password?account=…`) and waits for the admin page.
 *
 * @returns the response of the password form page (for its status and headers)
 */
export async function signInWithPassword(
  page: Page,
  base: string,
  login: { account: string; email: string; password: string },
): Promise<Response | null> {
  const form = await page.goto(`${base}/login/password?account=${login.account}`);
  await page.fill('#email', login.email);
  await page.fill('#password', login.password);
  await Promise.all([page.waitForURL(`${base}/admin`), page.click('button[type=submit]')]);
  return form;
}

/**
 * The main-frame response of the document at `path` of the app at `base` (for its status and
 * headers); start waiting before the click that loads it.
 */
export const documentAt = (page: Page, base: string, path: string): Promise<Response> =>
  page.waitForResponse(
    (r) => r.request().isNavigationRequest() && r.url().startsWith(base) && r.url().endsWith(path),
    { timeout: 15_000 },
  );

/**
 * What makes the page wider than the viewport, as "TAG: text": the page's own sideways scroll, and
 * every element in <main> whose right edge passes the viewport without a clipping (scrolling)
 * container around it. Contents of a scrolling box (.table-wrap) do not widen the page.
 */
async function sticksOut(page: Page): Promise<string[]> {
  return page.evaluate(`(() => {
    const width = document.documentElement.clientWidth;
    const out = [];
    if (document.documentElement.scrollWidth > width) {
      out.push('PAGE: scrolls sideways (' + document.documentElement.scrollWidth + 'px > ' + width + 'px)');
    }
    const clipped = (e) => {
      for (let p = e.parentElement; p && p.tagName !== 'MAIN'; p = p.parentElement) {
        if (getComputedStyle(p).overflowX !== 'visible') return true;
      }
      return false;
    };
    for (const e of document.querySelectorAll('main, main *')) {
      if (e.getBoundingClientRect().right > width + 0.5 && !clipped(e)) {
        out.push(e.tagName + ': ' + e.textContent.trim().replace(/\\s+/g, ' ').slice(0, 60));
      }
    }
    return out;
  })()`);
}

/** Boxes in <main> that scroll sideways at the current width (allowed, but worth knowing). */
async function scrollingBoxes(page: Page): Promise<string[]> {
  return page.evaluate(`(() =>
    [...document.querySelectorAll('main *')]
      .filter((e) => getComputedStyle(e).overflowX !== 'visible' && e.scrollWidth > e.clientWidth + 1)
      .map((e) => {
        const section = e.closest('section');
        const h = section && section.querySelector('h2');
        return (h ? h.textContent.trim().replace(/\\s+/g, ' ') : e.tagName) +
          ' (' + e.scrollWidth + 'px in ' + e.clientWidth + 'px)';
      })
  )()`);
}

/**
 * Full-page screenshots at {@link LAPTOP} (to `path`) and {@link PHONE} width (to {@link phone}`(path)`);
 * nothing may stick out of the page at either (expected, naming the page and the width). Leaves the
 * page at laptop width.
 *
 * @returns the boxes that scroll sideways at phone width (allowed, but worth knowing)
 */
export async function screenshots(page: Page, path: string): Promise<string[]> {
  await page.setViewportSize(LAPTOP);
  await page.screenshot({ path, fullPage: true });
  expect(await sticksOut(page), `${page.url()} at ${LAPTOP.width}px`).toEqual([]);
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: phone(path), fullPage: true });
  expect(await sticksOut(page), `${page.url()} at ${PHONE.width}px`).toEqual([]);
  const scrolling = await scrollingBoxes(page);
  await page.setViewportSize(LAPTOP);
  return scrolling;
}
