// The statechart as text, generated from the machine's own states and transitions (inventory.ts):
// Mermaid `stateDiagram-v2`, and Graphviz DOT that model/diagram.ts renders to SVG with @viz-js/viz.
//
// Transitions that change no state are drawn UML-style, as "event [guard] / action" lines inside it.

import type { AnyStateMachine } from 'xstate';
import {
  type ChartState,
  type ChartTransition,
  chartStates,
  chartTransitions,
  ROOT_ID,
} from './inventory.ts';
import { relationshipMachine } from './statechart.ts';

interface Chart {
  readonly states: ReadonlyMap<string, ChartState>;
  readonly transitions: readonly ChartTransition[];
}

function chartOf(machine: AnyStateMachine): Chart {
  return {
    states: new Map(chartStates(machine).map((s) => [s.id, s])),
    transitions: chartTransitions(machine),
  };
}

const nodeName = (id: string): string => (id === ROOT_ID ? 'root' : id.replaceAll('.', '_'));

function label(t: ChartTransition): string {
  const guard = t.guard ? ` [${t.guard}]` : '';
  const actions = t.actions.length > 0 ? ` / ${t.actions.join(', ')}` : '';
  return `${t.event}${guard}${actions}`;
}

const internal = (chart: Chart, id: string) =>
  chart.transitions.filter((t) => t.source === id && t.targets.length === 0);
const external = (chart: Chart) => chart.transitions.filter((t) => t.targets.length > 0);

// Mermaid.

/** Mermaid stateDiagram-v2: parallel regions separated by `--`, internal transitions as notes. */
export function toMermaid(machine: AnyStateMachine = relationshipMachine): string {
  const chart = chartOf(machine);
  const root = chart.states.get(ROOT_ID)!;
  const lines = ['stateDiagram-v2', ...mermaidState(chart, root, 1)];
  for (const t of external(chart))
    for (const target of t.targets)
      lines.push(`  ${nodeName(t.source)} --> ${nodeName(target)} : ${mermaidText(label(t))}`);
  for (const s of chart.states.values()) lines.push(...mermaidNote(chart, s));
  return `${lines.join('\n')}\n`;
}

function mermaidState(chart: Chart, s: ChartState, depth: number): string[] {
  const pad = '  '.repeat(depth);
  const title = s.id === ROOT_ID ? 'relationship (parallel regions)' : s.key;
  if (s.children.length === 0) return [`${pad}state "${title}" as ${nodeName(s.id)}`];
  const children = s.children.map((c) => chart.states.get(c)!);
  const body =
    s.type === 'parallel'
      ? children.flatMap((c, i) => [...(i > 0 ? [`${pad}  --`] : []), ...mermaidState(chart, c, depth + 1)])
      : [
          `${pad}  [*] --> ${nodeName(`${s.id}.${s.initial}`)}`,
          ...children.flatMap((c) => mermaidState(chart, c, depth + 1)),
        ];
  return [`${pad}state "${title}" as ${nodeName(s.id)} {`, ...body, `${pad}}`];
}

function mermaidNote(chart: Chart, s: ChartState): string[] {
  const own = internal(chart, s.id);
  if (own.length === 0) return [];
  const side = s.children.length > 0 ? 'left' : 'right';
  return [
    `  note ${side} of ${nodeName(s.id)}`,
    ...own.map((t) => `    ${mermaidText(label(t))}`),
    '  end note',
  ];
}

