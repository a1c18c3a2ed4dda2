// The committed diagram is the machine's own: reports/statechart.mmd is exactly what `npm run diagram`
// generates now (so a change to the chart without a new diagram fails here), and it names every state.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toDot, toMermaid } from './chart_text.ts';
import { relationshipMachine } from './statechart.ts';

const committed = (file: string) => readFileSync(join(import.meta.dirname, '..', 'reports', file), 'utf8');

function leafStates(node: { key: string; states: Record<string, unknown> }, prefix = ''): string[] {
  const children = Object.values(node.states) as { key: string; states: Record<string, unknown> }[];
  if (children.length === 0) return [prefix];
  return children.flatMap((c) => leafStates(c, prefix === '' ? c.key : `${prefix}.${c.key}`));
}

describe('the statechart diagram', () => {
  it('reports/statechart.mmd is generated from the machine as it is now (run npm run diagram)', () => {
    expect(committed('statechart.mmd')).toBe(toMermaid());
    expect(committed('statechart.svg')).toMatch(/^<\?xml|^<svg/);
  });

  it('shows every state of the machine, in Mermaid and in DOT', () => {
    const mermaid = toMermaid();
    const dot = toDot();
    expect(mermaid.startsWith('stateDiagram-v2')).toBe(true);
    const leaves = leafStates(relationshipMachine.root as never);
    expect(leaves.length).toBeGreaterThan(15);
    for (const leaf of leaves) {
      const id = leaf.replaceAll('.', '_');
      expect(mermaid, leaf).toContain(id);
      expect(dot, leaf).toContain(id);
    }
  });
});
