// compiled_chart.ts answers `can` and `next` without xstate's interpreter. This checks it against
// xstate itself: on every graph state of every mode (xstate/graph's shortest paths, each replayed by
// both), every candidate event's `can` and next state value, status and context; along random walks
// with more LBAs and pending writes than the graph has; and that a machine outside the compiled
// subset is refused at load rather than stepped wrongly.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assign, createMachine, setup } from 'xstate';
import { CompiledChart, relationshipChart } from './compiled_chart.ts';
import type { ModelEvent } from './events.ts';
import { initialModelState } from './lockstep.ts';
import {
  type CandidateOptions,
  candidateEvents,
  GRAPH_CANDIDATES,
  MODES,
  shortestGraphPaths,
} from './paths.ts';
import { type ModelSnapshot, nextSnapshot, serializeState } from './statechart.ts';

/** Differences from xstate, as lines: the test expects none (expect() per comparison is too slow here). */
const mismatches: string[] = [];

/** Every candidate in `snapshot`: the compiled `can` must be xstate's, and so must the next state. */
function compareAll(snapshot: ModelSnapshot, options: CandidateOptions): number {
  let enabled = 0;
  for (const event of candidateEvents(snapshot, options)) {
    const can = snapshot.can(event);
    if (relationshipChart.can(snapshot, event) !== can) mismatch(snapshot, event, `can is not ${can}`);
    // A disabled event changes nothing: the compiled step returns its input.
    if (can) compareNext(snapshot, event);
    else if (relationshipChart.next(snapshot, event) !== snapshot) mismatch(snapshot, event, 'moved');
    if (can) enabled++;
  }
  return enabled;
}

function compareNext(snapshot: ModelSnapshot, event: ModelEvent): ModelSnapshot {
  const plain = nextSnapshot(snapshot, event);
  const compiled = relationshipChart.next(snapshot, event);
  // The same state nodes (xstate's order may differ: it appends the nodes a step enters), value,
  // status and context.
  const view = (s: ModelSnapshot) =>
    JSON.stringify([s._nodes.map((n) => n.id).sort(), s.value, s.status, s.context]);
  if (view(compiled) !== view(plain)) mismatch(snapshot, event, `${view(compiled)} != ${view(plain)}`);
  return compiled;
}

function mismatch(snapshot: ModelSnapshot, event: ModelEvent, what: string): void {
  mismatches.push(
    `${serializeState(snapshot)} ${JSON.stringify(snapshot.context)} ${JSON.stringify(event)}: ${what}`,
  );
}

describe('the compiled statechart', () => {
  it('answers as xstate on every graph state of every mode, along every shortest path', () => {
    mismatches.length = 0;
    let states = 0;
    let enabled = 0;
    for (const mode of MODES) {
      const initial = initialModelState({ sourceId: 'src0', mode }).snapshot;
      for (const path of shortestGraphPaths(mode)) {
        // The path stepped by the compiled chart, beside xstate's own replay of it.
        let snapshot = initial;
        path.events.forEach((event, i) => {
          if (!relationshipChart.can(snapshot, event)) mismatch(snapshot, event, `path step ${i} refused`);
          snapshot = compareNext(snapshot, event);
          const replayed = path.snapshots[i + 1]!;
          if (JSON.stringify(snapshot.context) !== JSON.stringify(replayed.context))
            mismatch(snapshot, event, `path step ${i} differs from xstate's replay`);
        });
        expect(serializeState(snapshot)).toBe(serializeState(path.snapshots.at(-1)!));
        enabled += compareAll(snapshot, GRAPH_CANDIDATES);
        states++;
      }
    }
    // 802 graph states per mode (statechart.ts, serializeState), each with several events enabled.
    expect(mismatches).toEqual([]);
    expect(states).toBeGreaterThan(2000);
    expect(enabled).toBeGreaterThan(5 * states);
  });

  it('answers as xstate along random walks, from its own snapshots and from xstate snapshots', () => {
    const options = { lbas: [0, 1, 2], maxPending: 3 };
    mismatches.length = 0;
    let compared = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(...MODES),
        fc.array(fc.nat(), { minLength: 20, maxLength: 80 }),
        fc.boolean(),
        (mode, picks, fromXstate) => {
          let snapshot = initialModelState({ sourceId: 'src0', mode }).snapshot;
          for (const pick of picks) {
            compareAll(snapshot, options);
            const enabled = candidateEvents(snapshot, options).filter((e) => snapshot.can(e));
            if (enabled.length === 0) return;
            const event = enabled[pick % enabled.length]!;
            const compiled = compareNext(snapshot, event);
            // Either walk on: the compiled chart must accept snapshots in xstate's node order too.
            snapshot = fromXstate ? nextSnapshot(snapshot, event) : compiled;
            compared++;
          }
        },
      ),
      { numRuns: 30, seed: 20261202 },
    );
    expect(mismatches).toEqual([]);
    expect(compared).toBeGreaterThan(1000);
  });

  it('returns the snapshot itself for a step that changes nothing', () => {
    const s = initialModelState({ sourceId: 'src0', mode: 'sync' }).snapshot;
    expect(relationshipChart.next(s, { type: 'TICK' })).toBe(s);
    expect(relationshipChart.next(s, { type: 'REL_IN_SYNC' })).toBe(s);
    const written = relationshipChart.next(s, { type: 'WRITE', lba: 0, writeId: 1 });
    expect(written).not.toBe(s);
    expect(written.context.pending).toEqual([{ writeId: 1, lba: 0, mirrored: true }]);
  });

  it('refuses a machine outside the subset it implements', () => {
    const region = (extra: object) => ({ initial: 'a', states: { a: { ...extra }, b: {} } });
    const q = { initial: 'a', states: { a: {}, b: { id: 'qb' } } };
    const parallel = (r: object) => createMachine({ type: 'parallel', states: { r, q } });
    expect(() => new CompiledChart(parallel(region({ entry: () => {} })))).toThrow(/entry or exit/);
    expect(() => new CompiledChart(parallel(region({ after: { 10: 'b' } })))).toThrow(/delayed/);
    expect(() => new CompiledChart(parallel(region({ always: 'b' })))).toThrow(/eventless/);
    expect(() => new CompiledChart(parallel(region({ on: { GO: '#qb' } })))).toThrow(/leaving its region/);
    expect(
      () => new CompiledChart(parallel({ initial: 'a', states: { a: {}, h: { type: 'history' } } })),
    ).toThrow(/history/);
    expect(() => new CompiledChart(createMachine({ initial: 'a', states: { a: {} } }))).toThrow(
      /not parallel/,
    );
    const raising = setup({}).createMachine({
      type: 'parallel',
      states: { r: { initial: 'a', states: { a: { on: { GO: { actions: assign({}) } } } } } },
    });
    expect(() => new CompiledChart(raising)).not.toThrow();
  });
});
