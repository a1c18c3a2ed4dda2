// Scenario 5: the source loses power in the middle of a CP, after each of the CP's media writes in
// turn, with that write torn or whole. After the restart (NVLOG replay, recovery CP, incremental
// resync) the mirror equals the primary and no acknowledged write is lost, whatever the crash point.

import { describe, expect, it } from 'vitest';
import { referenceTarget } from '../../impl/reference_target.ts';
import type { ConformanceTarget } from '../target.ts';
import type { World } from '../world.ts';
import {
  clientReadAll,
  cpSyncsDelivered,
  expectMirrorEqualsPrimary,
  expectNoAckedWriteLost,
  expectStaysInSync,
  mediaWritesDuring,
  mirrorImage,
  primaryImage,
  runCp,
  scenarioWorld,
  settled,
  sourceObs,
  tickUntil,
  writeAll,
} from './scenario_kit.ts';

const SEED = 505;

/**
 * CP 1 mirrored, then ten acknowledged writes (five overwrites, five new LBAs) that CP 2 will hold.
 * Nothing writes the source's media until CP 2 starts, so a power cut armed now counts CP 2's writes.
 */
function beforeSecondCp(target: ConformanceTarget): { world: World; images: Map<number, number[]> } {
  const world = scenarioWorld({ seed: SEED, target, mode: 'sync' });
  writeAll(world, 'src0', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  runCp(world, 'src0');
  const images = new Map([[1, primaryImage(world, 'src0')]]);
  writeAll(world, 'src0', [5, 6, 7, 8, 9, 20, 21, 22, 23, 24]);
  tickUntil(world, () => sourceObs(world, 'src0').pendingWrites === 0, 5, 'writes acknowledged');
  expect(world.writes.every((w) => w.outcome?.ok === true)).toBe(true);
  expect(sourceObs(world, 'src0').cpInProgress).toBe(false);
  return { world, images };
}

function sourceCrashAtEveryCpWrite(target: ConformanceTarget): number {
  // Dry run: CP 2's media writes on the source, from freezing the NVLOG half to releasing it on the
  // destination's confirm. Ten data blocks and the map block take VBNs 17..27 of the RAID-4 4+1
  // group: stripe 4 partially (3 data + parity), stripes 5 and 6 whole (4 data + parity each); the
  // root is one data block and its parity; freeze and release are one NVRAM write each.
  const dry = beforeSecondCp(target);
  const cpWrites = mediaWritesDuring(dry.world, 'src0', () => runCp(dry.world, 'src0'));
  expect(cpWrites).toBe(1 + (4 + 5 + 5) + 2 + 1);
  expect(primaryImage(dry.world, 'src0')).not.toEqual(dry.images.get(1));
  dry.images.set(2, primaryImage(dry.world, 'src0'));

  let runs = 0;
  for (let k = 1; k <= cpWrites; k++) {
    for (const torn of [false, true]) {
      const { world } = beforeSecondCp(target);
      const at = `crash after CP write ${k} of ${cpWrites}${torn ? ', torn' : ''}`;
      world.step({ kind: 'crash', node: 'src0', afterWrites: k, torn });
      tickUntil(world, () => !world.isUp('src0'), 2 * world.spec.cpIntervalTicks, `src0 down (${at})`);
      // Meanwhile the mirror is exactly CP 1 or CP 2 of the primary, never a mixture.
      const mirrorCp = sourceObs(world, 'src0').mirrorCp;
      expect(dry.images.get(mirrorCp), at).toEqual(mirrorImage(world, 'src0'));

      const sinceRestart = world.deliveries.length;
      world.step({ kind: 'restart', node: 'src0' });
      tickUntil(world, () => settled(world, 'src0'), 40, `in sync after the restart (${at})`);
      // One incremental transfer from the mirror's CP: CP 2's ten LBAs, the map block and the root
      // when the mirror still held CP 1; only the root when it already held CP 2.
      const transfers = cpSyncsDelivered(world, 'src0', sinceRestart).filter((m) => m.resync);
      expect(
        transfers.map((m) => m.updates.length),
        at,
      ).toEqual([mirrorCp === 1 ? 10 + 1 + 1 : 1]);
      expectStaysInSync(world, 'src0', world.spec.ackTimeoutTicks + 1);
      expectMirrorEqualsPrimary(world, 'src0');
      const committed = primaryImage(world, 'src0');
      expect(expectNoAckedWriteLost(world, 'src0', (lba) => committed[lba]!, at)).toBe(17);
      // Exactly the acknowledged image: nothing lost, nothing invented.
      expect(committed, at).toEqual(dry.images.get(2));
      expect(clientReadAll(world, 'src0'), at).toEqual(committed);
      runs++;
    }
  }
  return runs;
}

describe('scenario 5: a source crash in the middle of a CP', () => {
  it('at every media write of the CP, torn or whole: resync to an equal mirror, nothing lost', () => {
    expect(sourceCrashAtEveryCpWrite(referenceTarget())).toBe(2 * 18);
  });
});
