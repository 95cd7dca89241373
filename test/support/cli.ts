/**
 * Runs the operator CLI (src/cli/index.ts) as an operator does: a separate Node.js process with tsx,
 * started from the repository root (the tests' working directory), one command per process.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';

/** Options of {@link runCli} and {@link cliRunner}. */
export interface CliOptions {
  /**
   * Pass this process's environment on (default), or only PATH and HOME (`false`: nothing else of the
   * test run's environment, such as its own token or database settings, reaches the CLI). Either way
   * without Vitest's BASE_URL.
   */
  inherit?: boolean;
}

/**
 * The environment of a CLI process: this process's environment (or only PATH and HOME, see
 * {@link CliOptions.inherit}) without BASE_URL — Vitest sets BASE_URL=/ (a Vite convention) in its
 * own environment, which the CLI would take for the SP's base URL — and then `vars` (which may set
 * BASE_URL again).
 */
export function cliEnv(vars: Record<string, string>, options: CliOptions = {}): NodeJS.ProcessEnv {
  const { BASE_URL: _vite, ...inherited } = process.env;
  const passed =
    options.inherit === false ? { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' } : inherited;
  return { ...passed, ...vars };
}

/**
 * Runs one CLI command to its end (at most 30 s) with the environment of {@link cliEnv}.
 *
 * @param args - the command and its arguments, e.g. `['create-account', 'acme', 'Acme Inc']`
 * @param vars - the settings for this process (DATABASE_URL, LOG_LEVEL, …)
 * @returns the finished process: `status`, and `stdout` and `stderr` as UTF-8 text
 */
export function runCli(
  args: readonly string[],
  vars: Record<string, string>,
  options: CliOptions = {},
): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], {
    env: cliEnv(vars, options),
    encoding: 'utf8',
    timeout: 30_000,
  });
}

/**
 * {@link runCli} with fixed settings, for a test that runs many commands on one database:
 * `const cli = cliRunner({ DATABASE_URL }); cli('create-account', 'acme', 'Acme Inc')`.
 */
export function cliRunner(
  vars: Record<string, string>,
  options: CliOptions = {},
): (...args: string[]) => SpawnSyncReturns<string> {
  return (...args) => runCli(args, vars, options);
}
