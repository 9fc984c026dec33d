import type { StatementRoute } from './statement-classifier.js';

/**
 * Remembers the route of each SQL text, least recently used out first. A hit costs
 * one Map lookup plus a re-insert (a Map iterates in insertion order, so re-inserting
 * moves the text to the young end); the parser runs once per distinct text.
 */
export class RouteCache {
  #routes = new Map<string, StatementRoute>();
  #maxEntries: number;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  get(text: string): StatementRoute | undefined {
    const route = this.#routes.get(text);
    if (route !== undefined) {
      this.#routes.delete(text);
      this.#routes.set(text, route);
    }
    return route;
  }

  set(text: string, route: StatementRoute): void {
    this.#routes.delete(text);
    this.#routes.set(text, route);
    if (this.#routes.size > this.#maxEntries) {
      const oldest = this.#routes.keys().next();
      if (!oldest.done) this.#routes.delete(oldest.value);
    }
  }

  get size(): number {
    return this.#routes.size;
  }
}
