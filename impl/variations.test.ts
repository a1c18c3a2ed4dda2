// The deviating targets (harness/targets.ts, DEVIATING_TARGETS) really deviate: for each, a short
// directed schedule through the simulated world shows the canary break its one rule of
// harness/target.ts where the reference, on the same schedule, keeps it. Whether the harness's checks
// catch them is another suite's business; this one proves there is something to catch.

import { describe, expect, it } from 'vitest';
import { type PresetOptions, smallWorld } from '../harness/presets.ts';
import { decodedDeliveries } from '../harness/scenarios/scenario_kit.ts';
import { answerDeadlineTicks, type ConformanceTarget } from '../harness/target.ts';
import { builtInTarget, DEVIATING_TARGETS } from '../harness/targets.ts';
import { OUT_OF_RANGE_WRITE_IDS, World } from '../harness/world.ts';
import { writeData } from '../harness/write_identity.ts';

const SEED = 11;

function target(name: string): ConformanceTarget {
  const t = builtInTarget(name);
  if (!t) throw new Error(`no target ${name}`);
  return t;
}

function world(name: string, preset: PresetOptions = {}, recordDeliveries = false): World {
  return new World({ spec: smallWorld(preset), target: target(name), seed: SEED, recordDeliveries });
}

function src0(w: World) {
  return w.observe().sources.src0!;
}

function writes(w: World, lbas: readonly number[]): void {
  for (const lba of lbas) w.step({ kind: 'write', source: 'src0', lba });
}

function tick(w: World, ticks = 1): void {
  w.step({ kind: 'tick', ticks });
}

/** Ticks one at a time until `done`, at most `max` ticks. */
function tickUntil(w: World, done: () => boolean, max = 60): void {
  for (let i = 0; i < max && !done(); i++) tick(w);
  expect(done(), w.trace.slice(-30).join('\n')).toBe(true);
}

function settled(w: World): boolean {
  const o = src0(w);
  return (
    o.relationship === 'in-sync' && !o.cpInProgress && o.pendingWrites === 0 && o.primaryCp === o.mirrorCp
  );
}

const REFERENCE = 'reference';

