/**
 * How an operator runs the command line in a production install: the package's `bin` (compiled, no dev
 * dependency). Messages that tell an operator what to run name it through {@link cliCommand}, so they
 * stay true outside a clone of the repository (where `npm run cli -- …` also works).
 */
export const CLI_COMMAND = 'npx saml-sp-kit';

/** The full command line for `args`, e.g. `cliCommand('sso-only acme off')`. */
export function cliCommand(args: string): string {
  return `${CLI_COMMAND} ${args}`;
}
