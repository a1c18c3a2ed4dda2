// The HTML report: one static, self-contained file that opens from disk (inline CSS and SVG, no script,
// and a Content-Security-Policy that forbids loading anything). For a counterexample (`cpsync report`,
// `cpsync replay --html`): its sequence diagram, a table of its steps with what the target showed and
// the model's state, and the trace. For a campaign (`cpsync check --html`): the summary, the
// `sometimes` goals, the fault coverage, throughput, the statechart with what was visited marked, and
// the counterexample when one was found. Pure: the command line reads and writes the files.

import type { Counterexample } from '../harness/campaign.ts';
import type { CampaignCoverage } from '../harness/campaign_coverage.ts';
import type { ModelView, RunRecord, StepRecord } from '../harness/run_record.ts';
import { describeAction } from '../harness/schedule.ts';
import type { NodeId, Observation } from '../harness/target.ts';
import type { WorldEvent } from '../harness/world.ts';
import {
  type DiagramMark,
  esc,
  fateOf,
  MESSAGE_CLASSES,
  type MessageFate,
  messageClassOf,
  sequenceDiagram,
} from './sequence_diagram.ts';
import { type ChartMarks, markStatechart } from './statechart_marks.ts';

export interface CounterexampleReport {
  readonly cx: Counterexample;
  /** The counterexample replayed and recorded (harness/run_record.ts). */
  readonly record: RunRecord;
  /** The file it was read from, for the replay command shown. */
  readonly file?: string;
}

/** What `cpsync check` prints as JSON, the fields the report shows. */
export interface CampaignSummary {
  readonly target: string;
  readonly expected: 'pass' | 'fail';
  readonly seed: number;
  readonly runs: number;
  readonly steps: number;
  readonly observedSteps: number;
  readonly ticks: number;
  readonly result: string;
  readonly unreached: readonly string[];
  readonly property: string | null;
  readonly message: string | null;
  readonly counterexample: string | null;
  readonly shrunkSteps: number | null;
  readonly runsToFailure: number | null;
  readonly seconds: number;
  readonly schedulesPerSecond: number;
  readonly stepsPerSecond: number;
  readonly sometimes: Readonly<Record<string, number>>;
  /** False when the campaign stopped at its first failure: its goals were not all given a chance. */
  readonly sometimesJudged?: boolean;
  /** The command that runs the campaign again, as `cpsync check` prints it. */
  readonly reproduce?: string;
  readonly workers?: number;
}

export interface CampaignReport {
  readonly summary: CampaignSummary;
  /** Every `sometimes` goal the campaign counted (reached or not). */
  readonly goals: readonly string[];
  readonly coverage?: CampaignCoverage;
  /** reports/statechart.svg, to be marked with what the model visited. */
  readonly statechartSvg?: string;
  readonly failure?: CounterexampleReport;
}

/** The report of one counterexample, as a whole page. */
export function counterexampleHtml(report: CounterexampleReport): string {
  const { cx } = report;
  return page(`cpsync: ${cx.property} on ${cx.target}`, counterexampleSection(report, 1));
}

/** The report of a campaign, as a whole page. */
export function campaignHtml(report: CampaignReport): string {
  const s = report.summary;
  const parts = [
    `<h1>cpsync campaign: <code>${esc(s.target)}</code> <span class="badge ${badgeClass(s.result)}">${esc(s.result)}</span></h1>`,
    campaignSummary(report),
    sometimesTable(report),
    report.coverage ? faultCoverage(report.coverage) : '',
    report.statechartSvg ? statechartSection(report.statechartSvg, report.coverage) : '',
    report.failure ? counterexampleSection(report.failure, 2) : '',
  ];
  return page(`cpsync campaign: ${s.target} (${s.result})`, parts.join('\n'));
}

function badgeClass(result: string): string {
  return result === 'pass' ? 'pass' : result === 'fail' ? 'fail' : 'incomplete';
}

function page(title: string, body: string): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    // Nothing may be fetched: the file is the whole report.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    body,
    '<footer>Written by cpsync: a static page, nothing loaded from anywhere.</footer>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

// The counterexample.

