// The sequence diagram of a recorded run (harness/run_record.ts), as SVG written directly: a lifeline
// for the clients and operator and one per node, each action and message an arrow at its step and tick,
// lost, dropped, duplicated and corrupted messages marked, power cuts, partitions as bands, CPs as
// brackets on each side, and the violating step highlighted. Time runs down, one row per event.

import type { RunRecord, StepRecord } from '../harness/run_record.ts';
import { describeAction } from '../harness/schedule.ts';
import { DESTINATION, type NodeId, type Observation } from '../harness/target.ts';
import type { WorldAction, WorldEvent } from '../harness/world.ts';
import { writeIdOf } from '../harness/write_identity.ts';

/** How the diagram classes a message: by its decoded kind; a CP sync that is a resync transfer apart. */
export type MessageClass =
  | 'log-entry'
  | 'log-ack'
  | 'cp-sync'
  | 'resync'
  | 'cp-confirm'
  | 'hello'
  | 'reject'
  | 'opaque';

export const MESSAGE_CLASSES: readonly {
  readonly cls: MessageClass;
  readonly label: string;
  readonly color: string;
}[] = [
  { cls: 'log-entry', label: 'log entry', color: '#1f6fb4' },
  { cls: 'log-ack', label: 'log ack', color: '#2a9d3a' },
  { cls: 'cp-sync', label: 'CP sync', color: '#e07b00' },
  { cls: 'resync', label: 'resync transfer', color: '#8e44ad' },
  { cls: 'cp-confirm', label: 'CP confirm', color: '#0f9aa8' },
  { cls: 'hello', label: 'hello / reply', color: '#6b6b6b' },
  { cls: 'reject', label: 'reject', color: '#8c564b' },
  { cls: 'opaque', label: 'not our wire format', color: '#333333' },
];

/** What became of one copy of a message. */
export type MessageFate =
  | 'delivered'
  | 'corrupted'
  | 'lost'
  | 'cut-by-partition'
  | 'dropped-by-crash'
  | 'receiver-down'
  | 'in-flight';

/** The violation to highlight: the step it followed, and what the property said. */
export interface DiagramMark {
  readonly step: number;
  readonly property: string;
  readonly message: string;
  /** True when the mark is the one the file recorded and the replay no longer fails there. */
  readonly recordedOnly?: boolean;
}

type SendEvent = Extract<WorldEvent, { kind: 'send' }>;
type ArrivalEvent = Extract<WorldEvent, { kind: 'deliver' | 'drop' }>;

export function messageClassOf(send: Pick<SendEvent, 'type' | 'resync'>): MessageClass {
  if (send.type === null) return 'opaque';
  if (send.type === 'cp-sync') return send.resync ? 'resync' : 'cp-sync';
  if (send.type === 'hello-reply') return 'hello';
  // A target's own kinds (TargetInstance.describeMessage) outside the reference's are drawn as opaque.
  return MESSAGE_CLASSES.some((c) => c.cls === send.type) ? (send.type as MessageClass) : 'opaque';
}

export function fateOf(send: SendEvent, arrival: ArrivalEvent | undefined): MessageFate {
  if (!arrival) return 'in-flight';
  if (arrival.kind === 'deliver')
    return arrival.undecodable && send.type !== null ? 'corrupted' : 'delivered';
  switch (arrival.reason) {
    case 'loss':
      return 'lost';
    case 'partition':
      return 'cut-by-partition';
    case 'crash':
      return 'dropped-by-crash';
    case 'down':
      return 'receiver-down';
  }
}

const FATE_TEXT: Record<MessageFate, string> = {
  delivered: 'delivered',
  corrupted: 'arrived corrupted: it does not decode',
  lost: 'lost on the link',
  'cut-by-partition': 'cut by the partition',
  'dropped-by-crash': 'dropped in flight: the receiver lost power',
  'receiver-down': 'arrived at a node that was down',
  'in-flight': 'still in flight when the run ended',
};

// Layout, in pixels.
const ROW = 22;
const HEADER = 64;
const STEP_COL = 250;
const TICK_COL = 46;
const LANE = 215;
const FIRST_LANE = STEP_COL + TICK_COL + LANE / 2;
const CLIENTS = 'clients';

