// Determinism: one seed and one list of actions make one run. Two worlds given the same seed and the
// same actions, over links that lose, duplicate, delay and reorder messages, write the same trace byte
// for byte; another seed draws other network faults and so another trace.

import { describe, expect, it } from 'vitest';
import { referenceTarget } from '../../impl/reference_target.ts';
import { type LinkFaults, PERFECT_LINK } from '../sim_network.ts';
import type { World, WorldAction } from '../world.ts';
import {
  expectMirrorEqualsPrimary,
  expectNoAckedWriteLost,
  mirrorImage,
  scenarioWorld,
  settled,
  tickUntil,
} from './scenario_kit.ts';

const LOSSY: LinkFaults = {
  deliveryDelayTicksMin: 1,
  deliveryDelayTicksMax: 3,
  lossPercent: 10,
  duplicatePercent: 15,
  reorderPercent: 15,
};

/** A fixed schedule: writes on both sources, ticks, a partition, a torn crash in a CP, a disk swap. */
function schedule(): WorldAction[] {
  const actions: WorldAction[] = [];
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 5; i++) {
      actions.push({ kind: 'write', source: 'src0', lba: (round * 7 + i * 3) % 64 });
      actions.push({ kind: 'write', source: 'src1', lba: (round * 5 + i) % 64 });
      actions.push({ kind: 'tick', ticks: 1 });
    }
    actions.push({ kind: 'tick', ticks: 4 });
    actions.push({ kind: 'read', source: 'src0', lba: round });
  }
  actions.push({ kind: 'partition', source: 'src1' });
  actions.push({ kind: 'write', source: 'src1', lba: 9 });
  actions.push({ kind: 'tick', ticks: 12 });
  actions.push({ kind: 'heal', source: 'src1' });
  actions.push({ kind: 'crash', node: 'src0', afterWrites: 5, torn: true });
  actions.push({ kind: 'write', source: 'src0', lba: 1 });
  actions.push({ kind: 'tick', ticks: 15 });
  actions.push({ kind: 'restart', node: 'src0' });
  actions.push({ kind: 'fail-disk', node: 'dst', group: 'mirror:src1', index: 4 });
  actions.push({ kind: 'tick', ticks: 10 });
  actions.push({ kind: 'replace-disk', node: 'dst', group: 'mirror:src1', index: 4 });
  actions.push({ kind: 'tick', ticks: 10 });
  return actions;
}

function run(seed: number): World {
  const world = scenarioWorld({
    seed,
    target: referenceTarget(),
    mode: 'sync',
    sources: 2,
    linkFaults: LOSSY,
  });
  for (const action of schedule()) world.step(action);
  return world;
}

describe('determinism', () => {
  it('the same seed and actions give the same trace, byte for byte; another seed another trace', () => {
    const a = run(1001);
    const b = run(1001);
    const c = run(1002);
    const text = (w: World): string => w.trace.join('\n');
    expect(text(a)).toBe(text(b));
    expect(a.writes).toEqual(b.writes);
    expect(text(c)).not.toBe(text(a));
    // The faults really happened: duplicates and a power cut are in the trace, and messages were lost.
    expect(text(a)).toContain('(dup)');
    expect(text(a)).toContain('power lost src0');
    expect(a.network.stats.lost).toBeGreaterThan(0);
    expect(a.network.stats.reordered).toBeGreaterThan(0);
    expect(a.trace.length).toBeGreaterThan(200);
  });

  it('after the faults, healed links converge: in sync, equal, nothing acknowledged lost', () => {
    for (const seed of [1001, 1002]) {
      const world = run(seed);
      for (const source of ['src0', 'src1']) world.network.configureLink(source, 'dst', PERFECT_LINK);
      tickUntil(
        world,
        () => ['src0', 'src1'].every((s) => settled(world, s)),
        60,
        `converged (seed ${seed})`,
      );
      for (const source of ['src0', 'src1']) {
        expectMirrorEqualsPrimary(world, source);
        const mirror = mirrorImage(world, source);
        expect(expectNoAckedWriteLost(world, source, (lba) => mirror[lba]!, `seed ${seed}`)).toBeGreaterThan(
          10,
        );
      }
    }
  });
});