function counterexampleSection(report: CounterexampleReport, level: 1 | 2): string {
  const { cx, record } = report;
  const v = record.result.violation;
  const reproduces = v !== undefined;
  const mark: DiagramMark | null = v
    ? { step: v.step, property: v.property, message: v.message }
    : cx.violationStep > 0
      ? { step: cx.violationStep, property: cx.property, message: cx.message, recordedOnly: true }
      : null;
  const verdict = !v
    ? `<p class="verdict held">Replayed now, it no longer fails: every property held (the file recorded <code>${esc(cx.property)}</code> at step ${cx.violationStep}).</p>`
    : v.property === cx.property
      ? `<p class="verdict failed">Replayed now, it still fails: <code>${esc(v.property)}</code> at step ${v.step} (${v.phase} phase).</p>`
      : `<p class="verdict failed">Replayed now, it fails another way: <code>${esc(v.property)}</code> at step ${v.step} (the file recorded <code>${esc(cx.property)}</code>).</p>`;
  const h = `h${level}`;
  const sub = `h${level + 1}`;
  return [
    `<section class="counterexample" data-reproduces="${reproduces}">`,
    `<${h}>${level === 2 ? 'Counterexample: ' : ''}<code>${esc(cx.property)}</code> on <code>${esc(cx.target)}</code></${h}>`,
    `<p class="message">${esc(v?.message ?? cx.message)}</p>`,
    verdict,
    facts(report),
    `<${sub}>The run as a sequence diagram</${sub}>`,
    legend(),
    `<div class="scroll">${sequenceDiagram(record, mark)}</div>`,
    `<${sub}>Step by step</${sub}>`,
    `<p class="note">After each action: what the target showed (each source's relationship, its committed CP and the mirror's, a CP in progress, the writes pending) and the model's state in lockstep. ${cx.lockstep === false ? 'This counterexample ran without the model.' : ''}</p>`,
    stepTable(record, mark),
    `<details><summary>The trace (${record.result.trace.length} lines)</summary><pre class="trace">${esc(record.result.trace.join('\n'))}</pre></details>`,
    '</section>',
  ].join('\n');
}

function facts(report: CounterexampleReport): string {
  const { cx, record } = report;
  const config = cx.schedule.config;
  const sources = record.spec.sources.map((s) => `${s.id} (${s.mode}, ${s.lbaCount} LBAs)`).join(', ');
  const rows: [string, string][] = [
    ['target', `<code>${esc(cx.target)}</code>`],
    [
      'world',
      `${esc(sources)}; CP every ${record.spec.cpIntervalTicks} ticks, ack timeout ${record.spec.ackTimeoutTicks} ticks`,
    ],
    ['preset', `<code>${esc(JSON.stringify(config.preset))}</code>`],
    [
      'link faults',
      config.linkFaults
        ? `<code>${esc(JSON.stringify(config.linkFaults))}</code>`
        : 'none (a perfect one-tick link)',
    ],
    [
      'steps',
      `${cx.schedule.actions.length} safety actions, then the liveness phase (${record.steps.length} actions replayed in all)`,
    ],
    ['model in lockstep', cx.lockstep === false ? 'no' : 'yes'],
    [
      'found by',
      `fast-check seed ${cx.seed}, path <code>${esc(cx.path)}</code>; world seed ${cx.schedule.seed}`,
    ],
    ['replay', `<code>cpsync replay ${esc(report.file ?? 'FILE')}</code>`],
  ];
  return `<table class="facts">${rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</table>`;
}

function legend(): string {
  const kinds = MESSAGE_CLASSES.filter((c) => c.cls !== 'opaque').map(
    (c) =>
      `<span class="key"><span class="swatch" style="background:${c.color}"></span>${esc(c.label)}</span>`,
  );
  return [
    '<p class="legend">',
    ...kinds,
    '<span class="key"><span class="swatch dashed-swatch"></span>duplicate copy</span>',
    '<span class="key"><b class="x">✕</b> lost or dropped</span>',
    '<span class="key"><b class="x">≠</b> corrupted</span>',
    '<span class="key"><span class="swatch hatch-swatch"></span>partition</span>',
    '<span class="key"><span class="swatch slow-swatch"></span>slow link</span>',
    '<span class="key"><b>[ ]</b> CP brackets</span>',
    '<span class="key"><b class="bolt-key">⚡</b> power cut</span>',
    '<span class="key"><span class="swatch violation-swatch"></span>violating step</span>',
    '</p>',
  ].join('');
}

