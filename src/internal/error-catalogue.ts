import type { ScaleoutError } from './errors.js';

/**
 * The error catalogue: every `SCALEOUT_*` code, with what it means and what to do.
 *
 * Each domain declares its part at the end of its `errors.ts`, next to the classes, so
 * a code, its class and its explanation change together. `docs/errors.md` is generated
 * from the catalogue (`npm run docs:errors`), and `test/errors-catalogue.test.ts` fails
 * when a code in `src/` is missing from it.
 */

/** An error class that declares its code once, as a static, for callers to compare with. */
export interface ErrorClassWithCode {
  readonly name: string;
  readonly code: string;
  readonly prototype: ScaleoutError;
}

/** What every catalogue entry explains. */
export interface ErrorExplanation {
  /** What happened, in one or two sentences. */
  readonly meaning: string;
  /** What the user should do about it. */
  readonly action: string;
  /** The HTTP status a client sees, where the error is answered over HTTP. */
  readonly status?: number | undefined;
}

/**
 * An entry as a domain writes it: a class (the code is its static `code`), or a code
 * without a class (one sent on the wire only, or one of several codes a class carries,
 * then named with `errorClass`).
 */
export type ErrorCatalogueInput = ErrorExplanation & (
  | { readonly errorClass: ErrorClassWithCode; readonly code?: undefined }
  | { readonly code: string; readonly errorClass?: { readonly name: string } | undefined }
);

/** One code of the catalogue, ready to be listed. */
export interface ErrorCatalogueEntry extends ErrorExplanation {
  readonly code: string;
  /** The folder of `src/` that raises it: `balancer`, `db/sharding`, ... */
  readonly domain: string;
  /** The class that carries it; undefined for codes only sent on the wire. */
  readonly className: string | undefined;
}

/** A domain's part of the catalogue, in the order the domain lists it. */
export function defineErrorCatalogue(domain: string, entries: readonly ErrorCatalogueInput[]): readonly ErrorCatalogueEntry[] {
  return Object.freeze(entries.map((entry) => Object.freeze({
    code: entry.code ?? (entry.errorClass as ErrorClassWithCode).code,
    domain,
    className: entry.errorClass?.name,
    status: entry.status,
    meaning: entry.meaning,
    action: entry.action,
  })));
}
