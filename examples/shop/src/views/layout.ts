import { createHash } from 'node:crypto';
import { Html, html } from './html.js';

/** What every page shows around its content. */
export interface PageContext {
  user: { username: string; name: string } | undefined;
  cartCount: number;
  instanceId: string;
  buildId: string;
  /** The path being shown, to come back to after logging in. */
  path: string;
  /** Where the page's cached object came from (`L1 (this instance)`, `L2 (shared)`, `the database`), when it has one. */
  cacheSource?: string;
  /**
   * A page pre-rendered for the static tier: one file for every visitor, so it carries
   * nothing personal. The login state and the cart count are filled in by
   * {@link VISITOR_SCRIPT_PATH} from `POST /visitor`; `productId` is the product viewed.
   * Nothing that changes between renders of the same data (a time, the worker's id):
   * an unchanged page keeps its bytes, so its ETag and browsers' 304s.
   */
  baked?: { productId?: number };
}

/** The script that fills the personal parts of a pre-rendered page (a file: the CSP allows no inline script). */
export const VISITOR_SCRIPT_PATH = '/assets/visitor.js';

const STYLE = new Html(`
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1d232b;background:#f6f4f0}
header{display:flex;gap:1.25rem;align-items:center;padding:.75rem 1.5rem;background:#1d232b;color:#fff}
header a{color:#fff;text-decoration:none}
header .brand{font-weight:700;margin-right:auto}
header form{margin:0}
main{max-width:960px;margin:0 auto;padding:1.5rem}
footer{max-width:960px;margin:0 auto;padding:1rem 1.5rem 2rem;color:#6b7280;font-size:.85rem}
footer code{background:#e8e4dc;padding:.1rem .35rem;border-radius:4px}
h1{margin-top:0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:1rem}
.card{background:#fff;border-radius:10px;padding:1rem;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.icon{font-size:2.5rem}
.price{font-weight:600}
table{width:100%;border-collapse:collapse;background:#fff;border-radius:10px;overflow:hidden}
th,td{text-align:left;padding:.5rem .75rem;border-bottom:1px solid #eee}
td.num,th.num{text-align:right}
button,.button{font:inherit;background:#b4532a;color:#fff;border:0;border-radius:6px;padding:.35rem .8rem;cursor:pointer;text-decoration:none;display:inline-block}
button.quiet{background:#e8e4dc;color:#1d232b}
header button{background:transparent;border:1px solid #fff8;padding:.2rem .6rem}
.inline{display:inline}
.notice{background:#fff3cd;padding:.75rem 1rem;border-radius:8px}
.error{background:#fde2e1;padding:.75rem 1rem;border-radius:8px}
label{display:block;margin:.5rem 0 .25rem}
input{font:inherit;padding:.35rem .5rem;border:1px solid #ccc;border-radius:6px}
input[type=number]{width:5rem}
.muted{color:#6b7280}
`);

/** The CSP source that allows exactly the inline stylesheet above, and nothing else. */
export const STYLE_SOURCE = `'sha256-${createHash('sha256').update(STYLE.text).digest('base64')}'`;

/** A whole page: header with navigation and login state, the content, and the serving instance in the footer. */
export function page(ctx: PageContext, title: string, content: Html): string {
  const login = html`<a href="/login?next=${encodeURIComponent(ctx.path)}">Log in</a>`;
  const account = ctx.baked !== undefined
    ? html`<span id="account"${ctx.baked.productId === undefined ? '' : html` data-viewing="${ctx.baked.productId}"`}>${login}</span>`
    : ctx.user === undefined
      ? login
      : html`<span>${ctx.user.name}</span><form method="post" action="/logout"><button type="submit">Log out</button></form>`;
  const footer = ctx.baked !== undefined
    ? html`<footer>Pre-rendered · build <code>${ctx.buildId}</code> · served as a file by the static tier</footer>
<script src="${VISITOR_SCRIPT_PATH}" defer></script>`
    : html`<footer>Served by instance <code>${ctx.instanceId}</code> · build <code>${ctx.buildId}</code>${ctx.cacheSource === undefined ? '' : html` · page object from <code>${ctx.cacheSource}</code>`}</footer>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · scaleout shop</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<a class="brand" href="/products">scaleout shop</a>
<a href="/products">Products</a>
<a href="/cart">Cart (${ctx.baked === undefined ? ctx.cartCount : html`<span id="cart-count">0</span>`})</a>
<a href="/orders">Orders</a>
${account}
</header>
<main>
${content}
</main>
${footer}
</body>
</html>
`.text;
}