function stepTable(record: RunRecord, mark: DiagramMark | null): string {
  const sources = record.spec.sources.map((s) => s.id);
  const head =
    '<tr><th>#</th><th>ticks</th><th>action</th><th>on the wire</th><th>the target showed</th><th>the model</th></tr>';
  const rows: string[] = [];
  let prev: StepRecord | null = null;
  for (const s of record.steps) {
    const violating = mark?.step === s.step;
    const ticks = s.fromTick === s.toTick ? `${s.toTick}` : `${s.fromTick}→${s.toTick}`;
    rows.push(
      `<tr class="${violating ? 'violating' : ''}${s.phase === 'liveness' ? ' liveness' : ''}" data-step="${s.step}">` +
        `<td>${s.step}</td><td>${ticks}</td><td>${esc(describeAction(s.action))}${s.phase === 'liveness' && prev?.phase !== 'liveness' ? '<br><i>liveness phase: every fault healed</i>' : ''}</td>` +
        `<td>${wireSummary(record.events.slice(s.eventsFrom, s.eventsTo))}</td>` +
        `<td>${sources.map((id) => targetLine(id, s.observation, prev?.observation ?? record.initial)).join('<br>')}<br>${s.observation.destinationUp ? 'dst up' : '<b>dst down</b>'}</td>` +
        `<td>${s.models ? sources.map((id) => modelLine(id, s.models![id], prev?.models?.[id])).join('<br>') : '<i>not in lockstep</i>'}</td></tr>`,
    );
    if (violating && mark) {
      const source = /^(\S+): /.exec(mark.message)?.[1];
      const model = source && !mark.recordedOnly ? s.models?.[source] : undefined;
      rows.push(
        `<tr class="violation-row"><td colspan="6"><b>${mark.recordedOnly ? 'recorded, no longer fails here' : 'VIOLATED'} <code>${esc(mark.property)}</code>:</b> ${esc(mark.message)}` +
          (model
            ? `<br>the model, when it found the violation (what it allows from here): <code>${esc(model.text)}</code>`
            : '') +
          '</td></tr>',
      );
    }
    prev = s;
  }
  return `<table class="steps"><thead>${head}</thead><tbody>${rows.join('\n')}</tbody></table>`;
}

function wireSummary(events: readonly WorldEvent[]): string {
  const sent = new Map<string, number>();
  const sends = new Map<number, Extract<WorldEvent, { kind: 'send' }>>();
  let delivered = 0;
  const dropped = new Map<string, number>();
  const answers: string[] = [];
  const power: string[] = [];
  for (const e of events) {
    if (e.kind === 'send') {
      sends.set(e.id, e);
      const label = MESSAGE_CLASSES.find((c) => c.cls === messageClassOf(e))!.label;
      sent.set(label, (sent.get(label) ?? 0) + 1);
    } else if (e.kind === 'deliver') delivered++;
    else if (e.kind === 'drop') {
      const send = sends.get(e.id);
      const fate = send ? fateOf(send, e) : DROP_FATE[e.reason];
      dropped.set(fate, (dropped.get(fate) ?? 0) + 1);
    } else if (e.kind === 'answer')
      answers.push(`id ${e.writeId} ${e.ok ? 'acked' : e.byWorld ? 'unanswered' : 'failed'}`);
    else power.push(`⚡ ${e.node} lost power`);
  }
  const parts: string[] = [];
  if (sent.size > 0) parts.push(`sent ${[...sent].map(([k, n]) => `${n} ${k}`).join(', ')}`);
  if (delivered > 0) parts.push(`${delivered} delivered`);
  if (dropped.size > 0)
    parts.push(`<b>${[...dropped].map(([k, n]) => `${n} ${k.replaceAll('-', ' ')}`).join(', ')}</b>`);
  parts.push(...answers, ...power.map((p) => `<b>${esc(p)}</b>`));
  return parts.length === 0 ? '<i>nothing</i>' : parts.join('; ');
}

/** A drop whose send fell in an earlier step: its fate from the reason alone. */
const DROP_FATE: Record<Extract<WorldEvent, { kind: 'drop' }>['reason'], MessageFate> = {
  loss: 'lost',
  partition: 'cut-by-partition',
  crash: 'dropped-by-crash',
  down: 'receiver-down',
};

function targetLine(id: NodeId, o: Observation, before: Observation): string {
  const n = o.sources[id];
  if (!n) return `${id}: ?`;
  if (!n.up) return `${id}: <b>down</b> (${esc(n.relationship)})`;
  const p = before.sources[id];
  const ch = (same: boolean, text: string) => (same ? text : `<b class="changed">${text}</b>`);
  return [
    `${id}: ${ch(p?.relationship === n.relationship, esc(n.relationship))}`,
    ch(p?.primaryCp === n.primaryCp, `CP ${n.primaryCp}`),
    ch(p?.mirrorCp === n.mirrorCp, `mirror CP ${n.mirrorCp}`),
    ...(n.cpInProgress ? [ch(p?.cpInProgress === true, 'CP in progress')] : []),
    ch(p?.pendingWrites === n.pendingWrites, `${n.pendingWrites} pending`),
  ].join(' · ');
}