/** Mermaid reads ';' and '#' as syntax and '{ }' as blocks: keep them out of labels. */
const mermaidText = (text: string) => text.replaceAll(/[;#{}]/g, ' ');

// Graphviz DOT.

/** DOT with one cluster per compound or parallel state and `compound=true` for edges to clusters. */
export function toDot(machine: AnyStateMachine = relationshipMachine): string {
  const chart = chartOf(machine);
  const root = chart.states.get(ROOT_ID)!;
  const lines = [
    'digraph cpsync {',
    '  compound=true; rankdir=LR; newrank=true; nodesep=0.3; ranksep=0.5;',
    '  graph [fontname="Helvetica", fontsize=12];',
    '  node [shape=box, style="rounded", fontname="Helvetica", fontsize=10];',
    '  edge [fontname="Helvetica", fontsize=8, color="#555555"];',
    ...dotState(chart, root, 1),
    ...external(chart).flatMap((t) => t.targets.map((target) => dotEdge(chart, t, target))),
    '}',
  ];
  return `${lines.join('\n')}\n`;
}

const isCluster = (s: ChartState) => s.children.length > 0;
const anchorOf = (id: string) => `${nodeName(id)}__anchor`;

function dotState(chart: Chart, s: ChartState, depth: number): string[] {
  const pad = '  '.repeat(depth);
  if (!isCluster(s))
    return [`${pad}${nodeName(s.id)} [label=${dotHtmlLabel(s.key, internal(chart, s.id))}];`];
  const children = s.children.map((c) => chart.states.get(c)!);
  const parallel = s.type === 'parallel';
  const title =
    s.id === ROOT_ID
      ? `relationship machine (${s.type}: regions run side by side)`
      : `${s.key}${parallel ? ' (parallel)' : ''}`;
  const own = internal(chart, s.id);
  return [
    `${pad}subgraph cluster_${nodeName(s.id)} {`,
    `${pad}  label=${dotString(title)}; style=${parallel || s.id === ROOT_ID ? '"dashed"' : '"rounded"'};`,
    `${pad}  ${anchorOf(s.id)} [shape=point, style=invis, width=0.01, height=0.01];`,
    ...(s.initial
      ? [
          `${pad}  ${nodeName(s.id)}__initial [shape=circle, style=filled, fillcolor=black, label="", width=0.12];`,
          `${pad}  ${nodeName(s.id)}__initial -> ${entryNode(chart, `${s.id}.${s.initial}`)}${lheadOf(chart, `${s.id}.${s.initial}`)};`,
        ]
      : []),
    ...(own.length > 0
      ? [
          `${pad}  ${nodeName(s.id)}__internal [shape=note, label=${dotHtmlLabel('in any of these states', own)}];`,
        ]
      : []),
    ...children.flatMap((c) => dotState(chart, c, depth + 1)),
    `${pad}}`,
  ];
}

/** The node an edge to `id` ends at: the state itself, or its cluster's anchor. */
function entryNode(chart: Chart, id: string): string {
  const s = chart.states.get(id)!;
  return isCluster(s) ? anchorOf(id) : nodeName(id);
}

function lheadOf(chart: Chart, id: string): string {
  return isCluster(chart.states.get(id)!) ? ` [lhead=cluster_${nodeName(id)}]` : '';
}

/** An edge label on several short lines, so that long guards do not stretch the layout. */
function dotEdgeLabel(t: ChartTransition): string {
  const guard = t.guard ? `[${t.guard}]`.replaceAll(' && ', ' &&\n') : null;
  const actions = t.actions.length > 0 ? `/ ${t.actions.join(', ')}` : null;
  return [t.event, guard, actions].filter((x) => x !== null).join('\n');
}

function dotEdge(chart: Chart, t: ChartTransition, target: string): string {
  const attrs = [`label=${dotString(dotEdgeLabel(t))}`];
  if (isCluster(chart.states.get(t.source)!)) attrs.push(`ltail=cluster_${nodeName(t.source)}`);
  if (isCluster(chart.states.get(target)!)) attrs.push(`lhead=cluster_${nodeName(target)}`);
  return `  ${entryNode(chart, t.source)} -> ${entryNode(chart, target)} [${attrs.join(', ')}];`;
}

/** A DOT string: quotes escaped, line breaks as DOT's centred `\n`. */
const dotString = (text: string) => `"${text.replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`;

const html = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/** A state box: its name in bold, then its internal transitions, one per line. */
function dotHtmlLabel(title: string, own: readonly ChartTransition[]): string {
  const rows = own.map((t) => `<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="8">${html(label(t))}</FONT></TD></TR>`);
  return `<<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="1"><TR><TD><B>${html(title)}</B></TD></TR>${rows.join('')}</TABLE>>`;
}