type Row =
  | { readonly kind: 'phase'; readonly step: StepRecord; readonly tick: number }
  | { readonly kind: 'action'; readonly step: StepRecord; readonly tick: number; readonly writeId?: number }
  | {
      readonly kind: 'event';
      readonly step: StepRecord;
      readonly tick: number;
      readonly event: WorldEvent;
      readonly index: number;
    }
  | { readonly kind: 'quiet'; readonly step: StepRecord; readonly tick: number };

interface Layout {
  readonly rows: readonly Row[];
  /** Per world event index, its row. */
  readonly rowOfEvent: readonly number[];
  /** Per step number, its first and last row. */
  readonly stepRows: ReadonlyMap<number, { readonly first: number; readonly last: number }>;
}

function layout(record: RunRecord): Layout {
  const rows: Row[] = [];
  const rowOfEvent: number[] = [];
  const stepRows = new Map<number, { first: number; last: number }>();
  let writes = 0;
  for (const step of record.steps) {
    const first = rows.length;
    if (step.phase === 'liveness' && (step.step === 1 || record.steps[step.step - 2]?.phase === 'safety'))
      rows.push({ kind: 'phase', step, tick: step.fromTick });
    if (step.action.kind !== 'tick') {
      const writeId = step.action.kind === 'write' ? ++writes : undefined;
      if (step.action.kind === 'burst') writes += step.action.count;
      rows.push({ kind: 'action', step, tick: step.fromTick, ...(writeId ? { writeId } : {}) });
    }
    for (let i = step.eventsFrom; i < step.eventsTo; i++) {
      const event = record.events[i]!;
      rowOfEvent[i] = rows.length;
      rows.push({ kind: 'event', step, tick: event.tick, event, index: i });
    }
    if (rows.length === first || (rows.length === first + 1 && rows[first]!.kind === 'phase'))
      rows.push({ kind: 'quiet', step, tick: step.toTick });
    stepRows.set(step.step, { first, last: rows.length - 1 });
  }
  return { rows, rowOfEvent, stepRows };
}

const y = (row: number) => HEADER + row * ROW + ROW / 2;

/** The sequence diagram as an `<svg>` element. */
export function sequenceDiagram(record: RunRecord, mark: DiagramMark | null): string {
  const lanes = [CLIENTS, ...record.nodes];
  const laneX = new Map(lanes.map((n, i) => [n, FIRST_LANE + i * LANE] as const));
  const xOf = (node: NodeId) => laneX.get(node) ?? FIRST_LANE;
  const L = layout(record);
  // Room on the right for the destination's CP brackets and the labels beside its lifeline.
  const width = FIRST_LANE + (lanes.length - 1) * LANE + LANE / 2 + 120;
  const bodyBottom = HEADER + L.rows.length * ROW;
  const height = bodyBottom + (mark ? 70 : 20);
  const ctx: Ctx = { record, L, xOf, bodyBottom, width };
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="sequence" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="sequence diagram of the run">`,
    defs(),
    stepColumn(ctx, mark),
    tickColumn(ctx),
    partitionBands(ctx),
    violationBand(ctx, mark),
    lifelines(ctx, lanes),
    cpBrackets(ctx),
    actions(ctx),
    messages(ctx),
    answers(ctx),
    powerCuts(ctx),
    violationNote(ctx, mark),
    '</svg>',
  ];
  return parts.join('\n');
}

interface Ctx {
  readonly record: RunRecord;
  readonly L: Layout;
  readonly xOf: (node: NodeId) => number;
  readonly bodyBottom: number;
  readonly width: number;
}

function defs(): string {
  const markers = MESSAGE_CLASSES.map(
    (c) =>
      `<marker id="arrow-${c.cls}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="${c.color}"/></marker>`,
  );
  return [
    '<defs>',
    ...markers,
    '<marker id="arrow-client" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#222"/></marker>',
    '<marker id="arrow-ok" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1b7f2a"/></marker>',
    '<marker id="arrow-failed" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c0392b"/></marker>',
    '<pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="#fdecea"/><line x1="0" y1="0" x2="0" y2="8" stroke="#f2b8b0" stroke-width="3"/></pattern>',
    '</defs>',
  ].join('\n');
}