function modelLine(id: NodeId, m: ModelView | undefined, before: ModelView | undefined): string {
  if (!m) return `${id}: ?`;
  const c = m.control;
  const ch = (same: boolean, text: string) =>
    same || before === undefined ? text : `<b class="changed">${text}</b>`;
  const b = before?.control;
  return [
    `${id}: ${ch(b?.source === c.source, `source ${esc(c.source)}`)}`,
    ch(b?.destination === c.destination, `dst ${esc(c.destination)}`),
    ch(b?.link === c.link, `link ${esc(c.link)}`),
    ch(b?.relationship === c.relationship, esc(c.relationship)),
    ch(
      before?.primaryCp === m.primaryCp && before?.mirrorCp === m.mirrorCp,
      `CP ${m.primaryCp}/${m.mirrorCp}`,
    ),
    `pending [${esc(m.pending.join(', '))}]`,
  ].join(' · ');
}

// The campaign.

function campaignSummary(report: CampaignReport): string {
  const s = report.summary;
  const rows: [string, string][] = [
    ['target', `<code>${esc(s.target)}</code> (expected to ${esc(s.expected)})`],
    [
      'result',
      s.result === 'fail'
        ? `<b>fail</b>: <code>${esc(s.property ?? '')}</code>: ${esc(s.message ?? '')}`
        : esc(s.result),
    ],
    ['seed', `${s.seed}`],
    [
      'schedules',
      `${s.runs}${s.runsToFailure !== null ? ` (the first failure after ${s.runsToFailure})` : ''}`,
    ],
    ['actions', `${s.steps} (${s.observedSteps} lockstep steps, ${s.ticks} ticks)`],
    [
      'throughput',
      `${s.seconds} s: ${s.schedulesPerSecond} schedules/s, ${s.stepsPerSecond} lockstep steps/s${s.workers ? ` on ${s.workers} worker${s.workers === 1 ? '' : 's'}` : ''}`,
    ],
    [
      'reproduce',
      `<code>${esc(s.reproduce ?? `cpsync check --target ${s.target} --seed ${s.seed} --runs ${s.runs}`)}</code>`,
    ],
  ];
  if (s.counterexample)
    rows.push([
      'counterexample',
      `<code>${esc(s.counterexample)}</code> (shrunk to ${s.shrunkSteps} actions)`,
    ]);
  return `<table class="facts summary">${rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</table>`;
}

function sometimesTable(report: CampaignReport): string {
  const s = report.summary;
  const reached = report.goals.filter((g) => (s.sometimes[g] ?? 0) > 0).length;
  const judged = s.sometimesJudged !== false;
  const rows = report.goals.map((g) => {
    const n = s.sometimes[g] ?? 0;
    const cls = n > 0 ? 'reached' : judged ? 'unreached' : 'unjudged';
    return `<tr class="${cls}" data-goal="${esc(g)}"><td><code>${esc(g)}</code></td><td>${n > 0 ? '✓' : judged ? '✗ never' : 'not by then'}</td><td class="num">${n}</td></tr>`;
  });
  return [
    `<h2>sometimes goals: ${reached} of ${report.goals.length} reached${judged ? '' : ' (not judged: the campaign stopped at its first failure)'}</h2>`,
    '<p class="note">Each shows that a precondition of some <code>always</code> property was really reached, so that the property did not hold vacuously; the count is of schedules that reached it.</p>',
    `<table class="goals"><thead><tr><th>goal</th><th>reached</th><th>schedules</th></tr></thead><tbody>${rows.join('')}</tbody></table>`,
  ].join('\n');
}

const NETWORK_LABELS: Record<keyof CampaignCoverage['network'], string> = {
  sent: 'messages sent',
  delivered: 'delivered',
  lost: 'lost on the link',
  duplicated: 'duplicated',
  reordered: 'reordered',
  droppedByPartition: 'dropped by a partition',
  droppedByCrash: 'dropped by a crash',
};

