// A small conformance campaign against the shadow-paging target, and regressions of the bugs campaigns found.
// Fault model: every fault the campaign's schedules inject (crashes torn mid-CP, partitions, disk faults).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Counterexample, replayCounterexample, runCampaign } from '../harness/campaign.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import { smallWorld } from '../harness/presets.ts';
import { createRaidGroup } from '../impl/raid.ts';
import { shadowPagingTarget } from './shadow_target.ts';
import { layoutFor, ShadowVolume } from './shadow_volume.ts';

describe('shadow-paging target', () => {
  it('passes a swarm campaign with the model in lockstep', () => {
    const result = runCampaign(shadowPagingTarget(), {
      runs: 60,
      maxSteps: 60,
      swarm: true,
      seed: 11,
      version: 'test',
      checkers: modelCheckers,
    });
    expect(result.counterexample).toBeUndefined();
  }, 30_000);

  // Campaign seed 402 (3000 swarm schedules), shrunk: src0 loses power logging its first write and
  // restarts, replaying it into CP 2; the destination loses power after 2 media writes of the resync.
  // CP 0's root pinned nothing, so the restarted source forgot the mirror held CP 0, dropped it, and
  // shipped a whole image into slot 0, the mirror's only valid root, table first: after the cut the
  // destination's restart threw "no valid root in any slot".
  it('never overwrites the mirror’s committed root slot in a resync (seed 402)', () => {
    const file = join(
      import.meta.dirname,
      '..',
      'reports',
      'counterexamples',
      'shadow-paging-full-resync-over-mirror-root.json',
    );
    const cx = JSON.parse(readFileSync(file, 'utf8')) as Counterexample;
    expect(cx.target).toBe('shadow-paging');
    expect(cx.schedule.actions).toEqual([
      { kind: 'crash', node: 'src0', afterWrites: 1, torn: false },
      { kind: 'crash', node: 'dst', afterWrites: 2, torn: false },
      { kind: 'write', source: 'src0', lba: 0 },
      { kind: 'restart', node: 'src0' },
      { kind: 'tick', ticks: 3 },
      { kind: 'fail-disk', node: 'src0', group: 'primary', index: 0 },
    ]);
    const r = replayCounterexample(shadowPagingTarget(), cx, modelCheckers());
    expect(r.violation, `${r.violation?.property}: ${r.violation?.message}`).toBeUndefined();
  });
});

describe('shadow volume', () => {
  const world = smallWorld({ lbaCount: 16 });
  const s = world.sources[0]!;
  const layout = layoutFor(s.lbaCount, world.blockBytes, s.primary, s.mirror);
  const block = (byte: number) => new Uint8Array(world.blockBytes).fill(byte);

  it('formats CP 0 pinned: the mirror holds it from format on, so a restarted source keeps it', () => {
    const volume = new ShadowVolume(createRaidGroup(s.primary), layout);
    volume.format();
    const image = volume.mount();
    expect(image.cp).toBe(0);
    expect(image.pinned).toEqual([{ slot: 0, cp: 0 }]);
  });

  it('tells a write that would change the committed image before a new root is durable', () => {
    const volume = new ShadowVolume(createRaidGroup(s.mirror), layout);
    const cp0 = volume.format();
    const kept = [cp0];
    const { image: cp2, blocks } = volume.commitWrites(
      cp0,
      new Map([[0, block(7)]]),
      { cp: 2, slot: volume.freeSlot(kept), coveredSeq: 1, promoted: false, pinned: [] },
      kept,
    );
    expect(cp2.slot).not.toBe(cp0.slot);
    const dataVbn = cp2.table[0]!;
    // What CP 2 wrote, again (same bytes), and a CP in a free slot at fresh VBNs: nothing changes.
    expect(volume.overwritesImage(cp2, blocks)).toBe(false);
    const fresh = volume.allocate([cp0, cp2], 1)[0]!;
    const cp4 = { ...cp2, cp: 4, slot: volume.freeSlot([cp0, cp2]), table: new Uint32Array(cp2.table) };
    cp4.table[1] = fresh;
    expect(volume.overwritesImage(cp2, [{ vbn: fresh, data: block(9) }, ...volume.slotBlocks(cp4)])).toBe(
      false,
    );
    // Its table, its root, or a data block it maps, with other bytes: refused.
    const intoCp2Slot = volume.slotBlocks({ ...cp4, slot: cp2.slot });
    expect(volume.overwritesImage(cp2, intoCp2Slot.slice(0, 1))).toBe(true);
    expect(volume.overwritesImage(cp2, intoCp2Slot.slice(-1))).toBe(true);
    expect(volume.overwritesImage(cp2, [{ vbn: dataVbn, data: block(8) }])).toBe(true);
    // A full image into free slot 0 is still fine for CP 2 (slot 0 is CP 0's), but not for CP 0.
    const cp4In0 = volume.slotBlocks({ ...cp4, slot: cp0.slot });
    expect(volume.overwritesImage(cp2, cp4In0)).toBe(false);
    expect(volume.overwritesImage(cp0, cp4In0)).toBe(true);
  });
});