/** Left column: each step's number and action, bracketed over its rows; the liveness phase marked. */
function stepColumn(ctx: Ctx, mark: DiagramMark | null): string {
  const out: string[] = [
    `<text x="8" y="${HEADER - 20}" class="col-head">step</text>`,
    `<text x="${STEP_COL + 4}" y="${HEADER - 20}" class="col-head">tick</text>`,
  ];
  for (const [i, row] of ctx.L.rows.entries())
    if (row.kind === 'phase')
      out.push(
        `<line x1="0" x2="${ctx.width}" y1="${y(i)}" y2="${y(i)}" class="phase-line"/>`,
        `<text x="${FIRST_LANE}" y="${y(i) - 4}" class="phase-text">liveness phase: every fault healed, time passes</text>`,
      );
  for (const step of ctx.record.steps) {
    const r = ctx.L.stepRows.get(step.step)!;
    const first = ctx.L.rows[r.first]!.kind === 'phase' ? r.first + 1 : r.first;
    const top = y(first) - ROW / 2 + 3;
    const bottom = y(r.last) + ROW / 2 - 3;
    const violating = mark?.step === step.step;
    out.push(
      `<g class="step${violating ? ' violating' : ''}${step.phase === 'liveness' ? ' liveness' : ''}" data-step="${step.step}">`,
      `<path d="M${STEP_COL - 8},${top} h6 V${bottom} h-6" class="step-bracket"/>`,
      `<text x="8" y="${y(first) + 4}">${step.step}. ${esc(describeAction(step.action))}${violating ? ' ◀' : ''}</text>`,
      '</g>',
    );
  }
  return out.join('\n');
}

/** The tick at each row where it changes, with a faint rule across. */
function tickColumn(ctx: Ctx): string {
  const out: string[] = [];
  let last = -1;
  for (const [i, row] of ctx.L.rows.entries()) {
    if (row.tick === last) continue;
    const top = y(i) - ROW / 2;
    if (last >= 0)
      out.push(`<line x1="${STEP_COL}" x2="${ctx.width}" y1="${top}" y2="${top}" class="tick-rule"/>`);
    out.push(`<text x="${STEP_COL + 4}" y="${y(i) + 4}" class="tick">${row.tick}</text>`);
    last = row.tick;
  }
  return out.join('\n');
}

/** A lifeline per lane: solid while up, dashed grey while the node is down. */
function lifelines(ctx: Ctx, lanes: readonly string[]): string {
  const out: string[] = [];
  const down = downIntervals(ctx);
  for (const lane of lanes) {
    const x = ctx.xOf(lane);
    const spec = ctx.record.spec.sources.find((s) => s.id === lane);
    const title =
      lane === CLIENTS
        ? 'clients / operator'
        : lane === DESTINATION
          ? `${lane} (destination)`
          : `${lane} (source)`;
    const sub = spec
      ? `${spec.mode}`
      : lane === DESTINATION
        ? 'mirrors and log files'
        : 'writes, reads, faults';
    out.push(
      `<g class="lifeline" data-node="${esc(lane)}">`,
      `<rect x="${x - 95}" y="6" width="190" height="38" rx="6" class="lane-head${lane === CLIENTS ? ' clients' : ''}"/>`,
      `<text x="${x}" y="22" class="lane-title">${esc(title)}</text>`,
      `<text x="${x}" y="37" class="lane-sub">${esc(sub)}</text>`,
      `<line x1="${x}" x2="${x}" y1="44" y2="${ctx.bodyBottom}" class="life"/>`,
    );
    for (const d of down.get(lane) ?? [])
      out.push(
        `<line x1="${x}" x2="${x}" y1="${y(d.from)}" y2="${d.to === null ? ctx.bodyBottom : y(d.to)}" class="life-down"><title>${esc(lane)} down</title></line>`,
      );
    out.push('</g>');
  }
  return out.join('\n');
}

