// Tests of the storage stack's typed errors: each is an Error with its own name and the caller's message.

import { describe, expect, it } from 'vitest';
import { RaidFailure, VolumeError } from './errors.ts';

describe('storage errors', () => {
  it('are typed, named, and carry their message', () => {
    const cases: [Error, string][] = [
      [new RaidFailure('two disks lost'), 'RaidFailure'],
      [new VolumeError('no valid root'), 'VolumeError'],
    ];
    for (const [error, name] of cases) {
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe(name);
      expect(String(error)).toBe(`${name}: ${error.message}`);
    }
    expect(new RaidFailure('two disks lost').message).toBe('two disks lost');
    expect(new VolumeError('no valid root').message).toBe('no valid root');
  });
});
