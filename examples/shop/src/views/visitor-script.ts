/**
 * The script of pre-rendered pages: the page is one file for every visitor, so the
 * visitor's own parts (logged in as whom, how much in the cart) come from
 * `POST /visitor`, which also records the product view the static server cannot.
 * DOM calls only, never innerHTML: a user's name is text.
 */
export const VISITOR_SCRIPT = `// Fills in the visitor's parts of a pre-rendered page.
const account = document.getElementById('account');
const viewing = account === null ? undefined : account.dataset.viewing;
fetch('/visitor', {
  method: 'POST',
  credentials: 'same-origin',
  headers: { 'content-type': 'application/json', accept: 'application/json' },
  body: JSON.stringify(viewing === undefined ? {} : { viewing: Number(viewing) }),
}).then((res) => (res.ok ? res.json() : undefined)).then((visitor) => {
  if (visitor === undefined) return;
  const count = document.getElementById('cart-count');
  if (count !== null) count.textContent = String(visitor.cartCount);
  if (account === null || visitor.user === null) return;
  const name = document.createElement('span');
  name.textContent = visitor.user.name;
  const form = document.createElement('form');
  form.method = 'post';
  form.action = '/logout';
  const button = document.createElement('button');
  button.type = 'submit';
  button.textContent = 'Log out';
  form.append(button);
  account.replaceChildren(name, form);
}).catch(() => undefined);
`;
