// Faults of time (a schedule's `pause NODE TICKS` and `drift NODE K` actions: a node that stops
// ticking without crashing, a clock that runs slow): the canary here breaks a rule that only such a
// fault exposes, and a swarm campaign must catch it. The failing schedule holds a pause or a drift,
// and without them the same schedule passes: time was what exposed the bug. A failure prints the
// campaign seed and fast-check's path.

import { describe, expect, it } from 'vitest';
import { caughtBySwarm } from '../harness/caught_kit.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import { runSchedule } from '../harness/runner.ts';
import { builtInTarget } from '../harness/targets.ts';
import type { WorldAction } from '../harness/world.ts';

const timeFault = (a: WorldAction) => a.kind === 'pause' || a.kind === 'drift';

describe('a paused or drifting clock exposes the bug it is aimed at', () => {
  it("canary-timers-on-peer-clock (a source timed by the destination's clock) is caught, by a schedule with a time fault", () => {
    const target = builtInTarget('canary-timers-on-peer-clock')!;
    const { cx, where } = caughtBySwarm('canary-timers-on-peer-clock', 7, 400);
    const { config, seed, actions } = cx.schedule;
    expect(actions.some(timeFault), where).toBe(true);
    // The same schedule with every clock running: the canary passes it, as the reference does.
    const without = { config, seed, actions: actions.filter((a) => !timeFault(a)) };
    const clean = runSchedule(target, without, { checkers: modelCheckers() });
    expect(clean.violation, `${where}; without the time faults: ${clean.violation?.message}`).toBeUndefined();
  });
});