describe('deviating targets', () => {
  it('are registered apart from the built-in canaries, each expected to fail', () => {
    expect(DEVIATING_TARGETS.map((t) => t.name)).toEqual([
      'canary-cp-timer-never-fires',
      'canary-semi-sync-unbounded-lag',
      'canary-resync-sends-whole-volume',
      'canary-reads-fail',
      'canary-spurious-out-of-sync',
      'canary-nvlog-full-fails-writes',
      'canary-no-cp-on-full-half',
      'canary-timeout-never-fires',
      'canary-truncates-log-early',
      'canary-cp-image-early-cut',
      'canary-wraps-out-of-range-lbas',
      'canary-timers-on-peer-clock',
      'canary-no-frame-checksum',
      'canary-applies-stale-cp-sync',
      'canary-scrub-repairs-nothing',
      'canary-dedup-weak-fingerprint',
      'canary-zero-write-as-hole',
      'canary-log-trusts-stale-lap',
      'canary-labels-spare-first',
      'canary-lost-blocks-read-as-zeros',
      'canary-lost-volume-stalls-writes',
      'canary-confirms-lost-mirror',
      'canary-resync-erases-missing-disk',
      'canary-root-first',
    ]);
    for (const t of DEVIATING_TARGETS) {
      expect(t.expected).toBe('fail');
      expect(builtInTarget(t.name)).toBe(t);
    }
  });

  it('canary-cp-timer-never-fires (T1): a write and 25 ticks start no CP; a full half still does', () => {
    const run = (name: string) => {
      const w = world(name, { nvlogHalfEntries: 4 });
      writes(w, [0]);
      tick(w, 25);
      return { w, cp: src0(w).primaryCp };
    };
    expect(run(REFERENCE).cp).toBeGreaterThan(0);
    const { w, cp } = run('canary-cp-timer-never-fires');
    expect(cp).toBe(0);
    // Only the timer is off: four more writes fill the half and the fifth starts a CP at once.
    writes(w, [1, 2, 3, 4]);
    expect(src0(w).primaryCp).toBe(1);
  });

  it('canary-semi-sync-unbounded-lag (A3): partitioned, 8 writes in one tick are all acknowledged', () => {
    const run = (name: string) => {
      const w = world(name, { mode: 'semi-sync' });
      w.step({ kind: 'partition', source: 'src0' });
      writes(w, [0, 1, 2, 3, 4, 5, 6, 7]);
      return w.writes.filter((r) => r.outcome?.ok).length;
    };
    // semiSyncMaxLagEntries is 4: the reference acknowledges 4 and holds the rest.
    expect(run(REFERENCE)).toBe(smallWorld().semiSyncMaxLagEntries);
    expect(run('canary-semi-sync-unbounded-lag')).toBe(8);
  });

  it('canary-resync-sends-whole-volume (L3): a resync after one changed block sends every live block', () => {
    const resyncBlocks = (name: string) => {
      const w = world(name, {}, true);
      writes(w, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      tickUntil(w, () => src0(w).primaryCp >= 1 && settled(w));
      w.step({ kind: 'partition', source: 'src0' });
      writes(w, [0]);
      tickUntil(w, () => src0(w).relationship === 'out-of-sync');
      w.step({ kind: 'heal', source: 'src0' });
      tickUntil(w, () => settled(w));
      const transfers = decodedDeliveries(w).flatMap((m) =>
        m.kind === 'cp-sync' && m.resync ? [m.updates.length] : [],
      );
      expect(transfers.length).toBeGreaterThan(0);
      return Math.max(...transfers);
    };
    const reference = resyncBlocks(REFERENCE);
    const canary = resyncBlocks('canary-resync-sends-whole-volume');
    // One data block changed: the reference sends it, its map block and the root.
    expect(reference).toBeLessThanOrEqual(4);
    // The canary sends all ten data blocks, the map and the root.
    expect(canary).toBeGreaterThanOrEqual(12);
  });

  it('canary-wraps-out-of-range-lbas (R2): a write and a read past the end land on LBA 0', () => {
    const run = (name: string) => {
      const w = world(name);
      const lbaCount = w.lbaCount('src0');
      writes(w, [0]);
      tick(w, 3);
      w.step({ kind: 'out-of-range', source: 'src0', op: 'write', lba: lbaCount });
      tick(w, 3);
      w.step({ kind: 'out-of-range', source: 'src0', op: 'read', lba: lbaCount });
      w.step({ kind: 'read', source: 'src0', lba: 0 });
      return { refused: w.outOfRange.map((r) => r.outcome), lba0: w.reads.at(-1)!.result };
    };
    const reference = run(REFERENCE);
    // The reference refuses both at once, and LBA 0 still holds the schedule's write 1.
    expect(reference.refused.map((o) => o?.ok)).toEqual([false, false]);
    expect(reference.refused.every((o) => /outside the volume/.test(o?.error ?? ''))).toBe(true);
    expect(reference.lba0.ok && reference.lba0.data).toEqual(writeData(1, 0, smallWorld().blockBytes));
    const canary = run('canary-wraps-out-of-range-lbas');
    expect(canary.refused.map((o) => o?.ok)).toEqual([true, true]);
    // The write past the end overwrote LBA 0.
    expect(canary.lba0.ok && canary.lba0.data).toEqual(
      writeData(OUT_OF_RANGE_WRITE_IDS + 1, smallWorld().sources[0]!.lbaCount, smallWorld().blockBytes),
    );
  });

  it("canary-timers-on-peer-clock (time): with the destination paused, the source's CP timer stops", () => {
    const cpInterval = smallWorld().cpIntervalTicks;
    const run = (name: string) => {
      const w = world(name);
      w.step({ kind: 'pause', node: 'dst', ticks: 3 * cpInterval });
      writes(w, [0]);
      tick(w, cpInterval + 1);
      const paused = src0(w).primaryCp;
      tick(w, 2 * cpInterval);
      return { paused, resumed: src0(w).primaryCp };
    };
    // The reference's timer runs on its own clock; the canary's waits for the destination's, and its
    // held ticks all run once the destination's clock does.
    expect(run(REFERENCE).paused).toBeGreaterThanOrEqual(1);
    const canary = run('canary-timers-on-peer-clock');
    expect(canary.paused).toBe(0);
    expect(canary.resumed).toBeGreaterThanOrEqual(1);
  });

  it('canary-reads-fail (R1): a read of a written LBA returns an error', () => {
    const read = (name: string) => {
      const w = world(name);
      writes(w, [3]);
      tick(w, 3);
      w.step({ kind: 'read', source: 'src0', lba: 3 });
      return w.reads.at(-1)!.result;
    };
    const reference = read(REFERENCE);
    expect(reference.ok).toBe(true);
    expect(reference.ok && reference.data).toEqual(writeData(1, 3, smallWorld().blockBytes));
    expect(read('canary-reads-fail')).toEqual({ ok: false, error: 'canary: reads always fail' });
  });

  it('canary-spurious-out-of-sync (L1): with a perfect link it goes out of sync at tick 7, then resyncs', () => {
    const states = (name: string) => {
      const w = world(name);
      writes(w, [0]);
      const seen: string[] = [];
      for (let t = 0; t < 12; t++) {
        tick(w);
        seen.push(src0(w).relationship);
      }
      return seen;
    };
    expect(new Set(states(REFERENCE))).toEqual(new Set(['in-sync']));
    const canary = states('canary-spurious-out-of-sync');
    expect(canary[6]).toBe('out-of-sync'); // after tick 7
    expect(canary.slice(0, 6).every((s) => s === 'in-sync')).toBe(true);
    expect(canary.at(-1)).toBe('in-sync'); // resynchronised as usual
  });

  it('canary-nvlog-full-fails-writes (N1): with both halves full the next write fails', () => {
    const run = (name: string) => {
      const w = world(name, { nvlogHalfEntries: 4 });
      // 4 fill half A; the 5th freezes it for a CP and fills B with the next 3; the 9th finds both full.
      writes(w, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
      return { ninth: w.writes[8]!.outcome, pending: src0(w).pendingWrites };
    };
    expect(run(REFERENCE)).toEqual({ ninth: undefined, pending: 9 }); // stalled, counted
    const canary = run('canary-nvlog-full-fails-writes');
    expect(canary.ninth).toMatchObject({ ok: false, error: 'NVLOG full' });
    expect(canary.pending).toBe(8);
  });

  it('canary-no-cp-on-full-half (T2): the write that finds the half full starts no CP, it stalls', () => {
    const run = (name: string) => {
      const w = world(name, { nvlogHalfEntries: 4 });
      writes(w, [0, 1, 2, 3, 4]);
      const atOnce = { cp: src0(w).primaryCp, inProgress: src0(w).cpInProgress };
      tick(w, 3);
      const fifthAfter3Ticks = w.writes[4]!.outcome?.ok;
      tick(w, 10);
      return { atOnce, fifthAfter3Ticks, later: src0(w).primaryCp, fifthLater: w.writes[4]!.outcome?.ok };
    };
    expect(run(REFERENCE)).toMatchObject({ atOnce: { cp: 1, inProgress: true }, fifthAfter3Ticks: true });
    const canary = run('canary-no-cp-on-full-half');
    expect(canary.atOnce).toEqual({ cp: 0, inProgress: false });
    expect(canary.fifthAfter3Ticks).toBeUndefined(); // stalled, though half B is free
    // The timer's CP (tick 10) frees it.
    expect(canary.later).toBeGreaterThanOrEqual(1);
    expect(canary.fifthLater).toBe(true);
  });

  it('canary-timeout-never-fires (L2/A4): partitioned, a sync write waits past the answer deadline', () => {
    const deadline = answerDeadlineTicks(smallWorld());
    const run = (name: string) => {
      const w = world(name);
      w.step({ kind: 'partition', source: 'src0' });
      writes(w, [0]);
      tick(w, deadline + 5);
      return {
        relationship: src0(w).relationship,
        outcome: w.writes[0]!.outcome?.ok,
        pending: src0(w).pendingWrites,
      };
    };
    expect(run(REFERENCE)).toEqual({ relationship: 'out-of-sync', outcome: true, pending: 0 });
    expect(run('canary-timeout-never-fires')).toEqual({
      relationship: 'in-sync',
      outcome: undefined,
      pending: 1,
    });
  });

  it('canary-truncates-log-early (F1): a destination crash while applying a CP sync loses an acknowledged write', () => {
    // For each k: the destination loses power after its k-th media write from just after write 1 was
    // logged and acknowledged; the CP sync of tick 10 arrives at tick 11. Then restart it and look:
    // the acknowledged write must be in the committed mirror or in the log file.
    const losses = (name: string) => {
      const lost: number[] = [];
      for (let k = 1; k <= 40; k++) {
        const w = world(name);
        writes(w, [0]);
        tick(w, 2);
        expect(w.writes[0]!.outcome?.ok).toBe(true);
        w.step({ kind: 'crash', node: 'dst', afterWrites: k });
        tick(w, 11);
        if (w.isUp('dst')) continue; // the CP sync needed fewer than k writes
        w.step({ kind: 'restart', node: 'dst' });
        const inLog = w.instance.logFile('src0').some((r) => r.lba === 0);
        const inMirror =
          src0(w).mirrorCp >= 1 &&
          w.instance
            .readMirrorCommitted('src0', 0)
            .every((b, i) => b === writeData(1, 0, w.spec.blockBytes)[i]);
        if (!inLog && !inMirror) lost.push(k);
      }
      return lost;
    };
    expect(losses(REFERENCE)).toEqual([]);
    expect(losses('canary-truncates-log-early').length).toBeGreaterThan(0);
  });

  it('canary-cp-image-early-cut (N2): CP 1 leaves out the last write before it, CP 2 holds it', () => {
    const blockBytes = smallWorld().blockBytes;
    const run = (name: string) => {
      const w = world(name);
      writes(w, [0, 1]);
      tickUntil(w, () => src0(w).primaryCp >= 1);
      const lba1AtCp1 = w.instance.readPrimaryCommitted('src0', 1);
      const lba0AtCp1 = w.instance.readPrimaryCommitted('src0', 0);
      // A read still sees the write at once (R1 holds).
      w.step({ kind: 'read', source: 'src0', lba: 1 });
      const read = w.reads.at(-1)!.result;
      tickUntil(w, () => src0(w).primaryCp >= 2);
      return { w, lba0AtCp1, lba1AtCp1, read, lba1AtCp2: w.instance.readPrimaryCommitted('src0', 1) };
    };
    const write1 = writeData(1, 0, blockBytes);
    const write2 = writeData(2, 1, blockBytes);
    const ref = run(REFERENCE);
    expect(ref.lba0AtCp1).toEqual(write1);
    expect(ref.lba1AtCp1).toEqual(write2);
    const canary = run('canary-cp-image-early-cut');
    expect(canary.lba0AtCp1).toEqual(write1);
    expect(canary.lba1AtCp1).toEqual(new Uint8Array(blockBytes)); // write 2 left out of CP 1
    expect(canary.read).toEqual({ ok: true, data: write2 });
    expect(canary.lba1AtCp2).toEqual(write2); // carried to CP 2
  });

  it('canary-cp-image-early-cut keeps the held-back write durable: a source crash after its CP loses nothing', () => {
    const blockBytes = smallWorld().blockBytes;
    const w = world('canary-cp-image-early-cut');
    writes(w, [0, 1]);
    tickUntil(w, () => src0(w).primaryCp >= 1 && settled(w));
    expect(w.instance.readPrimaryCommitted('src0', 1)).toEqual(new Uint8Array(blockBytes));
    expect(w.instance.logFile('src0').map((r) => r.lba)).toEqual([1]); // the destination keeps its entry
    w.step({ kind: 'crash', node: 'src0' });
    w.step({ kind: 'restart', node: 'src0' });
    w.step({ kind: 'read', source: 'src0', lba: 1 });
    expect(w.reads.at(-1)!.result).toEqual({ ok: true, data: writeData(2, 1, blockBytes) });
    tickUntil(w, () => settled(w));
    expect(w.instance.readMirrorCommitted('src0', 1)).toEqual(writeData(2, 1, blockBytes));
  });

  it('canary-resync-erases-missing-disk (D6): a restart on a degraded primary reads back wrong; the reference reads right', () => {
    const blockBytes = smallWorld().blockBytes;
    const run = (name: string) => {
      const w = world(name, { lbaCount: 16 });
      w.step({ kind: 'burst', source: 'src0', from: 0, count: 8, stride: 1 });
      tickUntil(w, () => src0(w).primaryCp >= 1 && settled(w));
      w.step({ kind: 'fail-disk', node: 'src0', group: 'primary', index: 0 });
      w.step({ kind: 'crash', node: 'src0' });
      w.step({ kind: 'restart', node: 'src0' });
      return Array.from({ length: 8 }, (_, lba) => {
        w.step({ kind: 'read', source: 'src0', lba });
        return w.reads.at(-1)!.result;
      });
    };
    const right = Array.from({ length: 8 }, (_, lba) => ({
      ok: true,
      data: writeData(lba + 1, lba, blockBytes),
    }));
    expect(run(REFERENCE)).toEqual(right);
    expect(run('canary-resync-erases-missing-disk')).not.toEqual(right);
  });

  it('canary-confirms-lost-mirror (D5): a CP sync its lost mirror could not write is confirmed; the reference leaves it unconfirmed', () => {
    const run = (name: string) => {
      const w = world(name, { lbaCount: 16 });
      writes(w, [0]);
      tickUntil(w, () => src0(w).primaryCp >= 1 && settled(w));
      const disks = w.spec.sources[0]!.mirror.level === 'raid_dp' ? [0, 1, 2] : [0, 1];
      for (const index of disks)
        w.step({
          kind: 'fail-disk',
          node: 'dst',
          group: 'mirror:src0',
          index,
          ...(index === disks.at(-1) ? { beyond: true } : {}),
        });
      writes(w, [1]);
      tickUntil(w, () => src0(w).primaryCp >= 2 && !src0(w).cpInProgress);
      return src0(w);
    };
    const reference = run(REFERENCE);
    expect(reference.mirrorCp).toBe(1);
    expect(reference.relationship).not.toBe('in-sync');
    const canary = run('canary-confirms-lost-mirror');
    expect(canary.mirrorCp).toBe(1);
    expect(canary.relationship).toBe('in-sync'); // the source believes the mirror has CP 2
  });

  it('canary-lost-blocks-read-as-zeros (D4): a read its lost primary refuses is answered with zeros; the reference fails it', () => {
    const blockBytes = smallWorld().blockBytes;
    const run = (name: string) => {
      const w = world(name, { lbaCount: 16, primaryLevel: 'raid4' });
      writes(w, [0]);
      tickUntil(w, () => src0(w).primaryCp >= 1 && settled(w));
      w.step({ kind: 'fail-disk', node: 'src0', group: 'primary', index: 0 });
      w.step({ kind: 'fail-disk', node: 'src0', group: 'primary', index: 1, beyond: true });
      w.step({ kind: 'read', source: 'src0', lba: 0 });
      return w.reads.at(-1)!.result;
    };
    expect(run(REFERENCE).ok).toBe(false);
    expect(run('canary-lost-blocks-read-as-zeros')).toEqual({ ok: true, data: new Uint8Array(blockBytes) });
  });
});
