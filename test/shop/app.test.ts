import { describe, expect, it } from 'vitest';
import { InjectClient, shopForTests } from './support.js';

const shop = shopForTests('shop-test-1');

async function loggedIn(username = 'alice', password = 'wonderland'): Promise<InjectClient> {
  const client = new InjectClient(shop.app);
  const res = await client.login(username, password);
  expect(res.status).toBe(200);
  return client;
}

describe('log in and out', () => {
  it('logs a seeded user in and says who they are', async () => {
    const client = new InjectClient(shop.app);
    const res = await client.login('alice', 'wonderland');
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ username: 'alice', name: 'Alice' });
    expect(typeof res.body.user.id).toBe('string');
    expect(res.body.user.passwordHash).toBeUndefined();
    const me = await client.request('GET', '/me');
    expect(me.status).toBe(200);
    expect(me.body.user).toEqual(res.body.user);
    expect(me.headers['x-scaleout-instance']).toBe('shop-test-1');
  });

  it('refuses a wrong password and an unknown user alike', async () => {
    const client = new InjectClient(shop.app);
    const wrong = await client.login('alice', 'looking-glass');
    const unknown = await client.login('mallory', 'wonderland');
    for (const res of [wrong, unknown]) {
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('SHOP_BAD_CREDENTIALS');
      expect(res.body.error.message).toMatch(/try again/);
    }
    expect((await client.request('GET', '/me')).body.error.code).toBe('SHOP_NOT_LOGGED_IN');
  });

  it('answers 400 with a code for a malformed login', async () => {
    const client = new InjectClient(shop.app);
    for (const json of [{ username: 'alice' }, { username: '', password: 'x' }, { username: 42, password: 'x' }, ['alice'], 'alice']) {
      const res = await client.request('POST', '/login', { json });
      expect(res.status, JSON.stringify(json)).toBe(400);
      expect(res.body.error.code).toBe('SHOP_BAD_INPUT');
    }
    const broken = await client.request('POST', '/login', { headers: { 'content-type': 'application/json' }, form: undefined, json: undefined });
    expect(broken.status).toBe(400);
    const garbled = await shop.app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/json', accept: 'application/json' }, payload: '{"username": "alice", "pass' });
    expect(garbled.statusCode).toBe(400);
    expect(garbled.json().error.code).toBe('SHOP_BAD_INPUT');
  });

  it('logs out: the session is gone on the next request', async () => {
    const client = await loggedIn('bob', 'builder');
    expect((await client.request('POST', '/logout')).body).toEqual({ ok: true });
    const me = await client.request('GET', '/me');
    expect(me.status).toBe(401);
    expect(me.body.error.code).toBe('SHOP_NOT_LOGGED_IN');
  });

  it('treats a forged or garbled session cookie as no session', async () => {
    for (const cookie of ['scaleout_sid=forged.value', 'scaleout_sid=%%%', 'scaleout_sid=' + 'x'.repeat(4000), '=;=;']) {
      const res = await shop.app.inject({ method: 'GET', url: '/me', headers: { cookie, accept: 'application/json' } });
      expect(res.statusCode, cookie.slice(0, 30)).toBe(401);
    }
  });

  it('logs in from an HTML form and redirects to where the visitor was going', async () => {
    const client = new InjectClient(shop.app);
    const ok = await client.request('POST', '/login', { html: true, form: { username: 'carol', password: 'cheshire', next: '/orders' } });
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toBe('/orders');
    const orders = await client.request('GET', '/orders', { html: true });
    expect(orders.status).toBe(200);
    expect(orders.text).toContain('Carol');

    const offsite = await new InjectClient(shop.app).request('POST', '/login', { html: true, form: { username: 'carol', password: 'cheshire', next: '//evil.example/' } });
    expect(offsite.headers.location).toBe('/products');

    const bad = await new InjectClient(shop.app).request('POST', '/login', { html: true, form: { username: 'carol', password: 'nope' } });
    expect(bad.status).toBe(401);
    expect(bad.headers['content-type']).toMatch(/text\/html/);
    expect(bad.text).toContain('Unknown username or wrong password');
  });

  it('sends a visitor who is not logged in from an HTML page to the login form', async () => {
    const res = await new InjectClient(shop.app).request('GET', '/orders?limit=5', { html: true });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/login?next=%2Forders%3Flimit%3D5');
  });
});