function faultCoverage(c: CampaignCoverage): string {
  const actions = Object.entries(c.actions).map(
    ([k, n]) => `<tr data-action="${esc(k)}"><td>${esc(k)}</td><td class="num">${n}</td></tr>`,
  );
  const network = (Object.keys(NETWORK_LABELS) as (keyof typeof NETWORK_LABELS)[]).map(
    (k) => `<tr data-network="${k}"><td>${NETWORK_LABELS[k]}</td><td class="num">${c.network[k]}</td></tr>`,
  );
  return [
    '<h2>Fault coverage</h2>',
    '<div class="columns">',
    `<table class="coverage"><thead><tr><th>actions run, by kind (ticks one by one)</th><th>count</th></tr></thead><tbody>${actions.join('')}</tbody></table>`,
    `<table class="coverage"><thead><tr><th>the network</th><th>count</th></tr></thead><tbody>${network.join('')}</tbody></table>`,
    '</div>',
  ].join('\n');
}

function statechartSection(svg: string, coverage: CampaignCoverage | undefined): string {
  if (!coverage || coverage.states.length === 0)
    return [
      '<h2>The statechart</h2>',
      '<p class="note">The model did not run in lockstep (<code>--no-model</code>): nothing is marked.</p>',
      `<div class="scroll chart">${svg.replace(/^[\s\S]*?(<svg\b)/, '$1')}</div>`,
    ].join('\n');
  const marks: ChartMarks = markStatechart(svg, new Set(coverage.states), new Set(coverage.transitions));
  const list = (ids: readonly string[]) =>
    ids.length === 0 ? 'none' : ids.map((id) => `<code>${esc(id)}</code>`).join(', ');
  return [
    `<h2>The statechart: ${marks.states.visited} of ${marks.states.total} states and ${marks.transitions.visited} of ${marks.transitions.total} transitions visited</h2>`,
    '<p class="note">States the model in lockstep was in are filled green, arrows it took drawn green; grey ones the campaign never reached. Transitions that change no state are listed in their state\'s box and counted here.</p>',
    `<p class="note">Never visited: states ${list(marks.states.unvisited)}; transitions ${list(marks.transitions.unvisited)}.</p>`,
    `<div class="scroll chart">${marks.svg}</div>`,
  ].join('\n');
}

