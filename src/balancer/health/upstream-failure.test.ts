import { describe, expect, it } from 'vitest';
import { earlyCloseFailure } from './upstream-failure.js';

describe('earlyCloseFailure', () => {
  const facts = { connected: true, reused: false, failed: true, requestSent: true };

  it('blames the server for a refused connect, and for a close after the whole request', () => {
    expect(earlyCloseFailure({ ...facts, connected: false, requestSent: false })).toBe('connect');
    expect(earlyCloseFailure(facts)).toBe('connect');
    expect(earlyCloseFailure({ ...facts, failed: false })).toBe('connect');
    expect(earlyCloseFailure({ ...facts, reused: true })).toBe('connect');
  });

  it('does not blame it for closing on an upload it will not read, or for a keep-alive race', () => {
    expect(earlyCloseFailure({ ...facts, requestSent: false })).toBeUndefined();
    expect(earlyCloseFailure({ ...facts, reused: true, failed: false })).toBeUndefined();
  });
});