describe('products', () => {
  it('lists the catalogue as JSON and as HTML with the serving instance in the footer', async () => {
    const client = new InjectClient(shop.app);
    const json = await client.request('GET', '/products');
    expect(json.status).toBe(200);
    expect(json.body.products).toHaveLength(12);
    expect(json.body.products[0]).toEqual({
      id: 1, name: 'Espresso beans, 1 kg', description: expect.any(String), price: 2490, icon: expect.any(String),
    });
    const html = await client.request('GET', '/products', { html: true });
    expect(html.status).toBe(200);
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(html.text).toContain('Espresso beans, 1 kg');
    expect(html.text).toMatch(/instance <code>shop-test-1<\/code> · build <code>build-test<\/code>/);
  });

  it('shows one product, and 404 with a code for one that does not exist', async () => {
    const client = new InjectClient(shop.app);
    const one = await client.request('GET', '/products/3');
    expect(one.body).toMatchObject({ id: 3, name: 'Pour-over kettle', price: 4500 });
    for (const id of ['999', '0', 'abc', '99999999999999999999', '-1']) {
      const res = await client.request('GET', `/products/${id}`);
      expect(res.status, id).toBe(404);
      expect(res.body.error.code).toBe('SHOP_NOT_FOUND');
    }
    const page = await client.request('GET', '/products/3', { html: true });
    expect(page.text).toContain('Gooseneck spout');
    const missing = await client.request('GET', '/products/<script>', { html: true });
    expect(missing.status).toBe(404);
    expect(missing.text).not.toContain('<script>');
  });

  it('answers odd requests with a code and stays up', async () => {
    const client = await loggedIn();
    const odd = [
      shop.app.inject({ method: 'POST', url: '/cart/items', headers: { accept: 'application/json', 'content-type': 'text/plain' }, payload: 'productId=1' }),
      shop.app.inject({ method: 'POST', url: '/cart/items', headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded', cookie: client.jar.header! }, payload: 'productId[]=1&qty=1' }),
      shop.app.inject({ method: 'POST', url: '/cart/items', headers: { accept: 'application/json', 'content-type': 'application/json', cookie: client.jar.header! }, payload: '{"__proto__":{"qty":5},"productId":1}' }),
      shop.app.inject({ method: 'GET', url: '/orders?before=a&before=b', headers: { accept: 'application/json', cookie: client.jar.header! } }),
      shop.app.inject({ method: 'POST', url: '/login', headers: { accept: 'application/json', 'content-type': 'application/json' }, payload: '\u0000' }),
    ];
    for (const res of await Promise.all(odd)) {
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error.code).toBe('SHOP_BAD_INPUT');
    }
    expect((await shop.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('answers unknown paths with 404 and a code', async () => {
    const res = await new InjectClient(shop.app).request('GET', '/nowhere');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('SHOP_NOT_FOUND');
  });
});

describe('cart', () => {
  it('adds, changes and removes items, pricing them from the catalogue', async () => {
    const client = await loggedIn();
    expect((await client.request('POST', '/cart/items', { json: { productId: 1, qty: 2 } })).body).toEqual({ productId: 1, qty: 2 });
    expect((await client.request('POST', '/cart/items', { json: { productId: 1, qty: 3 } })).body.qty).toBe(5);
    expect((await client.request('POST', '/cart/items', { json: { productId: 1, qty: -2 } })).body.qty).toBe(3);
    expect((await client.request('POST', '/cart/items', { json: { productId: 6 } })).body.qty).toBe(1);
    const cart = await client.request('GET', '/cart');
    expect(cart.body).toEqual({
      items: [
        { productId: 1, name: 'Espresso beans, 1 kg', price: 2490, qty: 3, subtotal: 7470, icon: expect.any(String) },
        { productId: 6, name: 'Dark chocolate bar', price: 450, qty: 1, subtotal: 450, icon: expect.any(String) },
      ],
      total: 7920,
      itemCount: 4,
    });
    expect((await client.request('DELETE', '/cart/items/6')).body).toEqual({ productId: 6, qty: 0 });
    // Taking away more than there is empties the line; it never goes below zero.
    expect((await client.request('POST', '/cart/items', { json: { productId: 1, qty: -50 } })).body.qty).toBe(0);
    expect((await client.request('GET', '/cart')).body).toEqual({ items: [], total: 0, itemCount: 0 });
    expect((await client.request('POST', '/cart/items', { json: { productId: 1, qty: 1 } })).body.qty).toBe(1);
  });

  it('keeps concurrent adds of one product: every one counts', async () => {
    const client = await loggedIn('bob', 'builder');
    await client.request('POST', '/cart/items', { json: { productId: 2, qty: 1 } });
    await Promise.all(Array.from({ length: 20 }, () => client.request('POST', '/cart/items', { json: { productId: 2, qty: 1 } })));
    const line = (await client.request('GET', '/cart')).body.items.find((i: { productId: number }) => i.productId === 2);
    expect(line.qty).toBe(21);
    await client.request('DELETE', '/cart/items/2');
  });

  it('refuses bad input with 400 and SHOP_BAD_INPUT', async () => {
    const client = await loggedIn();
    const bodies: unknown[] = [
      { productId: 1, qty: 0 }, { productId: 1, qty: 1.5 }, { productId: 1, qty: 'abc' }, { productId: 1, qty: 1000 },
      { qty: 1 }, { productId: 'one', qty: 1 }, { productId: 9999, qty: 1 }, { productId: 1, qty: null }, [1, 2], 7,
    ];
    for (const json of bodies) {
      const res = await client.request('POST', '/cart/items', { json });
      expect(res.status, JSON.stringify(json)).toBe(400);
      expect(res.body.error.code).toBe('SHOP_BAD_INPUT');
      expect(typeof res.body.error.message).toBe('string');
    }
    expect((await client.request('DELETE', '/cart/items/abc')).body.error.code).toBe('SHOP_BAD_INPUT');
    const huge = await client.request('POST', '/cart/items', { json: { productId: 1, qty: 1, pad: 'x'.repeat(64 * 1024) } });
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe('SHOP_BODY_TOO_LARGE');
    expect(huge.body.error.message).toContain('16 KiB');
  });

  it('works from HTML forms, and keeps an anonymous cart across login', async () => {
    const client = new InjectClient(shop.app);
    const add = await client.request('POST', '/cart/items', { html: true, form: { productId: '9', qty: '2' } });
    expect(add.status).toBe(303);
    expect(add.headers.location).toBe('/cart');
    const page = await client.request('GET', '/cart', { html: true });
    expect(page.text).toContain('Honey jar');
    expect(page.text).toContain('Cart (2)');
    expect(page.text).toContain('Log in to place the order');
    await client.request('POST', '/login', { html: true, form: { username: 'carol', password: 'cheshire' } });
    expect((await client.request('GET', '/cart')).body.items).toEqual([expect.objectContaining({ productId: 9, qty: 2 })]);
    const removed = await client.request('POST', '/cart/items/9/delete', { html: true });
    expect(removed.status).toBe(303);
    expect((await client.request('GET', '/cart')).body.items).toEqual([]);
  });
});

describe('orders', () => {
  it('refuses an order from an empty cart, and from someone not logged in', async () => {
    const client = await loggedIn('carol', 'cheshire');
    const empty = await client.request('POST', '/orders');
    expect(empty.status).toBe(409);
    expect(empty.body.error.code).toBe('SHOP_EMPTY_CART');
    const anonymous = await new InjectClient(shop.app).request('POST', '/orders');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('SHOP_NOT_LOGGED_IN');
  });

  it('turns the cart into an order, lists orders newest first, pages, and shows one', async () => {
    const client = await loggedIn('bob', 'builder');
    const placed: Array<{ id: string; createdAt: string; total: number }> = [];
    for (let i = 0; i < 4; i++) {
      await client.request('POST', '/cart/items', { json: { productId: 5, qty: i + 1 } });
      await client.request('POST', '/cart/items', { json: { productId: 11, qty: 1 } });
      const res = await client.request('POST', '/orders');
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        items: [
          { productId: 5, name: 'Croissant box', price: 1450, qty: i + 1, subtotal: 1450 * (i + 1) },
          { productId: 11, name: 'Green tea, 100 g', price: 1350, qty: 1, subtotal: 1350 },
        ],
        total: 1450 * (i + 1) + 1350,
        itemCount: i + 2,
      });
      expect(Date.parse(res.body.createdAt)).not.toBeNaN();
      expect((await client.request('GET', '/cart')).body.items).toEqual([]);
      placed.push(res.body);
    }
    const newestFirst = placed.map((o) => o.id).reverse();

    const all = await client.request('GET', '/orders');
    expect(all.body.orders.map((o: { id: string }) => o.id)).toEqual(newestFirst);
    expect(all.body.next).toBeNull();
    // The catalogue's view of each item comes along (one batched lookup for all orders).
    expect(all.body.orders[0].items[0].product).toEqual({ name: 'Croissant box', price: 1450, icon: expect.any(String) });

    const first = await client.request('GET', '/orders?limit=3');
    expect(first.body.orders.map((o: { id: string }) => o.id)).toEqual(newestFirst.slice(0, 3));
    expect(first.body.next).toBe(newestFirst[2]);
    const second = await client.request('GET', `/orders?limit=3&before=${first.body.next}`);
    expect(second.body.orders.map((o: { id: string }) => o.id)).toEqual(newestFirst.slice(3));
    expect(second.body.next).toBeNull();

    // A time works as a cursor too: everything placed before it.
    const cutoff = Date.parse(placed[2]!.createdAt);
    const byTime = await client.request('GET', `/orders?before=${new Date(cutoff).toISOString()}`);
    const expected = placed.filter((o) => Date.parse(o.createdAt) < cutoff).map((o) => o.id).reverse();
    expect(byTime.body.orders.map((o: { id: string }) => o.id)).toEqual(expected);
    expect((await client.request('GET', `/orders?before=${cutoff}`)).body.orders.map((o: { id: string }) => o.id)).toEqual(expected);

    const one = await client.request('GET', `/orders/${placed[1]!.id}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: placed[1]!.id, total: placed[1]!.total });
    const page = await client.request('GET', `/orders/${placed[1]!.id}?placed=1`, { html: true });
    expect(page.text).toContain('Your order is placed');
    expect(page.text).toContain('Croissant box');

    const list = await client.request('GET', '/orders', { html: true });
    expect(list.text).toContain(placed[3]!.id.slice(0, 8));
  });

  it("answers 404 for another user's order and for ids that cannot exist", async () => {
    const alice = await loggedIn();
    await alice.request('POST', '/cart/items', { json: { productId: 12, qty: 1 } });
    const order = (await alice.request('POST', '/orders')).body;
    const bob = await loggedIn('bob', 'builder');
    for (const id of [order.id, '00000000-0000-7000-8000-000000000000', 'garbage', 'x'.repeat(90)]) {
      const res = await bob.request('GET', `/orders/${id}`);
      expect(res.status, id.slice(0, 40)).toBe(404);
      expect(res.body.error.code).toBe('SHOP_NOT_FOUND');
    }
    // Past Fastify's parameter limit the router itself answers.
    expect((await bob.request('GET', `/orders/${'x'.repeat(300)}`)).status).toBe(414);
    expect((await bob.request('GET', '/orders')).body.orders.map((o: { id: string }) => o.id)).not.toContain(order.id);
    expect((await alice.request('GET', `/orders/${order.id}`)).status).toBe(200);
  });

  it('refuses bad paging parameters', async () => {
    const client = await loggedIn();
    for (const query of ['limit=0', 'limit=101', 'limit=abc', 'limit=1.5', 'before=yesterday', 'limit=1&limit=2']) {
      const res = await client.request('GET', `/orders?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.error.code).toBe('SHOP_BAD_INPUT');
    }
    expect((await client.request('GET', '/orders?limit=100')).status).toBe(200);
  });

  it('places an order from the HTML cart page and lands on it', async () => {
    const client = new InjectClient(shop.app);
    await client.request('POST', '/login', { html: true, form: { username: 'alice', password: 'wonderland' } });
    await client.request('POST', '/cart/items', { html: true, form: { productId: '4', qty: '1' } });
    const res = await client.request('POST', '/orders', { html: true });
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/^\/orders\/[0-9a-f-]{36}\?placed=1$/);
    const page = await client.request('GET', res.headers.location as string, { html: true });
    expect(page.text).toContain('Hand grinder');
  });
});
