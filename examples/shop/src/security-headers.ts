import type { FastifyInstance } from 'fastify';
import { STYLE_SOURCE } from './views/layout.js';

/**
 * Headers on every answer. The pages have no inline script and one inline stylesheet, allowed
 * by its hash, so the policy can deny everything else: an injected `<script>` or
 * `<style>` does not run, and no other site may frame the shop (clickjacking).
 *
 * `Referrer-Policy: same-origin`, not `no-referrer`: with `no-referrer` browsers send
 * `Origin: null` on the shop's own form posts, which the cross-site check then refuses.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': [
    "default-src 'none'",
    `style-src ${STYLE_SOURCE}`,
    // Scripts only as files of the shop (the export progress bar), never inline.
    "script-src 'self'",
    // The progress bar's EventSource.
    "connect-src 'self'",
    "img-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; '),
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  // For browsers that predate frame-ancestors.
  'x-frame-options': 'DENY',
};

export function addSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.headers(SECURITY_HEADERS);
    done(null, payload);
  });
}