function downIntervals(ctx: Ctx): Map<NodeId, { from: number; to: number | null }[]> {
  const out = new Map<NodeId, { from: number; to: number | null }[]>();
  for (const [i, row] of ctx.L.rows.entries()) {
    if (row.kind === 'event' && row.event.kind === 'power-lost') {
      const list = out.get(row.event.node) ?? [];
      list.push({ from: i, to: null });
      out.set(row.event.node, list);
    }
    if (row.kind === 'action' && row.step.action.kind === 'restart') {
      const open = out.get(row.step.action.node)?.find((d) => d.to === null);
      if (open) open.to = i;
    }
  }
  return out;
}

/**
 * Shaded bands between a source and the destination while their link is partitioned (hatched) or
 * slowed past the ack timeout (blue), from the action that began it to the one that ended it.
 */
function partitionBands(ctx: Ctx): string {
  const out: string[] = [];
  const open = new Map<string, { from: number; text: string }>();
  const band = (
    kind: 'partition' | 'slow',
    source: NodeId,
    from: number,
    to: number | null,
    text: string,
  ) => {
    const x1 = ctx.xOf(source);
    const x2 = ctx.xOf(DESTINATION);
    const top = y(from);
    const bottom = to === null ? ctx.bodyBottom : y(to);
    out.push(
      `<g class="${kind}" data-source="${esc(source)}"><rect x="${Math.min(x1, x2)}" y="${top}" width="${Math.abs(x2 - x1)}" height="${bottom - top}"${kind === 'partition' ? ' fill="url(#hatch)"' : ''} class="${kind}-band"/>`,
      `<text x="${(x1 + x2) / 2}" y="${top + 14}" class="${kind}-text">${esc(text)}</text></g>`,
    );
  };
  const begin = (kind: 'partition' | 'slow', source: NodeId, row: number, text: string) => {
    if (!open.has(`${kind} ${source}`)) open.set(`${kind} ${source}`, { from: row, text });
  };
  const end = (kind: 'partition' | 'slow', source: NodeId, row: number) => {
    const o = open.get(`${kind} ${source}`);
    if (!o) return;
    band(kind, source, o.from, row, o.text);
    open.delete(`${kind} ${source}`);
  };
  for (const [i, row] of ctx.L.rows.entries()) {
    if (row.kind !== 'action') continue;
    const a = row.step.action;
    if (a.kind === 'partition') begin('partition', a.source, i, `${a.source}–${DESTINATION} partitioned`);
    if (a.kind === 'heal') end('partition', a.source, i);
    if (a.kind === 'slow')
      begin('slow', a.source, i, `${a.source}–${DESTINATION} slowed to ${a.ticks} ticks`);
    if (a.kind === 'speed-up') end('slow', a.source, i);
  }
  for (const [key, o] of open) {
    const [kind, source] = key.split(' ') as ['partition' | 'slow', NodeId];
    band(kind, source, o.from, null, o.text);
  }
  return out.join('\n');
}

function violationBand(ctx: Ctx, mark: DiagramMark | null): string {
  if (!mark) return '';
  const r = ctx.L.stepRows.get(mark.step);
  if (!r) return '';
  const top = y(r.first) - ROW / 2;
  const bottom = y(r.last) + ROW / 2;
  return `<rect x="0" y="${top}" width="${ctx.width}" height="${bottom - top}" class="violation-band"/>`;
}

function violationNote(ctx: Ctx, mark: DiagramMark | null): string {
  if (!mark) return '';
  const r = ctx.L.stepRows.get(mark.step);
  const anchor = r ? y(r.last) + ROW / 2 : ctx.bodyBottom;
  const top = ctx.bodyBottom + 12;
  const text = `${mark.recordedOnly ? 'recorded (no longer fails here): ' : 'VIOLATED '}${mark.property} at step ${mark.step}`;
  return [
    `<g class="violation" data-step="${mark.step}" data-property="${esc(mark.property)}">`,
    `<line x1="12" y1="${anchor}" x2="12" y2="${top}" class="violation-link"/>`,
    `<rect x="6" y="${top}" width="${ctx.width - 12}" height="48" rx="6" class="violation-box"/>`,
    `<text x="16" y="${top + 19}" class="violation-title">${esc(text)}</text>`,
    `<text x="16" y="${top + 38}" class="violation-message">${esc(clip(mark.message, Math.floor((ctx.width - 40) / 6.4)))}<title>${esc(mark.message)}</title></text>`,
    '</g>',
  ].join('\n');
}

