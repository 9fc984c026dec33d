import { z } from 'zod';
import { BadInputError } from './errors.js';
import { firstOrderIdAt, isOrderId } from './data/order-id.js';

/** Orders per page when `?limit` is not given. @defaultValue 20 */
export const DEFAULT_ORDERS_LIMIT = 20;
/** @defaultValue 100 */
export const MAX_ORDERS_LIMIT = 100;
/** Most units of one product in a cart (one cart line). @defaultValue 99 */
export const MAX_LINE_QTY = 99;
/** Most units one request may add or take away: a whole line. @defaultValue {@link MAX_LINE_QTY} */
export const MAX_QTY_CHANGE = MAX_LINE_QTY;
const MAX_PRODUCT_ID = 2_147_483_647;

// Forms send every value as text; JSON sends numbers. Both are accepted, strictly.
const integer = z.union([z.number(), z.string().regex(/^\s*-?\d{1,15}\s*$/, 'expected an integer').transform(Number)])
  .pipe(z.number().int('expected an integer'));

export const productId = integer.pipe(z.number().min(1, 'expected a product id (1 or more)').max(MAX_PRODUCT_ID, 'no product has so large an id'));

export const loginBody = z.object({
  username: z.string().trim().min(1, 'enter a username').max(64, 'at most 64 characters'),
  password: z.string().min(1, 'enter a password').max(256, 'at most 256 characters'),
  next: z.string().optional(),
});

export const cartItemBody = z.object({
  productId,
  qty: integer.pipe(z.number().min(-MAX_QTY_CHANGE, `at least -${MAX_QTY_CHANGE}`)
    .max(MAX_QTY_CHANGE, `at most ${MAX_QTY_CHANGE} (a cart line holds at most ${MAX_LINE_QTY} units)`)
    .refine((n) => n !== 0, 'expected a quantity other than 0')).default(1),
});

/** `?before=`: an order id, an ISO 8601 time or Unix milliseconds, as an id bound. */
const before = z.string().max(64).transform((text, ctx) => {
  const value = text.trim().toLowerCase();
  if (isOrderId(value)) return value;
  const ms = /^\d{1,15}$/.test(value) ? Number(value) : /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(text) : Number.NaN;
  if (Number.isFinite(ms) && ms >= 0) return firstOrderIdAt(ms);
  ctx.addIssue({ code: 'custom', message: 'expected an order id, an ISO 8601 time or Unix milliseconds' });
  return z.NEVER;
});

export const ordersQuery = z.object({
  limit: integer.pipe(z.number().min(1, 'at least 1').max(MAX_ORDERS_LIMIT, `at most ${MAX_ORDERS_LIMIT}`)).default(DEFAULT_ORDERS_LIMIT),
  before: before.optional(),
});

/**
 * Validates `value` or throws a {@link BadInputError} naming the field and what it
 * expects.
 */
export function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue === undefined || issue.path.length === 0 ? where : issue.path.map(String).join('.');
  throw new BadInputError(`${field}: ${issue?.message ?? 'invalid'}`);
}
