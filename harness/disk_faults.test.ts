// Disk faults within RAID tolerance (harness/target.ts rules D1-D3, harness/disk_faults.ts): two failed
// disks of a RAID-DP primary still serve every read right; a planted latent error is known gone once
// its block verifies again, so its node may lose power again; a scrub repairs every latent error, and
// a canary whose scrub repairs nothing is caught, by a swarm campaign and by the disks alone.
// A failure names the schedule (or the campaign seed and fast-check path) that replays it.

import { describe, expect, it } from 'vitest';
import { caughtBySwarm } from './caught_kit.ts';
import { modelCheckers } from './model_checker.ts';
import { runSchedule } from './runner.ts';
import type { Schedule } from './schedule.ts';
import { builtInTarget } from './targets.ts';
import type { WorldAction } from './world.ts';

const CORRECT = ['reference', 'shadow-paging'] as const;

function run(target: string, schedule: Schedule) {
  const r = runSchedule(builtInTarget(target)!, schedule, { checkers: modelCheckers() });
  const where = `${target}, schedule ${JSON.stringify(schedule.actions)}`;
  return { r, where };
}

const kinds = (executed: readonly WorldAction[]) => executed.map((a) => a.kind);

describe('a RAID-DP primary with two failed disks', () => {
  const fail = (index: number): WorldAction => ({ kind: 'fail-disk', node: 'src0', group: 'primary', index });
  const schedule: Schedule = {
    config: { preset: { sources: 1, mode: 'sync', lbaCount: 16, primaryLevel: 'raid_dp' } },
    seed: 1,
    actions: [
      ...[0, 1, 2, 3].map((lba): WorldAction => ({ kind: 'write', source: 'src0', lba })),
      { kind: 'tick', ticks: 12 },
      fail(0),
      // A data disk and the row-parity disk (4 data disks: index 4 is P).
      fail(4),
      ...[0, 1, 2, 3].map((lba): WorldAction => ({ kind: 'read', source: 'src0', lba })),
      { kind: 'write', source: 'src0', lba: 5 },
      { kind: 'tick', ticks: 12 },
      { kind: 'read', source: 'src0', lba: 5 },
      { kind: 'replace-disk', node: 'src0', group: 'primary', index: 0 },
      { kind: 'replace-disk', node: 'src0', group: 'primary', index: 4 },
      { kind: 'read', source: 'src0', lba: 2 },
    ],
  };

  it.each(CORRECT)('%s serves every read, right, and the atlas let both disks fail', (target) => {
    const { r, where } = run(target, schedule);
    expect(r.violation, where).toBeUndefined();
    expect(
      kinds(r.executed).filter((k) => k === 'fail-disk'),
      where,
    ).toHaveLength(2);
    expect(r.coverage.has('double-failure-raid-dp'), where).toBe(true);
    expect(r.coverage.has('read-while-doubly-degraded'), where).toBe(true);
  });

  it('a third failure in the group is beyond RAID-DP: the atlas refuses it', () => {
    const third: Schedule = { ...schedule, actions: [...schedule.actions.slice(0, 7), fail(1)] };
    const { r, where } = run('reference', third);
    expect(r.violation, where).toBeUndefined();
    expect(
      kinds(r.executed).filter((k) => k === 'fail-disk'),
      where,
    ).toHaveLength(2);
  });
});

describe('a latent error known gone', () => {
  // DBN 0 of the primary's first data disk holds the volume's first blocks from format on.
  const latent: WorldAction = { kind: 'latent-error', node: 'src0', group: 'primary', index: 0, dbn: 0 };
  const base = (actions: WorldAction[]): Schedule => ({
    config: { preset: { sources: 1, mode: 'sync', lbaCount: 16 } },
    seed: 2,
    actions: [{ kind: 'write', source: 'src0', lba: 0 }, { kind: 'tick', ticks: 12 }, latent, ...actions],
  });

  it('keeps its node from losing power until a scrub repairs it; then the node may crash again', () => {
    const crash: WorldAction = { kind: 'crash', node: 'src0' };
    const before = run('reference', base([crash]));
    expect(before.r.violation, before.where).toBeUndefined();
    expect(kinds(before.r.executed), before.where).not.toContain('crash');
    for (const target of CORRECT) {
      const { r, where } = run(
        target,
        base([{ kind: 'scrub', node: 'src0' }, crash, { kind: 'restart', node: 'src0' }]),
      );
      expect(r.violation, where).toBeUndefined();
      expect(kinds(r.executed), where).toContain('crash');
      expect(r.coverage.has('latent-error-repaired'), where).toBe(true);
      expect(r.coverage.has('crash-after-disk-fault'), where).toBe(true);
      expect(r.sometimes.has('latent-error-scrubbed'), where).toBe(true);
    }
  });

  it('a scrub that repairs nothing is caught on the disks, by rule D3', () => {
    const { r, where } = run('canary-scrub-repairs-nothing', base([{ kind: 'scrub', node: 'src0' }]));
    expect(r.violation?.property, where).toBe('scrub-repairs-latent-errors');
    expect(r.violation?.message, where).toContain('primary[0] DBN 0');
    // Without the scrub the same canary passes: the scrub is what exposed it.
    const quiet = run('canary-scrub-repairs-nothing', base([]));
    expect(quiet.r.violation, quiet.where).toBeUndefined();
  });

  it('a swarm campaign catches the scrub that repairs nothing', () => {
    const { cx, where } = caughtBySwarm('canary-scrub-repairs-nothing', 3, 60);
    expect(cx.property, where).toBe('scrub-repairs-latent-errors');
  });
});

describe('a rebuild a power cut interrupts', () => {
  it('a swarm campaign catches the source that labels its spare before rebuilding it (rule D2)', () => {
    const { cx, where } = caughtBySwarm('canary-labels-spare-first', 3, 60);
    // Caught after the cut rebuild: the schedule armed one, and without it the same schedule passes.
    const cut = cx.schedule.actions.findIndex(
      (a) => a.kind === 'replace-disk' && a.cutAfterWrites !== undefined,
    );
    expect(cut, where).toBeGreaterThanOrEqual(0);
    const {
      cutAfterWrites: _k,
      torn: _t,
      ...whole
    } = cx.schedule.actions[cut] as Extract<WorldAction, { kind: 'replace-disk' }>;
    const actions = cx.schedule.actions.map((a, i) => (i === cut ? whole : a));
    const uncut = run('canary-labels-spare-first', { ...cx.schedule, actions });
    expect(uncut.r.violation, `${where}; with the rebuild uncut: ${uncut.where}`).toBeUndefined();
  });
});