/** An action is an arrow from the clients' and operator's lifeline to the node it concerns. */
function actions(ctx: Ctx): string {
  const out: string[] = [];
  for (const [i, row] of ctx.L.rows.entries()) {
    if (row.kind !== 'action') continue;
    const a = row.step.action;
    const node = actionNode(ctx, a, row.writeId);
    const x1 = ctx.xOf(CLIENTS);
    const x2 = ctx.xOf(node);
    const label = actionLabel(ctx, a, row);
    out.push(
      `<g class="action" data-step="${row.step.step}" data-kind="${a.kind}" data-node="${esc(node)}">`,
      `<line x1="${x1}" y1="${y(i)}" x2="${x2 - 3}" y2="${y(i)}" class="action-line${a.kind === 'write' || a.kind === 'read' ? '' : ' fault'}" marker-end="url(#arrow-client)"/>`,
      `<text x="${x1 + 8}" y="${y(i) - 4}" class="label">${esc(label)}</text>`,
      '</g>',
    );
  }
  return out.join('\n');
}

function actionNode(ctx: Ctx, a: WorldAction, writeId: number | undefined): NodeId {
  switch (a.kind) {
    case 'write':
      return ctx.record.writes[(writeId ?? 1) - 1]?.servedBy ?? a.source;
    case 'read':
    case 'burst':
    case 'out-of-range':
      return a.source;
    case 'partition':
    case 'heal':
    case 'slow':
    case 'speed-up':
      return a.source;
    case 'message-fault':
      return a.from;
    case 'failover':
      return DESTINATION;
    case 'tick':
      return CLIENTS;
    default:
      return a.node;
  }
}

function actionLabel(ctx: Ctx, a: WorldAction, row: Extract<Row, { kind: 'action' }>): string {
  if (a.kind === 'write') return `write lba=${a.lba} (id ${row.writeId})`;
  if (a.kind === 'read') {
    const r = readAt(ctx, row.step);
    if (!r) return describeAction(a);
    return `read lba=${a.lba} → ${r.result.ok ? `write ${writeIdOf(r.result.data)}` : `error: ${r.result.error}`}`;
  }
  if (a.kind === 'crash' && a.afterWrites !== undefined)
    return `arm power cut after ${a.afterWrites} media write${a.afterWrites === 1 ? '' : 's'}${a.torn ? ', torn' : ''}`;
  return describeAction(a);
}

function readAt(ctx: Ctx, step: StepRecord) {
  let n = 0;
  for (const s of ctx.record.steps) {
    if (s.step === step.step) return ctx.record.reads[n];
    if (s.action.kind === 'read') n++;
  }
  return undefined;
}

/** Each message copy: an arrow from its send to its arrival, or to where it was dropped. */
function messages(ctx: Ctx): string {
  const out: string[] = [];
  const arrivals = new Map<number, ArrivalEvent[]>();
  for (const e of ctx.record.events)
    if (e.kind === 'deliver' || e.kind === 'drop') {
      const list = arrivals.get(e.id) ?? [];
      list.push(e);
      arrivals.set(e.id, list);
    }
  const rowOfArrival = new Map<ArrivalEvent, number>();
  ctx.record.events.forEach((e, i) => {
    if (e.kind === 'deliver' || e.kind === 'drop') rowOfArrival.set(e, ctx.L.rowOfEvent[i]!);
  });
  ctx.record.events.forEach((e, i) => {
    if (e.kind !== 'send') return;
    const row = ctx.L.rowOfEvent[i];
    if (row === undefined) return;
    const copies = arrivals.get(e.id) ?? [];
    const original = copies.find((c) => !c.duplicate);
    out.push(messageArrow(ctx, e, row, original, original ? rowOfArrival.get(original) : undefined, false));
    for (const dup of copies.filter((c) => c.duplicate))
      out.push(messageArrow(ctx, e, row, dup, rowOfArrival.get(dup), true));
  });
  return out.join('\n');
}

