import { describe, expect, it } from 'vitest';
import { describeEvent, formatEventLine, isEcho } from './event-text.js';
import type { RuntimeEvent } from './events.js';

const base = { id: 7, at: Date.UTC(2026, 0, 2, 3, 4, 5, 6) };

describe('describeEvent', () => {
  it('words each kind the way scaleout up always printed it', () => {
    expect(describeEvent({ ...base, source: 'app-1', kind: 'instance-exited', pool: 'app', exit: 'killed by SIGKILL', restartInMs: 1500 }))
      .toEqual({ level: 'warn', text: 'app-1 killed by SIGKILL; left pool app, restarting in 1500 ms' });
    expect(describeEvent({
      ...base, source: 'balancer', kind: 'process-exited', name: 'the balancer', exit: 'exited with code 70', crashReport: 'Error: x\n    at y', restartInMs: 0, note: 'on the same addresses', crashesInARow: 1,
    }).text).toBe('the balancer exited with code 70 after an uncaught error:\nError: x\n    at y\n; restarting it now on the same addresses (crash 1 in a row)');
    expect(describeEvent({ ...base, source: 'app-2', kind: 'server-state', pool: 'app', server: 'app-2', state: 'ejected', reason: 'connect failures in a row' }))
      .toEqual({ level: 'warn', text: 'balancer: app/app-2 ejected (connect failures in a row)' });
    expect(describeEvent({ ...base, source: 'supervisor', kind: 'gap', afterId: 3, missed: 40 }).text).toContain('40 event(s) after #3 are gone');
  });

  it('shows a kind it does not know (from a newer supervisor) as its fields', () => {
    const future = { ...base, source: 'dns', kind: 'dns-answered', name: 'shop.local' } as unknown as RuntimeEvent;
    expect(describeEvent(future)).toEqual({ level: 'info', text: '{"kind":"dns-answered","name":"shop.local"}' });
  });
});

describe('isEcho', () => {
  it('leaves off the balancer confirming membership changes, not its health verdicts', () => {
    const state = (s: string): RuntimeEvent => ({ ...base, source: 'app-1', kind: 'server-state', pool: 'app', server: 'app-1', state: s, reason: '' });
    expect(['added', 'removed', 'draining', 'drained'].map((s) => isEcho(state(s)))).toEqual([true, true, true, true]);
    expect(['up', 'down', 'ejected'].map((s) => isEcho(state(s)))).toEqual([false, false, false]);
  });
});

describe('formatEventLine', () => {
  it('puts time, mark and source first and indents the lines of a stack', () => {
    const line = formatEventLine({
      ...base, source: 'balancer', kind: 'process-exited', name: 'the balancer', exit: 'exited with code 70', crashReport: 'Error: x\n    at y', restartInMs: 0, note: null, crashesInARow: 2,
    });
    expect(line).toBe('2026-01-02T03:04:05.006Z ! balancer     the balancer exited with code 70 after an uncaught error:\n    Error: x\n        at y\n    ; restarting it now (crash 2 in a row)');
  });
});
