import { describe, expect, it } from 'vitest';
import { FIELD_VALUE } from './chars.js';
import { scanFields } from './head-fields.js';
import { INCOMPLETE } from './head-result.js';

describe('scanFields', () => {
  it('accepts a value byte exactly when FIELD_VALUE does, wherever it sits in the value', () => {
    // Values are read four bytes at a time: every byte at every offset of a word must
    // get the same answer as the byte table.
    for (let b = 0; b < 256; b++) {
      if (b === 0x0d) continue; // ends the value
      for (let at = 0; at < 9; at++) {
        const value = Buffer.from('abcdefghijkl', 'latin1');
        value[at] = b;
        const head = Buffer.concat([Buffer.from('X-Test:', 'latin1'), value, Buffer.from('\r\n\r\n', 'latin1')]);
        const fields: number[] = [];
        const result = scanFields(head, 0, head.length, 10, fields);
        const accepted = typeof result === 'number';
        expect(accepted, `byte 0x${b.toString(16)} at ${at}`).toBe(FIELD_VALUE[b] === 1);
        if (accepted) expect(fields).toEqual([0, 6, 7 + value.length]);
      }
    }
  });

  it('finds the end of a value that holds obs-text and tabs', () => {
    const head = Buffer.from('A: caf\u00e9\tau lait \u00ff\u0080\r\nB:\r\n\r\n', 'latin1');
    const fields: number[] = [];
    expect(scanFields(head, 0, head.length, 10, fields)).toBe(head.length);
    expect(fields).toEqual([0, 1, 18, 20, 21, 22]);
  });

  it('says incomplete when the data ends inside a long value', () => {
    const head = Buffer.from('A: 0123456789abcdef', 'latin1');
    expect(scanFields(head, 0, head.length, 10, [])).toBe(INCOMPLETE);
  });
});