function messageArrow(
  ctx: Ctx,
  send: SendEvent,
  row: number,
  arrival: ArrivalEvent | undefined,
  arrivalRow: number | undefined,
  duplicate: boolean,
): string {
  const cls = messageClassOf(send);
  const fate = fateOf(send, arrival);
  const x1 = ctx.xOf(send.from);
  const x2full = ctx.xOf(send.to);
  const y1 = y(row);
  const dir = Math.sign(x2full - x1) || 1;
  const reaches = fate === 'delivered' || fate === 'corrupted' || fate === 'receiver-down';
  const y2 = arrivalRow !== undefined ? y(arrivalRow) : ctx.bodyBottom - 4;
  // A message that never reaches its receiver stops halfway, at the row where it was dropped.
  const x2 = reaches
    ? x2full - dir * 3
    : fate === 'in-flight'
      ? x1 + (x2full - x1) * 0.75
      : (x1 + x2full) / 2;
  const y2shown = fate === 'lost' || fate === 'cut-by-partition' ? Math.max(y2, y1 + ROW * 0.8) : y2;
  const dashed = duplicate || fate === 'in-flight';
  const label = `${duplicate ? 'dup: ' : ''}${shortMessage(send)}`;
  const tip = `#${send.id} ${send.from}→${send.to}, sent at tick ${send.tick}${arrival ? `, ${arrival.kind === 'deliver' ? 'arrived' : 'dropped'} at tick ${arrival.tick}` : ''}: ${FATE_TEXT[fate]}${duplicate ? ' (the duplicate copy)' : ''}. ${send.message}`;
  const parts = [
    `<g class="msg${duplicate ? ' dup' : ''} ${fate === 'delivered' ? '' : 'faulty'}" data-kind="${cls}" data-fate="${fate}" data-id="${send.id}" data-from="${esc(send.from)}" data-to="${esc(send.to)}"><title>${esc(tip)}</title>`,
    `<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2shown}" stroke="${colorOf(cls)}" class="msg-line${dashed ? ' dashed' : ''}"${reaches && fate !== 'receiver-down' ? ` marker-end="url(#arrow-${cls})"` : ''}/>`,
    `<text x="${x1 + dir * 8}" y="${y1 - 4}" text-anchor="${dir > 0 ? 'start' : 'end'}" class="label" fill="${colorOf(cls)}">${esc(label)}</text>`,
  ];
  if (fate !== 'delivered' && fate !== 'in-flight')
    parts.push(
      `<text x="${x2}" y="${y2shown + 4}" text-anchor="middle" class="cross">${fate === 'corrupted' ? '≠' : '✕'}</text>`,
      `<text x="${x2 + dir * 10}" y="${y2shown + 4}" text-anchor="${dir > 0 ? 'start' : 'end'}" class="fate">${esc(FATE_SHORT[fate])}</text>`,
    );
  if (fate === 'in-flight')
    parts.push(
      `<text x="${x2 + dir * 6}" y="${y2shown}" text-anchor="${dir > 0 ? 'start' : 'end'}" class="fate">in flight at the end</text>`,
    );
  parts.push('</g>');
  return parts.join('');
}

const FATE_SHORT: Record<MessageFate, string> = {
  delivered: '',
  corrupted: 'corrupted',
  lost: 'lost',
  'cut-by-partition': 'partition',
  'dropped-by-crash': 'receiver crashed',
  'receiver-down': 'receiver down',
  'in-flight': 'in flight',
};

function colorOf(cls: MessageClass): string {
  return MESSAGE_CLASSES.find((c) => c.cls === cls)!.color;
}

/** The trace's description without what a reader of the picture does not need (checksums, sizes). */
function shortMessage(send: SendEvent): string {
  return send.message
    .replace(/ (sum|bytes)=\S+/g, '')
    .replace(` ${send.from === DESTINATION ? send.to : send.from} `, ' ');
}