const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px; color: #1d1d1f; background: #fff; }
h1 { font-size: 22px; margin: 0 0 8px; } h2 { font-size: 18px; margin: 28px 0 8px; } h3 { font-size: 16px; margin: 22px 0 6px; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f3f3f5; padding: 0 3px; border-radius: 3px; }
.message { font: 13px ui-monospace, Menlo, Consolas, monospace; background: #fff3f2; border-left: 4px solid #c0392b; padding: 8px 12px; margin: 8px 0; white-space: pre-wrap; }
.verdict.failed { color: #a1281b; } .verdict.held { color: #1b7f2a; }
.badge { font-size: 13px; padding: 2px 8px; border-radius: 10px; vertical-align: middle; color: #fff; }
.badge.pass { background: #1b7f2a; } .badge.fail { background: #c0392b; } .badge.incomplete { background: #b7791f; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { text-align: left; vertical-align: top; padding: 4px 10px; border-bottom: 1px solid #e5e5ea; }
table.facts th { color: #555; font-weight: 600; white-space: nowrap; }
table.steps { font-size: 12.5px; } table.steps td:nth-child(5), table.steps td:nth-child(6) { font: 11.5px ui-monospace, Menlo, Consolas, monospace; }
table.steps tr.liveness td { background: #fafafa; }
table.steps tr.violating td { background: #fde2df; }
tr.violation-row td { background: #fff3f2; border-left: 4px solid #c0392b; font-size: 13px; }
b.changed { color: #0b5cad; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.unreached td { color: #a1281b; font-weight: 600; }
.note { color: #555; font-size: 13px; max-width: 70em; }
.scroll { overflow-x: auto; border: 1px solid #e5e5ea; border-radius: 6px; padding: 4px; }
.columns { display: flex; gap: 32px; flex-wrap: wrap; align-items: flex-start; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; font-size: 12.5px; margin: 6px 0; }
.key { display: inline-flex; align-items: center; gap: 5px; }
.swatch { display: inline-block; width: 22px; height: 4px; border-radius: 2px; }
.dashed-swatch { background: repeating-linear-gradient(90deg, #555 0 5px, transparent 5px 9px); }
.slow-swatch { height: 12px; background: #e8f1fb; border: 1px solid #9dbbe0; }
.hatch-swatch { height: 12px; background: repeating-linear-gradient(45deg, #fdecea 0 4px, #f2b8b0 4px 7px); }
.violation-swatch { height: 12px; background: rgba(231, 76, 60, 0.18); border: 1px solid #c0392b; }
.x { color: #c0392b; } .bolt-key { color: #d35400; }
pre.trace { font-size: 12px; background: #f7f7f9; padding: 10px; max-height: 480px; overflow: auto; }
footer { margin-top: 32px; color: #888; font-size: 12px; }
svg.sequence text { font: 11px ui-monospace, Menlo, Consolas, monospace; }
svg.sequence .col-head { font-weight: 700; fill: #555; }
svg.sequence .lane-head { fill: #eef3fb; stroke: #7a96c2; }
svg.sequence .lane-head.clients { fill: #f4f4f6; stroke: #999; }
svg.sequence .lane-title { font: 600 13px system-ui, sans-serif; text-anchor: middle; }
svg.sequence .lane-sub { font-size: 10px; fill: #666; text-anchor: middle; }
svg.sequence .life { stroke: #9aa5b5; stroke-width: 1.5; }
svg.sequence .life-down { stroke: #fff; stroke-width: 3; stroke-dasharray: 4 4; }
svg.sequence .tick { fill: #777; } svg.sequence .tick-rule { stroke: #eee; }
svg.sequence .step text { fill: #222; } svg.sequence .step.liveness text { font-style: italic; fill: #555; }
svg.sequence .step.violating text { fill: #b3261e; font-weight: 700; }
svg.sequence .step-bracket { fill: none; stroke: #bbb; }
svg.sequence .phase-line { stroke: #888; stroke-dasharray: 6 4; } svg.sequence .phase-text { fill: #555; font-style: italic; }
svg.sequence .action-line { stroke: #222; stroke-width: 1.3; } svg.sequence .action-line.fault { stroke-dasharray: 2 3; }
svg.sequence .msg-line { stroke-width: 1.6; } svg.sequence .dashed { stroke-dasharray: 5 4; }
svg.sequence .cross { fill: #c0392b; font-size: 14px; font-weight: 700; }
svg.sequence .fate { fill: #c0392b; font-size: 10px; }
svg.sequence .answer-line { stroke-width: 1.3; } svg.sequence .answer.ok .answer-line { stroke: #1b7f2a; }
svg.sequence .answer.failed .answer-line { stroke: #c0392b; } svg.sequence .answer.failed .answer-text { fill: #c0392b; }
svg.sequence .answer.ok .answer-text { fill: #1b7f2a; }
svg.sequence .bolt { fill: #f39c12; stroke: #d35400; } svg.sequence .power-text { fill: #d35400; font-weight: 700; }
svg.sequence .partition-band { opacity: 0.9; } svg.sequence .partition-text { fill: #b3261e; text-anchor: middle; font-size: 10px; }
svg.sequence .slow-band { fill: #e8f1fb; } svg.sequence .slow-text { fill: #1f5fa8; text-anchor: middle; font-size: 10px; }
svg.sequence .cp-bracket { fill: none; stroke: #6d4c9f; stroke-width: 2; }
svg.sequence .cp.unfinished .cp-bracket { stroke-dasharray: 3 3; }
svg.sequence .cp-text { fill: #6d4c9f; font-size: 10px; font-weight: 700; }
svg.sequence .violation-band { fill: rgba(231, 76, 60, 0.13); stroke: #c0392b; stroke-width: 1; }
svg.sequence .violation-box { fill: #fff3f2; stroke: #c0392b; stroke-width: 1.5; }
svg.sequence .violation-link { stroke: #c0392b; stroke-dasharray: 3 3; }
svg.sequence .violation-title { fill: #b3261e; font-weight: 700; font-size: 12px; }
svg.sequence .violation-message { fill: #222; }
.chart svg { max-width: 100%; height: auto; }
.chart .node.visited path, .chart .node.visited polygon, .chart .node.visited ellipse { fill: #d9f2dc; stroke: #1b7f2a; stroke-width: 2; }
.chart .node.unvisited, .chart .edge.unvisited { opacity: 0.4; }
.chart .cluster.visited > path, .chart .cluster.visited > polygon { stroke: #1b7f2a; stroke-width: 2; }
.chart .edge.visited path { stroke: #1b7f2a; stroke-width: 2; } .chart .edge.visited polygon { fill: #1b7f2a; stroke: #1b7f2a; }
`;
