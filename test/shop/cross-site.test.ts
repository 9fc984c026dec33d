import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MAX_LINE_QTY } from '../../examples/shop/src/input.js';
import { InjectClient, shopForTests } from './support.js';
import type { Answer } from '../support/http-client.js';

const shop = shopForTests('shop-cross-site');

// shop.app.inject sends Host: localhost:80, so a page of the shop has this origin.
const SHOP = 'http://localhost';
const EVIL = { origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' };

async function cartQty(client: InjectClient, productId: number): Promise<number> {
  const items = (await client.request('GET', '/cart')).body.items as Array<{ productId: number; qty: number }>;
  return items.find((i) => i.productId === productId)?.qty ?? 0;
}

function expectRefused(res: Answer): void {
  expect(res.status).toBe(403);
  expect(res.text).toContain('SCALEOUT_FASTIFY_CROSS_ORIGIN');
}

describe('the shop refuses changes sent from another site', () => {
  it('a form post from http://evil.example adds nothing to the cart', async () => {
    const client = new InjectClient(shop.app);
    await client.request('POST', '/cart/items', { json: { productId: 3, qty: 1 } });
    const html = await client.request('POST', '/cart/items', { html: true, form: { productId: '3', qty: '5' }, headers: EVIL });
    expectRefused(html);
    expect(html.headers['content-type']).toContain('text/html');
    const json = await client.request('POST', '/cart/items', { json: { productId: 3, qty: 5 }, headers: { origin: 'http://evil.example' } });
    expectRefused(json);
    expect(json.body.error.code).toBe('SCALEOUT_FASTIFY_CROSS_ORIGIN');
    expectRefused(await client.request('POST', '/cart/items/3/delete', { html: true, headers: EVIL }));
    expect(await cartQty(client, 3)).toBe(1);
  });

  it('Origin: null does not place an order', async () => {
    const client = new InjectClient(shop.app);
    expect((await client.login('alice', 'wonderland')).status).toBe(200);
    await client.request('POST', '/cart/items', { json: { productId: 4, qty: 1 } });
    const before = (await client.request('GET', '/orders')).body.orders.length as number;
    expectRefused(await client.request('POST', '/orders', { html: true, headers: { origin: 'null' } }));
    expectRefused(await client.request('POST', '/logout', { html: true, headers: { origin: 'null' } }));
    expect((await client.request('GET', '/orders')).body.orders.length).toBe(before);
    expect(await cartQty(client, 4)).toBe(1);
    expect((await client.request('GET', '/me')).status).not.toBe(401);
  });

  it('a same-origin form post still works: log in, add, order', async () => {
    const own = { origin: SHOP, 'sec-fetch-site': 'same-origin' };
    const client = new InjectClient(shop.app);
    const login = await client.request('POST', '/login', { html: true, form: { username: 'carol', password: 'cheshire' }, headers: own });
    expect(login.status).toBe(303);
    const add = await client.request('POST', '/cart/items', { html: true, form: { productId: '6', qty: '2' }, headers: own });
    expect(add.status).toBe(303);
    expect(await cartQty(client, 6)).toBe(2);
    const order = await client.request('POST', '/orders', { html: true, headers: { origin: SHOP } });
    expect(order.status).toBe(303);
    expect(order.headers.location).toMatch(/^\/orders\//);
  });

  it('knows its own origin behind the balancer (x-forwarded-proto, x-forwarded-host)', async () => {
    const client = new InjectClient(shop.app);
    const behind = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example' };
    const add = await client.request('POST', '/cart/items', { html: true, form: { productId: '7', qty: '1' }, headers: { ...behind, origin: 'https://shop.example' } });
    expect(add.status).toBe(303);
    expectRefused(await client.request('POST', '/cart/items', { html: true, form: { productId: '7', qty: '1' }, headers: { ...behind, origin: SHOP } }));
    expect(await cartQty(client, 7)).toBe(1);
  });
});

describe('the cart caps a line', () => {
  it(`refuses more than ${MAX_LINE_QTY} units of one product in one request, saying the cap`, async () => {
    const client = new InjectClient(shop.app);
    const res = await client.request('POST', '/cart/items', { json: { productId: 8, qty: MAX_LINE_QTY + 1 } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('SHOP_BAD_INPUT');
    expect(res.body.error.message).toContain(`qty: at most ${MAX_LINE_QTY} (a cart line holds at most ${MAX_LINE_QTY} units)`);
    expect(await cartQty(client, 8)).toBe(0);
  });

  it('refuses an add that would take a line over the cap, and keeps the line as it was', async () => {
    const client = new InjectClient(shop.app);
    expect((await client.request('POST', '/cart/items', { json: { productId: 8, qty: MAX_LINE_QTY - 1 } })).status).toBe(200);
    const over = await client.request('POST', '/cart/items', { json: { productId: 8, qty: 2 } });
    expect(over.status).toBe(400);
    expect(over.body.error.message).toBe(`qty: a cart line holds at most ${MAX_LINE_QTY} units and this one has ${MAX_LINE_QTY - 1}; add at most 1`);
    expect(await cartQty(client, 8)).toBe(MAX_LINE_QTY - 1);
    expect((await client.request('POST', '/cart/items', { json: { productId: 8, qty: 1 } })).body.qty).toBe(MAX_LINE_QTY);
  });

  it('never goes over the cap under concurrent adds', async () => {
    const client = new InjectClient(shop.app);
    await client.request('POST', '/cart/items', { json: { productId: 10, qty: MAX_LINE_QTY - 10 } });
    const answers = await Promise.all(Array.from({ length: 30 }, () => client.request('POST', '/cart/items', { json: { productId: 10, qty: 1 } })));
    expect(answers.every((a) => a.status === 200 || a.status === 400)).toBe(true);
    const kept = answers.filter((a) => a.status === 200).length;
    const qty = await cartQty(client, 10);
    expect(qty).toBeLessThanOrEqual(MAX_LINE_QTY);
    expect(qty).toBe(MAX_LINE_QTY - 10 + kept);
  });
});

describe('the shop sends security headers, and its pages work under them', () => {
  it('on pages, JSON answers and errors', async () => {
    const client = new InjectClient(shop.app);
    for (const res of [
      await client.request('GET', '/products', { html: true }),
      await client.request('GET', '/products'),
      await client.request('GET', '/nowhere', { html: true }),
      await client.request('POST', '/cart/items', { json: {}, headers: { origin: 'http://evil.example' } }),
    ]) {
      const csp = res.headers['content-security-policy'] as string;
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("default-src 'none'");
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['referrer-policy']).toBe('same-origin');
    }
  });

  it('allows the inline stylesheet by its hash, and the pages need nothing else', async () => {
    const client = new InjectClient(shop.app);
    await client.login('alice', 'wonderland');
    await client.request('POST', '/cart/items', { json: { productId: 2, qty: 1 } });
    for (const path of ['/products', '/products/2', '/cart', '/orders', '/login']) {
      const page = await client.request('GET', path, { html: true });
      expect(page.status, path).toBe(200);
      const style = /<style>([\s\S]*?)<\/style>/.exec(page.text)?.[1];
      expect(style, path).toBeDefined();
      const hash = createHash('sha256').update(style!).digest('base64');
      expect(page.headers['content-security-policy']).toContain(`style-src 'sha256-${hash}'`);
      // No scripts, inline handlers or style attributes: the policy would block them.
      expect(page.text, path).not.toMatch(/<script|\son[a-z]+=|\sstyle=/i);
      // Forms post to this site only (form-action 'self').
      for (const [, action] of page.text.matchAll(/<form[^>]*action="([^"]*)"/g)) expect(action, path).toMatch(/^\//);
    }
  });
});
