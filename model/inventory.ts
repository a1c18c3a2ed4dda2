// The statechart's states and transitions as plain data with stable ids, read from the machine itself:
// what coverage counts and what the diagrams draw. A transition id is `<source>:<EVENT>:<index>`.

import { type AnyStateMachine, type AnyStateNode, and, not, or } from 'xstate';
import { relationshipMachine } from './statechart.ts';

export interface ChartState {
  /** Dotted path from the root ('source.serving.cp.frozen'); '(root)' for the machine itself. */
  readonly id: string;
  readonly key: string;
  readonly type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  readonly parent: string | null;
  readonly children: readonly string[];
  readonly initial: string | null;
  readonly description: string | null;
}

export interface ChartTransition {
  readonly id: string;
  readonly source: string;
  readonly event: string;
  /** Its place among the source's candidates for that event: the first whose guard passes is taken. */
  readonly index: number;
  /** Target states; empty for a transition that stays (it only updates the context). */
  readonly targets: readonly string[];
  readonly guard: string | null;
  readonly actions: readonly string[];
  readonly description: string | null;
}

export const ROOT_ID = '(root)';

export function stateIdOf(node: AnyStateNode): string {
  return node.path.length === 0 ? ROOT_ID : node.path.join('.');
}

function allNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap((child) => allNodes(child as AnyStateNode))];
}

export function chartStates(machine: AnyStateMachine = relationshipMachine): ChartState[] {
  return allNodes(machine.root).map((node) => ({
    id: stateIdOf(node),
    key: node.key,
    type: node.type,
    parent: node.parent ? stateIdOf(node.parent) : null,
    children: Object.values(node.states).map((c) => stateIdOf(c as AnyStateNode)),
    initial: node.type === 'compound' ? (node.initial.target[0]?.key ?? null) : null,
    description: node.description ?? null,
  }));
}

export function chartTransitions(machine: AnyStateMachine = relationshipMachine): ChartTransition[] {
  return allNodes(machine.root).flatMap((node) =>
    [...node.transitions.entries()].flatMap(([event, candidates]) =>
      candidates.map((t, index) => ({
        id: `${stateIdOf(node)}:${event}:${index}`,
        source: stateIdOf(node),
        event,
        index,
        targets: (t.target ?? []).map((n) => stateIdOf(n as AnyStateNode)),
        guard: t.guard === undefined ? null : guardLabel(t.guard),
        actions: t.actions.map(actionLabel),
        description: t.description ?? null,
      })),
    ),
  );
}

/** The id of a transition definition xstate selected (machine.getTransitionData). */
export function transitionIdOf(t: { readonly source: AnyStateNode; readonly eventType: string }): string {
  const candidates = t.source.transitions.get(t.eventType) ?? [];
  return `${stateIdOf(t.source)}:${t.eventType}:${candidates.indexOf(t as never)}`;
}

// Built-in guards are functions carrying `check` and their operands; tell them apart by `check`.
const AND_CHECK = (and([]) as unknown as { check: unknown }).check;
const OR_CHECK = (or([]) as unknown as { check: unknown }).check;
const NOT_CHECK = (not('x') as unknown as { check: unknown }).check;

interface BuiltinGuard {
  readonly check?: unknown;
  readonly guards?: readonly unknown[];
  readonly stateValue?: unknown;
}

/** A guard as a reader sees it: named guards by name, and/or/not spelled out. */
export function guardLabel(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && guard !== null && 'type' in guard) return String(guard.type);
  const g = guard as BuiltinGuard;
  const parts = (g.guards ?? []).map(guardLabel);
  if (g.check === AND_CHECK) return parts.map((p) => (p.includes(' || ') ? `(${p})` : p)).join(' && ');
  if (g.check === OR_CHECK) return parts.map((p) => (p.includes(' && ') ? `(${p})` : p)).join(' || ');
  if (g.check === NOT_CHECK) return `!${/[ &|]/.test(parts[0] ?? '') ? `(${parts[0]})` : parts[0]}`;
  if (g.stateValue !== undefined) return `in(${String(g.stateValue)})`;
  return 'guard';
}

function actionLabel(action: unknown): string {
  if (typeof action === 'string') return action;
  if (typeof action === 'object' && action !== null && 'type' in action) return String(action.type);
  return 'action';
}
