/** The catalogue and the users a fresh shop starts with. Prices are integer cents. */

export interface SeedProduct {
  id: number;
  name: string;
  description: string;
  price: number;
  icon: string;
}

export interface SeedUser {
  username: string;
  password: string;
  name: string;
}

export const SEED_PRODUCTS: readonly SeedProduct[] = [
  { id: 1, name: 'Espresso beans, 1 kg', description: 'Dark roast, chocolate and hazelnut notes.', price: 2490, icon: '☕' },
  { id: 2, name: 'Stoneware mug', description: 'Holds 350 ml and keeps it warm.', price: 1200, icon: '🍵' },
  { id: 3, name: 'Pour-over kettle', description: 'Gooseneck spout for a slow, even pour.', price: 4500, icon: '🫖' },
  { id: 4, name: 'Hand grinder', description: 'Ceramic burrs, 40 grind settings.', price: 5900, icon: '⚙️' },
  { id: 5, name: 'Croissant box', description: 'Six butter croissants, baked this morning.', price: 1450, icon: '🥐' },
  { id: 6, name: 'Dark chocolate bar', description: '72% cacao, single origin.', price: 450, icon: '🍫' },
  { id: 7, name: 'Linen apron', description: 'Stonewashed, two front pockets.', price: 3200, icon: '🧑‍🍳' },
  { id: 8, name: 'Cookbook: Slow Mornings', description: 'Breakfasts worth getting up for.', price: 2800, icon: '📖' },
  { id: 9, name: 'Honey jar', description: 'Wildflower honey from the hills, 500 g.', price: 990, icon: '🍯' },
  { id: 10, name: 'Teapot', description: 'Cast iron, 1.2 litres.', price: 6400, icon: '🫖' },
  { id: 11, name: 'Green tea, 100 g', description: 'Sencha, first flush.', price: 1350, icon: '🍃' },
  { id: 12, name: 'Gift card', description: 'For the friend who has every mug already.', price: 2500, icon: '🎁' },
];

/** Listed in examples/shop/README.md: keep the two in step. */
export const SEED_USERS: readonly SeedUser[] = [
  { username: 'alice', password: 'wonderland', name: 'Alice' },
  { username: 'bob', password: 'builder', name: 'Bob' },
  { username: 'carol', password: 'cheshire', name: 'Carol' },
];
