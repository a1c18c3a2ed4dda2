// Disk faults within RAID tolerance (harness/target.ts rules D1-D3, harness/disk_faults.ts): two failed
// disks of a RAID-DP primary still serve every read right; a planted latent error is known gone once
// its block verifies again, so its node may lose power again; a scrub repairs every latent error, and
// a canary whose scrub repairs nothing is caught, by a swarm campaign and by the disks alone. Past a
// group's tolerance: a source's primary (D4) and a destination's mirror (D5), with their canaries.
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

  it('keeps its node from a cut inside a write until a scrub repairs it; then the cut may come', () => {
    const cut: WorldAction[] = [
      { kind: 'crash', node: 'src0', afterWrites: 1 },
      { kind: 'write', source: 'src0', lba: 3 },
      { kind: 'tick', ticks: 12 },
      { kind: 'restart', node: 'src0' },
    ];
    const before = run('reference', base(cut));
    expect(before.r.violation, before.where).toBeUndefined();
    expect(kinds(before.r.executed), before.where).not.toContain('crash');
    for (const target of CORRECT) {
      const { r, where } = run(target, base([{ kind: 'scrub', node: 'src0' }, ...cut]));
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
    const { cx, where } = caughtBySwarm('canary-scrub-repairs-nothing', 2, 60);
    expect(cx.property, where).toBe('scrub-repairs-latent-errors');
  });
});