/** A client's answer: an arrow from the node back to the clients' lifeline. */
function answers(ctx: Ctx): string {
  const out: string[] = [];
  const servedBy = new Map(ctx.record.writes.map((w) => [w.writeId, w.servedBy ?? w.source] as const));
  for (const [i, row] of ctx.L.rows.entries()) {
    if (row.kind !== 'event' || row.event.kind !== 'answer') continue;
    const e = row.event;
    const node = servedBy.get(e.writeId) ?? CLIENTS;
    const x1 = ctx.xOf(node);
    const x2 = ctx.xOf(CLIENTS);
    const text = e.ok
      ? `ack id ${e.writeId} ok`
      : `id ${e.writeId} ${e.byWorld ? 'unanswered' : 'failed'}: ${e.error ?? 'failed'}`;
    out.push(
      `<g class="answer ${e.ok ? 'ok' : 'failed'}" data-write="${e.writeId}" data-by-world="${e.byWorld}">`,
      `<line x1="${x1}" y1="${y(i)}" x2="${x2 + 3}" y2="${y(i)}" class="answer-line${e.byWorld ? ' dashed' : ''}" marker-end="url(#arrow-${e.ok ? 'ok' : 'failed'})"/>`,
      `<text x="${x1 - 8}" y="${y(i) - 4}" text-anchor="end" class="label answer-text">${esc(clip(text, 44))}<title>${esc(text)}</title></text>`,
      '</g>',
    );
  }
  return out.join('\n');
}

/** Power cuts: where each fell, and the media write it tore (or let land whole). */
function powerCuts(ctx: Ctx): string {
  const out: string[] = [];
  const armed = new Map<NodeId, Extract<WorldAction, { kind: 'crash' }>>();
  for (const [i, row] of ctx.L.rows.entries()) {
    if (
      row.kind === 'action' &&
      row.step.action.kind === 'crash' &&
      row.step.action.afterWrites !== undefined
    )
      armed.set(row.step.action.node, row.step.action);
    if (row.kind !== 'event' || row.event.kind !== 'power-lost') continue;
    const e = row.event;
    const a = row.step.action;
    const now = a.kind === 'crash' && a.node === e.node && a.afterWrites === undefined;
    const arm = now ? undefined : armed.get(e.node);
    armed.delete(e.node);
    // Short beside the lifeline (the next lane's brackets are near); the tooltip says it in full.
    const text = now
      ? 'power cut now'
      : arm
        ? `power cut: write #${e.mediaWrites} ${arm.torn ? 'torn' : 'whole'}`
        : `power lost: write #${e.mediaWrites}`;
    const tip = now
      ? `${e.node} lost power now: no write was torn; it had made ${e.mediaWrites} media writes since it came up`
      : arm
        ? `${e.node} lost power right after its media write #${e.mediaWrites} since it came up (armed by "${describeAction(arm)}"): that write ${arm.torn ? 'was torn: only its first half landed' : 'landed whole, nothing after it did'}`
        : `${e.node} lost power after ${e.mediaWrites} media writes`;
    const x = ctx.xOf(e.node);
    out.push(
      `<g class="power-cut" data-node="${esc(e.node)}" data-media-write="${e.mediaWrites}" data-torn="${arm?.torn === true}">`,
      `<path d="M${x - 6},${y(i) - 9} l8,7 l-5,2 l7,9 l-10,-7 l5,-2 z" class="bolt"/>`,
      `<text x="${x + 12}" y="${y(i) + 4}" class="power-text">${esc(text)}<title>${esc(tip)}</title></text>`,
      '</g>',
    );
  }
  return out.join('\n');
}

/**
 * CP brackets. On a source: from the observed step in which its CP started to the one in which it
 * completed, labelled with the CP number its root committed. On the destination: from the arrival of
 * the source's last CP sync to the observed step in which the mirror committed that CP.
 */
