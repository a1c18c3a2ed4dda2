// The generated model paths: shortest paths reach every state, the transition cover takes every
// transition, each step expects what the model reaches, and every `always` has a reachable precondition.

import { beforeAll, describe, expect, it } from 'vitest';
import { type Coverage, measureCoverage, unreached } from './coverage.ts';
import { describeEvent } from './events.ts';
import { initialModelState, type ModelState, step } from './lockstep.ts';
import { expectedOf, MODES, type ModeGraph, type ModelPath, modeGraph, PATH_SOURCE_ID } from './paths.ts';
import { ALWAYS, brokenAlways, SOMETIMES } from './properties.ts';

let graphs: ModeGraph[] = [];
let statePaths: ModelPath[] = [];
let transitionPaths: ModelPath[] = [];

beforeAll(() => {
  graphs = MODES.map(modeGraph);
  statePaths = graphs.flatMap((g) => [...g.statePaths]);
  transitionPaths = graphs.flatMap((g) => [...g.transitionPaths]);
});

const names = (c: Coverage, kind: 'state' | 'transition') =>
  unreached(c)
    .filter((r) => r.kind === kind)
    .map((r) => r.id);

describe('generated paths', () => {
  it('keep the graph finite and small', () => {
    for (const g of graphs) {
      expect(g.stateCount).toBeGreaterThan(100);
      expect(g.stateCount).toBeLessThan(5000);
      expect(g.statePaths.every((p) => p.steps.length <= 20)).toBe(true);
    }
  });

  it('the shortest paths reach every state of the statechart', () => {
    expect(names(measureCoverage(statePaths), 'state')).toEqual([]);
  });

  it('the transition cover takes every transition of the statechart', () => {
    const cover = measureCoverage(transitionPaths);
    expect(names(cover, 'transition')).toEqual([]);
    // One path per transition and mode, at most: a cover, not a flood.
    expect(transitionPaths.length).toBeLessThanOrEqual(MODES.length * cover.records.length);
  });

  it('the coverage table has no state or transition unreached', () => {
    const coverage = measureCoverage([...statePaths, ...transitionPaths]);
    expect(unreached(coverage)).toEqual([]);
    expect(coverage.records.filter((r) => r.kind === 'state').length).toBeGreaterThan(20);
    expect(coverage.records.filter((r) => r.kind === 'transition').length).toBeGreaterThan(40);
  });

  it('are plain data', () => {
    const all = [...statePaths, ...transitionPaths];
    expect(JSON.parse(JSON.stringify(all))).toEqual(all);
  });
});

/** Replays a path in lockstep (snapshot and abstract data), calling `visit` after every step. */
function replay(path: ModelPath, visit: (state: ModelState) => void): void {
  let state = initialModelState({ sourceId: PATH_SOURCE_ID, mode: path.mode });
  for (const [i, s] of path.steps.entries()) {
    const out = step(state, s.event);
    if (!out.ok) throw new Error(`${path.target} step ${i}: ${out.reason}`);
    if (out.violations.length > 0) throw new Error(`${path.target} step ${i}: ${out.violations.join('; ')}`);
    expect(expectedOf(out.state.snapshot), `${path.target} after ${describeEvent(s.event)}`).toEqual(
      s.expected,
    );
    state = out.state;
    visit(state);
  }
}

describe('properties along the generated paths', () => {
  it('every always property holds, and each has a reachable precondition', () => {
    const seen = new Set<string>();
    for (const path of [...statePaths, ...transitionPaths]) {
      replay(path, (state) => {
        const broken = brokenAlways(state);
        if (broken.length > 0) throw new Error(`${broken.join(', ')} on ${path.target}`);
        for (const p of SOMETIMES) if (!seen.has(p.name) && p.check(state)) seen.add(p.name);
      });
    }
    expect(SOMETIMES.map((p) => p.name).filter((n) => !seen.has(n))).toEqual([]);
    for (const p of ALWAYS) {
      expect(p.partners?.length, p.name).toBeGreaterThan(0);
      for (const partner of p.partners ?? []) expect(seen.has(partner), `${p.name} <- ${partner}`).toBe(true);
    }
  });
});
