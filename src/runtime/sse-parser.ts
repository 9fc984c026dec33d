/** One message of a Server-Sent Events stream. */
export interface SseMessage {
  /** The `id:` field, when the message had one. */
  id: string | undefined;
  data: string;
}

/**
 * Splits a `text/event-stream` into messages (the parts of the format the control
 * API writes: `id:`, `data:`, `retry:`, comments), chunk by chunk: a chunk may end in
 * the middle of a line.
 */
export class SseParser {
  #rest = '';
  #id: string | undefined;
  #data: string[] = [];
  /** The last `retry:` the server asked for, in ms. */
  retryMs: number | undefined;

  push(chunk: string): SseMessage[] {
    const messages: SseMessage[] = [];
    let text = this.#rest + chunk;
    // A CR at the end may be the first half of a CRLF: wait for the next chunk.
    const heldCr = text.endsWith('\r');
    if (heldCr) text = text.slice(0, -1);
    const lines = text.split(/\r\n|\r|\n/);
    this.#rest = (lines.pop() ?? '') + (heldCr ? '\r' : '');
    for (const line of lines) {
      if (line === '') {
        if (this.#data.length > 0) messages.push({ id: this.#id, data: this.#data.join('\n') });
        this.#id = undefined;
        this.#data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') this.#data.push(value);
      else if (field === 'id') this.#id = value;
      else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
    }
    return messages;
  }
}