describe('a power cut between calls on a degraded node (rule D6)', () => {
  const degraded = (node: string, group: string, tail: WorldAction[] = []): Schedule => ({
    config: { preset: { sources: 1, mode: 'sync', lbaCount: 16 } },
    seed: 4,
    actions: [
      { kind: 'burst', source: 'src0', from: 0, count: 8, stride: 1 },
      { kind: 'tick', ticks: 12 },
      { kind: 'fail-disk', node, group, index: 0 },
      { kind: 'write', source: 'src0', lba: 1 },
      ...tail,
      { kind: 'crash', node },
      { kind: 'restart', node },
      { kind: 'tick', ticks: 2 },
      ...[0, 2, 3, 5, 7].map((lba): WorldAction => ({ kind: 'read', source: 'src0', lba })),
      { kind: 'tick', ticks: 12 },
    ],
  });
  const DEGRADED = [
    ['src0', 'primary'],
    ['dst', 'mirror:src0'],
    ['dst', 'log:src0'],
  ] as const;

  for (const [node, group] of DEGRADED)
    it.each(CORRECT)(`%s comes back on a degraded ${node} ${group}`, (target) => {
      const { r, where } = run(target, degraded(node, group));
      expect(r.violation, where).toBeUndefined();
      expect(kinds(r.executed), where).toContain('crash');
      expect(r.coverage.has('crash-while-degraded'), where).toBe(true);
      expect(r.coverage.has('restart-while-degraded'), where).toBe(true);
      expect(r.sometimes.has('read-of-acked-write'), where).toBe(true);
    });

  it('the atlas cuts a degraded node only between calls: an armed cut is refused', () => {
    const armed: Schedule = {
      ...degraded('src0', 'primary'),
      actions: degraded('src0', 'primary').actions.map((a) =>
        a.kind === 'crash' ? { ...a, afterWrites: 1 } : a,
      ),
    };
    const { r, where } = run('reference', armed);
    expect(r.violation, where).toBeUndefined();
    expect(kinds(r.executed), where).not.toContain('crash');
  });

  it('a swarm campaign catches the restart that recomputes parity over a missing disk, and only the degraded cut exposes it', () => {
    const { cx, where } = caughtBySwarm('canary-resync-erases-missing-disk', 1, 60);
    const crash = cx.schedule.actions.findIndex((a) => a.kind === 'crash' && a.afterWrites === undefined);
    expect(crash, where).toBeGreaterThanOrEqual(0);
    // The same schedule with every failed disk replaced right before the cut: nothing is missing at
    // the restart, and the canary passes.
    const failed = cx.schedule.actions.flatMap((a) =>
      a.kind === 'fail-disk' && a.node === (cx.schedule.actions[crash] as { node: string }).node
        ? [{ kind: 'replace-disk' as const, node: a.node, group: a.group, index: a.index }]
        : [],
    );
    const actions = [...cx.schedule.actions.slice(0, crash), ...failed, ...cx.schedule.actions.slice(crash)];
    const whole = run('canary-resync-erases-missing-disk', { ...cx.schedule, actions });
    expect(whole.r.violation, `${where}; disks replaced first: ${whole.where}`).toBeUndefined();
    for (const target of CORRECT) {
      const { r, where: w } = run(target, cx.schedule);
      expect(r.violation, w).toBeUndefined();
    }
    // The shape D6 opens, written out: caught on a degraded primary, never on a degraded mirror.
    const primary = run('canary-resync-erases-missing-disk', degraded('src0', 'primary'));
    expect(primary.r.violation, primary.where).toBeDefined();
    const mirror = run('canary-resync-erases-missing-disk', degraded('dst', 'mirror:src0'));
    expect(mirror.r.violation, mirror.where).toBeUndefined();
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

describe('a primary past its tolerance (rule D4)', () => {
  const lose = (level: 'raid4' | 'raid_dp', tail: WorldAction[]): Schedule => {
    const fails = level === 'raid4' ? [0, 1] : [0, 1, 2];
    return {
      config: { preset: { sources: 1, mode: 'sync', lbaCount: 16, primaryLevel: level } },
      seed: 3,
      actions: [
        ...[0, 1, 2].map((lba): WorldAction => ({ kind: 'write', source: 'src0', lba })),
        { kind: 'tick', ticks: 12 },
        ...fails.map(
          (index, i): WorldAction => ({
            kind: 'fail-disk',
            node: 'src0',
            group: 'primary',
            index,
            ...(i === fails.length - 1 ? { beyond: true } : {}),
          }),
        ),
        { kind: 'read', source: 'src0', lba: 0 },
        { kind: 'write', source: 'src0', lba: 5 },
        { kind: 'tick', ticks: 12 },
        { kind: 'read', source: 'src0', lba: 5 },
        { kind: 'write', source: 'src0', lba: 1 },
        ...tail,
      ],
    };
  };
  const failover: WorldAction[] = [
    { kind: 'crash', node: 'src0' },
    { kind: 'failover', source: 'src0' },
    { kind: 'read', source: 'src0', lba: 0 },
  ];

  for (const level of ['raid4', 'raid_dp'] as const)
    it.each(CORRECT)(
      `%s on ${level}: reads refused or right, writes answered, and failover brings service back`,
      (target) => {
        const { r, where } = run(target, lose(level, failover));
        expect(r.violation, where).toBeUndefined();
        expect(
          r.executed.some((a) => a.kind === 'fail-disk' && a.beyond === true),
          where,
        ).toBe(true);
        for (const c of ['volume-lost', 'read-of-lost-volume', 'failover-of-lost-volume'] as const)
          expect(r.coverage.has(c), `${c}: ${where}`).toBe(true);
        expect(r.sometimes.has('lost-volume-read'), where).toBe(true);
        // No restart of the lost source: the schedule's failover is what ended it.
        expect(kinds(r.executed), where).not.toContain('restart');
      },
    );

  it.each(CORRECT)(
    '%s: left alone, the operator fails the lost source over in the liveness phase',
    (target) => {
      const { r, where } = run(target, lose('raid4', []));
      expect(r.violation, where).toBeUndefined();
      expect(kinds(r.executed).slice(-2), where).toEqual(['crash', 'failover']);
    },
  );

  it('the atlas takes a group past its tolerance only from its tolerance, and never brings it back', () => {
    const early: Schedule = {
      config: { preset: { sources: 1, mode: 'sync', lbaCount: 16 } },
      seed: 3,
      actions: [{ kind: 'fail-disk', node: 'src0', group: 'primary', index: 0, beyond: true }],
    };
    const { r: refused, where: w1 } = run('reference', early);
    expect(
      kinds(refused.executed).filter((k) => k === 'fail-disk'),
      w1,
    ).toHaveLength(0);
    const after: WorldAction[] = [
      { kind: 'replace-disk', node: 'src0', group: 'primary', index: 0 },
      { kind: 'scrub', node: 'src0' },
      { kind: 'crash', node: 'src0' },
      { kind: 'restart', node: 'src0' },
    ];
    const { r, where } = run('reference', lose('raid4', after));
    expect(r.violation, where).toBeUndefined();
    const safety = r.executed.slice(0, r.executed.findIndex((a) => a.kind === 'crash') + 1);
    expect(kinds(safety), where).not.toContain('replace-disk');
    expect(kinds(safety), where).not.toContain('scrub');
    expect(kinds(r.executed), where).not.toContain('restart');
  });

  it('a swarm campaign catches the source that stalls writes on a lost volume (A4), and only the loss exposes it', () => {
    const { cx, where } = caughtBySwarm('canary-lost-volume-stalls-writes', 3, 80);
    expect(cx.property, where).toBe('writes-answered-in-time');
    const beyond = cx.schedule.actions.findIndex((a) => a.kind === 'fail-disk' && a.beyond === true);
    expect(beyond, where).toBeGreaterThanOrEqual(0);
    const actions = cx.schedule.actions.filter((_, i) => i !== beyond);
    const within = run('canary-lost-volume-stalls-writes', { ...cx.schedule, actions });
    expect(within.r.violation, `${where}; within tolerance: ${within.where}`).toBeUndefined();
    // The correct targets answer that write in time: the sometimes goal shows the deadline was judged.
    for (const target of CORRECT) {
      const { r, where: w } = run(target, cx.schedule);
      expect(r.violation, w).toBeUndefined();
      expect(r.sometimes.has('lost-volume-write-answered'), w).toBe(true);
    }
  });

  it('a swarm campaign catches the source that reads lost blocks as zeros, and only the loss exposes it', () => {
    const { cx, where } = caughtBySwarm('canary-lost-blocks-read-as-zeros', 3, 80);
    expect(['reads-see-latest-acked', 'raid-never-returns-wrong-data'], where).toContain(cx.property);
    const beyond = cx.schedule.actions.findIndex((a) => a.kind === 'fail-disk' && a.beyond === true);
    expect(beyond, where).toBeGreaterThanOrEqual(0);
    // Within tolerance (the last failure not taken past it: the atlas refuses it) the same schedule passes.
    const actions = cx.schedule.actions.map((a, i) =>
      i === beyond && a.kind === 'fail-disk'
        ? { kind: a.kind, node: a.node, group: a.group, index: a.index }
        : a,
    );
    const within = run('canary-lost-blocks-read-as-zeros', { ...cx.schedule, actions });
    expect(within.r.violation, `${where}; within tolerance: ${within.where}`).toBeUndefined();
  });
});

describe("a destination's mirror past its tolerance (rule D5)", () => {
  const MIRROR = 'mirror:src0';
  const lose = (mode: 'sync' | 'strict-sync' | 'semi-sync', tail: WorldAction[] = []): Schedule => ({
    config: { preset: { sources: 1, mode, lbaCount: 16 } },
    seed: 3,
    actions: [
      ...[0, 1, 2].map((lba): WorldAction => ({ kind: 'write', source: 'src0', lba })),
      { kind: 'tick', ticks: 12 },
      ...[0, 1, 2].map(
        (index): WorldAction => ({
          kind: 'fail-disk',
          node: 'dst',
          group: MIRROR,
          index,
          ...(index === 2 ? { beyond: true } : {}),
        }),
      ),
      { kind: 'write', source: 'src0', lba: 5 },
      { kind: 'tick', ticks: 24 },
      { kind: 'write', source: 'src0', lba: 1 },
      { kind: 'read', source: 'src0', lba: 5 },
      ...tail,
    ],
  });

  for (const mode of ['sync', 'strict-sync', 'semi-sync'] as const)
    it.each(CORRECT)(`%s in ${mode}: the source serves on unmirrored and completes its CPs`, (target) => {
      const { r, where } = run(target, lose(mode));
      expect(r.violation, where).toBeUndefined();
      for (const c of ['mirror-lost', 'write-after-mirror-lost'] as const)
        expect(r.coverage.has(c), `${c}: ${where}`).toBe(true);
      expect(r.sometimes.has('lost-mirror-cp-completed'), where).toBe(true);
      expect(r.sometimes.has('lost-mirror-write-answered'), where).toBe(true);
    });

  it('the atlas never fails over to a lost mirror, nor repairs it, nor cuts the destination’s power', () => {
    const after: WorldAction[] = [
      { kind: 'crash', node: 'dst' },
      { kind: 'replace-disk', node: 'dst', group: MIRROR, index: 0 },
      { kind: 'scrub', node: 'dst' },
      { kind: 'crash', node: 'src0' },
      { kind: 'failover', source: 'src0' },
    ];
    const { r, where } = run('reference', lose('sync', after));
    expect(r.violation, where).toBeUndefined();
    const ran = kinds(r.executed);
    expect(ran, where).not.toContain('replace-disk');
    expect(ran, where).not.toContain('scrub');
    expect(ran, where).not.toContain('failover');
    expect(
      r.executed.some((a) => a.kind === 'crash' && a.node === 'dst'),
      where,
    ).toBe(false);
    // The source itself may lose power and come back: the liveness phase restarts it.
    expect(ran.slice(-1), where).not.toEqual(['crash']);
    expect(ran, where).toContain('restart');
  });

  it('a swarm campaign catches the destination that confirms a CP sync its lost mirror could not write, and only the loss exposes it', () => {
    const { cx, where } = caughtBySwarm('canary-confirms-lost-mirror', 3, 80);
    expect(cx.property, where).toBe('model-refinement');
    const beyond = cx.schedule.actions.findIndex((a) => a.kind === 'fail-disk' && a.beyond === true);
    expect(beyond, where).toBeGreaterThanOrEqual(0);
    // Within tolerance (the last failure dropped) the same schedule passes.
    const actions = cx.schedule.actions.filter((_, i) => i !== beyond);
    const within = run('canary-confirms-lost-mirror', { ...cx.schedule, actions });
    expect(within.r.violation, `${where}; within tolerance: ${within.where}`).toBeUndefined();
    for (const target of CORRECT) {
      const { r, where: w } = run(target, cx.schedule);
      expect(r.violation, w).toBeUndefined();
    }
  });
});
