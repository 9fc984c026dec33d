import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { QueryResultRow } from 'pg';
import type {
  Database, DbResult, Queryable, QueryOptions, TransactionClient, TransactionOptions, TransactionResult,
} from '../../db/index.js';
import { ScaleoutPluginOptionsError } from '../errors.js';
import type { Tier, TierContext } from './tier.js';

/** The key of the plugin's database in a user's tokens. @defaultValue 'default' */
export const DEFAULT_DB_NAME = 'default';

/** The `db` option, when more than a `Database` is to be said. */
export interface ScaleoutDbOptions {
  /**
   * What `request.db.query()` and `.transaction()` run on. Leave it out when the app's
   * databases are its own (shards built with `replicatedShard`): `request.db.run()`
   * still carries the session's tokens to them.
   */
  database?: Database;
  /**
   * The key of `database` in the user's tokens; one per database.
   * @defaultValue {@link DEFAULT_DB_NAME}
   */
  name?: string;
}

/**
 * `request.db`: the data tier with this user's consistency tokens, read-your-writes
 * across instances without glue in routes. The tokens come from the user's session
 * (field `_db`) and a write that moves one is saved back to it before the call
 * resolves, so the next request, on any instance, reads a node that has the write.
 */
export interface RequestDb extends Queryable {
  /**
   * Runs `fn` with the session's tokens on every database call inside it made through
   * a `readYourWritesDatabase` view or a `replicatedShard` backend, and saves the
   * tokens a write moved. `query` and `transaction` are this around the plugin's database.
   */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** Runs `fn` with every read on the primary: for what must not miss anyone's write of a moment ago. */
  primary<T>(fn: () => Promise<T>): Promise<T>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The data tier with this user's consistency tokens: register the plugin with `db`. */
    readonly db: RequestDb;
  }
}

interface ResolvedDb {
  database: Database | undefined;
  name: string;
}

const NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const kDb = Symbol('scaleout.db');
type WithDb = { [kDb]: RequestDb | null };

function isDatabase(value: object): value is Database {
  const db = value as Partial<Database>;
  return typeof db.query === 'function' && typeof db.transaction === 'function' && typeof db.session === 'function';
}

/** The `db` option: `request.db`. */
export const dbTier: Tier<ResolvedDb> = {
  option: 'db',

  validate(value) {
    if (typeof value !== 'object' || value === null) {
      throw new ScaleoutPluginOptionsError('db must be a Database (createDatabase of scaleout/db) or { database?, name? }');
    }
    if (isDatabase(value)) return { database: value, name: DEFAULT_DB_NAME };
    const options = value as ScaleoutDbOptions;
    if (options.database !== undefined && (typeof options.database !== 'object' || options.database === null || !isDatabase(options.database))) {
      throw new ScaleoutPluginOptionsError('db.database must be a Database made by createDatabase of scaleout/db');
    }
    const name = options.name ?? DEFAULT_DB_NAME;
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new ScaleoutPluginOptionsError(`db.name "${String(name)}" is invalid; use 1-64 characters of [A-Za-z0-9_.:-]`);
    }
    return { database: options.database, name };
  },

  async install(app: FastifyInstance, options: ResolvedDb, context: TierContext) {
    // Loaded only when the option is given: apps without a database never load the driver.
    const { ConsistencyTokens, readYourWrites, readYourWritesDatabase, readYourWritesFromSession, withPrimaryReads } =
      await import('../../db/index.js');
    const view = options.database === undefined ? undefined : readYourWritesDatabase(options.name, options.database);
    const handle = (request: FastifyRequest): RequestDb => {
      const run = <T>(fn: () => Promise<T>): Promise<T> => (context.sessions === undefined
        // Without sessions the tokens live as long as the call: read-your-writes within it.
        ? readYourWrites(new ConsistencyTokens(), fn)
        : readYourWritesFromSession(request.session, fn));
      const target = (): Queryable => {
        if (view === undefined) {
          throw new ScaleoutPluginOptionsError('request.db.query needs a database: register the plugin with db: database or db: { database }');
        }
        return view;
      };
      return {
        run,
        primary: (fn) => run(() => withPrimaryReads(fn)),
        query<R extends QueryResultRow = QueryResultRow>(text: string, params?: unknown[], queryOptions?: QueryOptions): Promise<DbResult<R>> {
          return run(() => target().query<R>(text, params, queryOptions));
        },
        transaction<T>(fn: (tx: TransactionClient) => Promise<T>, txOptions?: TransactionOptions): Promise<TransactionResult<T>> {
          return run(() => target().transaction(fn, txOptions));
        },
      };
    };
    app.decorateRequest(kDb, null);
    app.decorateRequest('db', {
      getter(this: FastifyRequest): RequestDb {
        const self = this as unknown as WithDb;
        return (self[kDb] ??= handle(this));
      },
    });
  },
};
