/**
 * The errors a shop user can meet. Each has a stable `code` (what clients branch on),
 * the HTTP status it answers with, and a message that says what to do. JSON answers
 * carry them as `{ error: { code, message } }`.
 */
export class ShopError extends Error {
  readonly code: string;
  readonly statusCode: number;

  constructor(code: string, statusCode: number, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.statusCode = statusCode;
  }
}

/** A request body, parameter or query string the shop cannot use. */
export class BadInputError extends ShopError {
  constructor(message: string) {
    super('SHOP_BAD_INPUT', 400, message);
  }
}

/** A body over the app's limit: 413, so a client (and the balancer) sees which limit it met. */
export class BodyTooLargeError extends ShopError {
  constructor(message: string) {
    super('SHOP_BODY_TOO_LARGE', 413, message);
  }
}

/**
 * A browser sent a change on behalf of another site; the scaleout plugin refused it.
 * Keeps the plugin's code (`SCALEOUT_FASTIFY_CROSS_ORIGIN`), which clients branch on.
 */
export class CrossSiteRequestError extends ShopError {
  constructor(code: string, message: string) {
    super(code, 403, message);
  }
}

/** Wrong username or password (which one is not said, so accounts cannot be probed). */
export class BadCredentialsError extends ShopError {
  constructor() {
    super('SHOP_BAD_CREDENTIALS', 401, 'unknown username or wrong password; check both and try again');
  }
}

/** The route needs a logged-in user. */
export class NotLoggedInError extends ShopError {
  constructor() {
    super('SHOP_NOT_LOGGED_IN', 401, 'you are not logged in; log in with POST /login first');
  }
}

/** No such product, order or page (or an order of another user). */
export class NotFoundError extends ShopError {
  constructor(what: string) {
    super('SHOP_NOT_FOUND', 404, `${what} does not exist; check the address`);
  }
}

/** An order was placed with nothing in the cart. */
export class EmptyCartError extends ShopError {
  constructor() {
    super('SHOP_EMPTY_CART', 409, 'the cart is empty; add products with POST /cart/items before placing an order');
  }
}

/** A store the shop needs (sessions, database) is briefly unreachable. */
export class UnavailableError extends ShopError {
  constructor(cause: unknown) {
    super('SHOP_UNAVAILABLE', 503, 'the shop cannot reach its data right now; try again in a moment', { cause });
  }
}

/** Anything else: a bug or an engine refusing. Details go to the log, not to the client. */
export class InternalError extends ShopError {
  constructor(cause: unknown) {
    super('SHOP_INTERNAL', 500, 'something went wrong on our side; try again, and report it if it persists', { cause });
  }
}

/** The environment the runtime gave the instance is incomplete or malformed. */
export class ShopEnvError extends ShopError {
  constructor(problems: readonly string[]) {
    super('SHOP_ENV_INVALID', 500, `the shop cannot start: ${problems.join('; ')}`);
  }
}
