import { describe, expect, it } from 'vitest';
import { type RoleInput, resolveRoles } from './role-resolver.js';

const primary = (name: string, timeline = 1, extra: Partial<RoleInput> = {}): RoleInput =>
  ({ name, reachable: true, inRecovery: false, timeline, fenced: false, ...extra });
const replica = (name: string, timeline = 1, extra: Partial<RoleInput> = {}): RoleInput =>
  ({ name, reachable: true, inRecovery: true, timeline, fenced: false, ...extra });
const down = (name: string, extra: Partial<RoleInput> = {}): RoleInput =>
  ({ name, reachable: false, inRecovery: undefined, timeline: undefined, fenced: false, ...extra });

describe('resolveRoles', () => {
  it('finds the primary and the replicas', () => {
    const d = resolveRoles([primary('a'), replica('b'), replica('c')], 'a', 0);
    expect(d.primary).toBe('a');
    expect(Object.fromEntries(d.roles)).toEqual({ a: 'primary', b: 'replica', c: 'replica' });
    expect(d.fence).toEqual([]);
    expect(d.highestTimeline).toBe(1);
  });

  it('follows reality when the configured primary is a replica and a replica is not', () => {
    const d = resolveRoles([replica('a', 2), primary('b', 2), replica('c', 2)], 'a', 0);
    expect(d.primary).toBe('b');
    expect(d.roles.get('a')).toBe('replica');
    expect(d.fence).toEqual([]);
  });

  it('keeps an unreachable primary while nobody else is writable (failover decides)', () => {
    const d = resolveRoles([down('a'), replica('b'), replica('c')], 'a', 1);
    expect(d.primary).toBe('a');
    expect(d.roles.get('a')).toBe('primary');
  });

  it('moves to an externally promoted replica and fences the unreachable old primary', () => {
    const d = resolveRoles([down('a'), primary('b', 2), replica('c', 1)], 'a', 1);
    expect(d.primary).toBe('b');
    expect(d.fence).toEqual(['a']);
    expect(d.roles.get('a')).toBe('fenced');
    expect(d.roles.get('c')).toBe('replica');
  });

  it('fences an old primary that comes back writable on an older timeline', () => {
    const d = resolveRoles([primary('a', 1), primary('b', 2), replica('c', 2)], 'b', 2);
    expect(d.primary).toBe('b');
    expect(d.fence).toEqual(['a']);
    expect(d.roles.get('a')).toBe('fenced');
  });

  it('fences an old primary on an older timeline even when a fresh router starts with it configured', () => {
    const d = resolveRoles([primary('a', 1), primary('b', 2), replica('c', 2)], 'a', 0);
    expect(d.primary).toBe('b');
    expect(d.fence).toEqual(['a']);
  });

  it('never writes to a lone writable node when a replica shows a newer timeline', () => {
    const d = resolveRoles([primary('a', 1), down('b'), replica('c', 2)], 'a', 0);
    expect(d.primary).toBeUndefined();
    expect(d.fence).toEqual(['a']);
    expect(d.roles.get('a')).toBe('fenced');
  });

  it('remembers the highest timeline seen even when that node is gone', () => {
    const d = resolveRoles([primary('a', 1), replica('c', 1)], 'a', 2);
    expect(d.primary).toBeUndefined();
    expect(d.fence).toEqual(['a']);
  });

  it('keeps a fenced node fenced while it is writable, and when it is unreachable', () => {
    expect(resolveRoles([primary('a', 2, { fenced: true }), primary('b', 2)], 'b', 2).roles.get('a')).toBe('fenced');
    expect(resolveRoles([down('a', { fenced: true }), primary('b', 2)], 'b', 2).roles.get('a')).toBe('fenced');
  });

  it('unfences a node rebuilt as a replica of the newest timeline', () => {
    const d = resolveRoles([replica('a', 2, { fenced: true }), primary('b', 2)], 'b', 2);
    expect(d.unfence).toEqual(['a']);
    expect(d.roles.get('a')).toBe('replica');
  });

  it('keeps a fenced node fenced while it replays an older timeline', () => {
    const d = resolveRoles([replica('a', 1, { fenced: true }), primary('b', 2)], 'b', 2);
    expect(d.unfence).toEqual([]);
    expect(d.roles.get('a')).toBe('fenced');
  });

  it('resolves split brain on one timeline deterministically, whatever the current primary or order', () => {
    const one = resolveRoles([primary('b', 2), primary('a', 2), down('c')], 'c', 1);
    const two = resolveRoles([primary('a', 2), primary('b', 2), down('c')], undefined, 1);
    expect(one.primary).toBe('a');
    expect(two.primary).toBe('a');
    expect(one.fence).toContain('b');
    expect(two.fence).toContain('b');
  });

  it('does not fence a primary demoted into a replica by an external manager', () => {
    const d = resolveRoles([replica('a', 2), primary('b', 2)], 'a', 1);
    expect(d.primary).toBe('b');
    expect(d.fence).toEqual([]);
    expect(d.roles.get('a')).toBe('replica');
  });

  it('has no primary when every node is in recovery', () => {
    const d = resolveRoles([replica('a'), replica('b')], 'a', 1);
    expect(d.primary).toBeUndefined();
  });
});
