// The committed statechart picture (reports/statechart.svg, drawn by Graphviz from model/chart_text.ts's
// DOT) with what a campaign visited marked: each state box and each transition arrow gets a class,
// `visited` or `unvisited`, and data attributes naming it, which the report's CSS colours.
//
// Graphviz names a node after the state id with dots as underscores, a compound state's cluster
// `cluster_<name>`, and an edge into or out of a cluster by its `<name>__anchor` point; an edge's first
// label line is its event. chart_text.ts writes those names; html_report.test.ts checks they still match.

import { chartStates, chartTransitions, ROOT_ID } from '../model/inventory.ts';

export interface ChartMarks {
  readonly svg: string;
  readonly states: {
    readonly visited: number;
    readonly total: number;
    readonly unvisited: readonly string[];
  };
  /** Transitions that change state (drawn as arrows) and those that stay (listed inside a state box). */
  readonly transitions: {
    readonly visited: number;
    readonly total: number;
    readonly unvisited: readonly string[];
  };
}

const nodeName = (id: string): string => (id === ROOT_ID ? 'root' : id.replaceAll('.', '_'));

/** Marks `svg` (the statechart picture) with the state and transition ids a campaign visited. */
export function markStatechart(
  svg: string,
  visitedStates: ReadonlySet<string>,
  visitedTransitions: ReadonlySet<string>,
): ChartMarks {
  const states = chartStates().filter((s) => s.id !== ROOT_ID);
  const clusters = new Set(states.filter((s) => s.children.length > 0).map((s) => s.id));
  const entry = (id: string) => (clusters.has(id) ? `${nodeName(id)}__anchor` : nodeName(id));
  const stateByName = new Map<string, string>();
  for (const s of states)
    stateByName.set(clusters.has(s.id) ? `cluster_${nodeName(s.id)}` : nodeName(s.id), s.id);
  // An arrow is `from->to` with its event; two transitions may share one (guards apart): either marks it.
  const edgeVisited = new Map<string, boolean>();
  const edgeIds = new Map<string, string[]>();
  const transitions = chartTransitions();
  for (const t of transitions)
    for (const target of t.targets) {
      const key = `${entry(t.source)}->${entry(target)}|${t.event}`;
      edgeVisited.set(key, (edgeVisited.get(key) ?? false) || visitedTransitions.has(t.id));
      edgeIds.set(key, [...(edgeIds.get(key) ?? []), t.id]);
    }
  const body = svg
    .replace(/^[\s\S]*?(<svg\b)/, '$1')
    .replace(
      /<g id="([^"]+)" class="(node|cluster|edge)">\s*<title>([^<]*)<\/title>([\s\S]*?)<\/g>/g,
      (all, id, kind, title, inner) => {
        const name = unescapeXml(title);
        if (kind === 'edge') {
          const event = /<text[^>]*>([^<]*)<\/text>/.exec(inner)?.[1];
          const key = `${name}|${event === undefined ? '' : unescapeXml(event)}`;
          const visited = edgeVisited.get(key);
          if (visited === undefined) return all;
          return `<g id="${id}" class="edge ${visited ? 'visited' : 'unvisited'}" data-transitions="${edgeIds.get(key)!.join(' ')}"><title>${title}</title>${inner}</g>`;
        }
        const state = stateByName.get(name);
        if (state === undefined) return all;
        const cls = visitedStates.has(state) ? 'visited' : 'unvisited';
        return `<g id="${id}" class="${kind} ${cls}" data-state="${state}"><title>${title}</title>${inner}</g>`;
      },
    );
  const unvisitedStates = states.filter((s) => !visitedStates.has(s.id)).map((s) => s.id);
  const unvisitedTransitions = transitions.filter((t) => !visitedTransitions.has(t.id)).map((t) => t.id);
  return {
    svg: body,
    states: {
      visited: states.length - unvisitedStates.length,
      total: states.length,
      unvisited: unvisitedStates,
    },
    transitions: {
      visited: transitions.length - unvisitedTransitions.length,
      total: transitions.length,
      unvisited: unvisitedTransitions,
    },
  };
}

function unescapeXml(text: string): string {
  return text
    .replaceAll('&#45;', '-')
    .replaceAll('&gt;', '>')
    .replaceAll('&lt;', '<')
    .replaceAll('&quot;', '"')
    .replaceAll('&amp;', '&');
}
