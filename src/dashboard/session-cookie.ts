import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** The dashboard's cookie; scoped to `/dashboard` so nothing else on the listener sees it. */
export const DASHBOARD_COOKIE = 'scaleout_dashboard';
export const DASHBOARD_PATH = '/dashboard';

/**
 * The cookie holds an HMAC of the control token, not the token: a stolen cookie
 * opens the dashboard but is no bearer token for the control API or the CLI.
 * It lives as long as the token (one supervisor run).
 */
export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('scaleout dashboard session').digest('base64url');
}

/** Constant-time comparison of two strings of any length (both are hashed first). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}

/** The value of one cookie in a `Cookie` header, or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** `Set-Cookie` for a login: HttpOnly (no script reads it), SameSite=Strict (no other site sends it). */
export function loginCookie(value: string): string {
  return `${DASHBOARD_COOKIE}=${value}; Path=${DASHBOARD_PATH}; HttpOnly; SameSite=Strict`;
}

export function logoutCookie(): string {
  return `${DASHBOARD_COOKIE}=; Path=${DASHBOARD_PATH}; HttpOnly; SameSite=Strict; Max-Age=0`;
}