function cpBrackets(ctx: Ctx): string {
  const out: string[] = [];
  const obs = ctx.record.observed;
  const rowsOf = (k: number): { start: number; end: number } => {
    const o = obs[k]!;
    const from = k === 0 ? 0 : obs[k - 1]!.events;
    const r = ctx.L.stepRows.get(o.step) ?? { first: 0, last: 0 };
    if (o.events > from) return { start: ctx.L.rowOfEvent[from]!, end: ctx.L.rowOfEvent[o.events - 1]! };
    return { start: r.last, end: r.last };
  };
  const sources = ctx.record.spec.sources.map((s) => s.id);
  for (const [si, source] of sources.entries()) {
    let prev: Observation = ctx.record.initial;
    let open: { start: number; cp: number | null } | null = null;
    let lastCpSyncRow: { row: number; resync: boolean } | null = null;
    const sendOf = new Map<number, SendEvent>();
    for (const [k, o] of obs.entries()) {
      const from = k === 0 ? 0 : obs[k - 1]!.events;
      for (let i = from; i < o.events; i++) {
        const e = ctx.record.events[i]!;
        if (e.kind === 'send') sendOf.set(e.id, e);
        if (e.kind === 'deliver' && e.from === source && e.to === DESTINATION) {
          const s = sendOf.get(e.id);
          if (s?.type === 'cp-sync') lastCpSyncRow = { row: ctx.L.rowOfEvent[i]!, resync: s.resync };
        }
      }
      const p = prev.sources[source];
      const n = o.observation.sources[source];
      prev = o.observation;
      if (!p || !n) continue;
      const rows = rowsOf(k);
      const wasOpen = p.up && p.cpInProgress;
      if (!open && n.up && (n.cpInProgress || n.primaryCp > p.primaryCp) && !wasOpen)
        open = { start: rows.start, cp: null };
      if (open && n.primaryCp > p.primaryCp) open.cp = n.primaryCp;
      if (open && !n.up) {
        out.push(
          bracket(ctx.xOf(source) - 16, open.start, rows.end, 'CP aborted: power lost', source, null, true),
        );
        open = null;
      } else if (open && !n.cpInProgress) {
        out.push(
          bracket(
            ctx.xOf(source) - 16,
            open.start,
            rows.end,
            `CP ${open.cp ?? n.primaryCp}`,
            source,
            open.cp ?? n.primaryCp,
            false,
          ),
        );
        open = null;
      }
      if (n.mirrorCp > p.mirrorCp && n.relationship !== 'failed-over' && o.observation.destinationUp) {
        const start = lastCpSyncRow?.row ?? rows.start;
        const label = `${source} CP ${n.mirrorCp}${lastCpSyncRow?.resync ? ' (resync)' : ''}`;
        out.push(
          bracket(
            ctx.xOf(DESTINATION) + 16 + si * 14,
            start,
            rows.end,
            label,
            DESTINATION,
            n.mirrorCp,
            false,
            source,
          ),
        );
        lastCpSyncRow = null;
      }
    }
    if (open)
      out.push(
        bracket(ctx.xOf(source) - 16, open.start, ctx.L.rows.length - 1, 'CP (open)', source, open.cp, true),
      );
  }
  return out.join('\n');
}

function bracket(
  x: number,
  fromRow: number,
  toRow: number,
  label: string,
  node: NodeId,
  cp: number | null,
  unfinished: boolean,
  source?: NodeId,
): string {
  const top = y(fromRow) - 7;
  const bottom = y(toRow) + 7;
  const left = node !== DESTINATION;
  const h = left ? 5 : -5;
  return [
    `<g class="cp${unfinished ? ' unfinished' : ''}" data-node="${esc(node)}"${source ? ` data-source="${esc(source)}"` : ''} data-cp="${cp ?? ''}">`,
    `<path d="M${x + h},${top} h${-h} V${bottom} h${h}" class="cp-bracket"/>`,
    // Along the bracket, reading downwards, outside it: clear of the labels beside the lifelines.
    `<text x="${x + (left ? -12 : 4)}" y="${top}" transform="rotate(90 ${x + (left ? -12 : 4)} ${top})" class="cp-text">${esc(label)}</text>`,
    '</g>',
  ].join('');
}

export function esc(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
