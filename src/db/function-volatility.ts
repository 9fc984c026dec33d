/** Runs a catalog query somewhere (the primary, or a replica when it is down). */
export type CatalogQuery = (text: string, params: unknown[]) => Promise<{ schema: string; name: string; volatility: string }[]>;

const LOOKUP_SQL = `SELECT n.nspname AS schema, p.proname AS name, p.provolatile::text AS volatility
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  WHERE p.proname = ANY($1::text[])`;

/**
 * Whether functions called by a read may run on a replica, from `pg_proc.provolatile`,
 * looked up once per function name and remembered. A volatile function may write
 * (or take locks, or use sequences), so a read calling one goes to the primary.
 * Overloads are not told apart: if any function of that name is volatile, it counts
 * as volatile. An unknown name counts as volatile too.
 */
export class FunctionVolatility {
  #safe = new Map<string, boolean>();
  #maxEntries: number;

  /** @param maxEntries bound on remembered names; past it the memory starts over. */
  constructor(maxEntries = 10_000) {
    this.#maxEntries = maxEntries;
  }

  /** Remembered answer for one name, if any. */
  known(name: string): boolean | undefined {
    return this.#safe.get(name);
  }

  /**
   * True when every function is safe on a replica, false when one is not, undefined
   * when the catalog could not be read (the caller routes to the primary, uncached).
   */
  async allSafe(names: readonly string[], query: CatalogQuery): Promise<boolean | undefined> {
    const missing = names.filter((n) => !this.#safe.has(n));
    if (missing.length > 0) {
      let rows: Awaited<ReturnType<CatalogQuery>>;
      try {
        rows = await query(LOOKUP_SQL, [[...new Set(missing.map((n) => split(n).name))]]);
      } catch {
        return undefined;
      }
      if (this.#safe.size + missing.length > this.#maxEntries) this.#safe.clear();
      for (const wanted of missing) {
        const { schema, name } = split(wanted);
        const matching = rows.filter((r) => r.name === name && (schema === undefined || r.schema === schema));
        this.#safe.set(wanted, matching.length > 0 && matching.every((r) => r.volatility !== 'v'));
      }
    }
    return names.every((n) => this.#safe.get(n) === true);
  }
}

function split(qualified: string): { schema: string | undefined; name: string } {
  const dot = qualified.indexOf('.');
  return dot < 0 ? { schema: undefined, name: qualified } : { schema: qualified.slice(0, dot), name: qualified.slice(dot + 1) };
}
