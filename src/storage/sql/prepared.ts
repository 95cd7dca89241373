import type { Compilable, CompiledQuery, Kysely } from 'kysely';

/** Stands for a named argument in a query built once; replaced by the argument's value at each run. */
class Slot {
  constructor(readonly name: string) {}
}

/** What `build` receives: `arg(name)` stands for `args[name]`, typed as that argument. */
export type Arg<Args> = <K extends keyof Args & string>(name: K) => Args[K];

/** One parameter of the compiled query: an argument's name, or a value fixed when it was built. */
type Binding = { slot: string } | { value: unknown };

/**
 * A query built and compiled once, then run with new argument values: the same SQL text, only the
 * parameters differ. Kysely builds (immutable nodes) and compiles a query on every call, which cost
 * about 20 µs of CPU per statement on a login's path, measured; the few statements every login runs
 * pay that once. `build` receives `arg(name)`, which stands for `args[name]` in the query; every
 * value it puts in the query must be a parameter (Kysely makes every plain value one), so the
 * arguments never reach the SQL text. The query's shape is fixed when it is built: every argument
 * must be given (an undefined one is refused; pass null for NULL), and a list (`in`) cannot be an
 * argument. The compiled query keeps its operation node, so the SQLite driver still batches
 * INSERT/UPDATE/DELETE into its group commit; it keeps its query id too, which only plugins read
 * (the kit configures none).
 */
export function prepare<DB, Args extends object, Row>(
  db: Kysely<DB>,
  build: (arg: Arg<Args>) => Compilable<Row>,
): (args: Args) => Promise<Row[]> {
  const asked = new Set<string>();
  const compiled = build(<K extends keyof Args & string>(name: K) => {
    asked.add(name);
    return new Slot(name) as Args[K];
  }).compile();
  const bindings: Binding[] = compiled.parameters.map((p) =>
    p instanceof Slot ? { slot: p.name } : { value: p },
  );
  const bound = new Set(bindings.flatMap((b) => ('slot' in b ? [b.slot] : [])));
  for (const name of asked) {
    // A slot Kysely did not turn into a parameter (inlined, or dropped): refuse the query at start-up.
    if (!bound.has(name))
      throw new Error(`prepared query: argument "${name}" is not a parameter of ${compiled.sql}`);
  }
  return async (args) => {
    const parameters = bindings.map((b) => {
      if (!('slot' in b)) return b.value;
      const value = (args as Record<string, unknown>)[b.slot];
      // Kysely leaves an undefined value out of the query (the column keeps its value or default);
      // a query built once cannot, and binding it would write NULL. Null is written as null.
      if (value === undefined) throw new TypeError(`prepared query: argument "${b.slot}" is undefined`);
      return value;
    });
    const query: CompiledQuery<Row> = { ...compiled, parameters };
    return (await db.executeQuery(query)).rows;
  };
}
