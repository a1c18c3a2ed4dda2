// The HTML report's content, checked against what the trace says independently: the lifelines, the
// messages by kind and by fate, the power cut and its media write, partitions, CP brackets, the
// violating step; a recording changes nothing of the run; the statechart marks find every state and
// arrow of the committed picture; a campaign's page; and `cpsync report` on the command line.

import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { type Counterexample, replayCounterexample, runCampaign } from '../harness/campaign.ts';
import { CoverageCollector } from '../harness/campaign_coverage.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import { recordCounterexample } from '../harness/run_record.ts';
import { loadTarget } from '../harness/targets.ts';
import type { WorldAction } from '../harness/world.ts';
import { chartStates, chartTransitions, ROOT_ID } from '../model/inventory.ts';
import { SOMETIMES } from '../properties/properties.ts';
import { main } from './cli.ts';
import { campaignHtml, counterexampleHtml } from './html_report.ts';
import { STATECHART_SVG } from './report_files.ts';
import { markStatechart } from './statechart_marks.ts';

const DIR = 'reports/counterexamples';
const FAILOVER = `${DIR}/canary-failover-without-replay-no-acked-write-lost-after-failover-seed3.json`;
const RESYNC = `${DIR}/reference-mirror-went-back-after-resync-crash.json`;

const readCx = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Counterexample;

async function render(cx: Counterexample, file = 'FILE') {
  const record = recordCounterexample(await loadTarget(cx.target), cx, cx.lockstep ? modelCheckers() : []);
  return { record, html: counterexampleHtml({ cx, record, file }) };
}

/** The `<g>` elements of one class in the page, each with its attributes. */
function groups(html: string, cls: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const m of html.matchAll(/<g class="([^"]*)"([^>]*)>/g)) {
    if (!m[1]!.split(/\s+/).includes(cls)) continue;
    const attrs: Record<string, string> = { class: m[1]! };
    for (const a of m[2]!.matchAll(/ ([\w-]+)="([^"]*)"/g)) attrs[a[1]!] = a[2]!;
    out.push(attrs);
  }
  return out;
}

/** Deliveries in the trace by message kind, as the world logs them (`N deliver a->b [(dup)] kind ...`). */
function deliveredKinds(trace: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of trace) {
    const m = /^\d+ deliver \S+->\S+(?: \(dup\))? (\S+)(.*)$/.exec(line);
    if (!m) continue;
    const kind = /^\d+$/.test(m[1]!)
      ? 'corrupted'
      : m[1] === 'cp-sync' && m[2]!.endsWith(' resync')
        ? 'resync'
        : m[1] === 'hello-reply'
          ? 'hello'
          : m[1]!;
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return counts;
}

function arrivedKinds(html: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const g of groups(html, 'msg')) {
    if (g['data-fate'] !== 'delivered' && g['data-fate'] !== 'corrupted') continue;
    const kind = g['data-fate'] === 'corrupted' ? 'corrupted' : g['data-kind']!;
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return counts;
}

describe('a counterexample report', () => {
  it('draws a lifeline per node, every delivered message by kind, the power cut and the violating step', async () => {
    const cx = readCx(FAILOVER);
    const { record, html } = await render(cx);
    const sources = cx.schedule.config.preset.sources ?? 1;
    const nodes = Array.from({ length: sources }, (_, i) => `src${i}`);
    expect(groups(html, 'lifeline').map((g) => g['data-node'])).toEqual(['clients', ...nodes, 'dst']);
    // The arrows that arrive are exactly the trace's deliveries, kind by kind.
    const delivered = deliveredKinds(record.result.trace);
    expect(delivered.get('log-entry')).toBeGreaterThan(0);
    expect(delivered.get('log-ack')).toBeGreaterThan(0);
    expect(arrivedKinds(html)).toEqual(delivered);
    // Every acknowledgement in the trace is an answer arrow back to the clients.
    const acks = record.result.trace.filter((l) => / {2}ack id=\d+ ok$/.test(l)).length;
    expect(groups(html, 'answer').filter((g) => g.class!.includes('ok'))).toHaveLength(acks);
    // The armed power cut: where it fell, at the media write the trace names.
    const lost = /^\d+ power lost src0 \(media writes (\d+)/.exec(
      record.result.trace.find((l) => l.includes('power lost src0')) ?? '',
    );
    expect(lost).not.toBeNull();
    expect(groups(html, 'power-cut')).toEqual([
      expect.objectContaining({ 'data-node': 'src0', 'data-media-write': lost![1], 'data-torn': 'false' }),
    ]);
    // The violating step, in the diagram and in the table, with the property's message.
    const v = record.result.violation!;
    expect(v).toMatchObject({ property: cx.property, step: cx.violationStep });
    expect(groups(html, 'violation')).toEqual([
      expect.objectContaining({ 'data-step': String(v.step), 'data-property': cx.property }),
    ]);
    expect(groups(html, 'step').filter((g) => g.class!.includes('violating'))).toEqual([
      expect.objectContaining({ 'data-step': String(v.step) }),
    ]);
    expect(html).toContain(`<tr class="violating" data-step="${v.step}">`);
    expect(html).toContain(
      v.message.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;'),
    );
    // The failover is the operator's arrow to the destination, at the violating step.
    expect(groups(html, 'action').find((g) => g['data-kind'] === 'failover')).toMatchObject({
      'data-node': 'dst',
      'data-step': String(v.step),
    });
  });

  it('shades partitions, marks messages they cut, and brackets the CPs the mirror committed', async () => {
    const cx = readCx(RESYNC);
    const { record, html } = await render(cx);
    const partitions = record.result.trace.filter((l) => /^\d+ partition src0-dst$/.test(l)).length;
    expect(partitions).toBeGreaterThan(0);
    expect(groups(html, 'partition')).toHaveLength(partitions);
    expect(groups(html, 'msg').filter((g) => g['data-fate'] === 'cut-by-partition').length).toBeGreaterThan(
      0,
    );
    expect(arrivedKinds(html)).toEqual(deliveredKinds(record.result.trace));
    expect(arrivedKinds(html).get('resync')).toBeGreaterThan(0);
    // A bracket on the destination for each CP its mirror committed: every CP it confirmed is one,
    // and each is the CP of a CP sync the trace shows delivered to it.
    const cpsIn = (pattern: RegExp) =>
      new Set(record.result.trace.flatMap((l) => (pattern.exec(l) ? [Number(/ cp=(\d+)/.exec(l)![1])] : [])));
    const synced = cpsIn(/^\d+ deliver src0->dst cp-sync /);
    const confirmed = cpsIn(/^\d+ deliver dst->src0 cp-confirm /);
    const dstCps = new Set(
      groups(html, 'cp')
        .filter((g) => g['data-node'] === 'dst')
        .map((g) => Number(g['data-cp'])),
    );
    expect(confirmed.size).toBeGreaterThan(0);
    for (const cp of confirmed) expect(dstCps).toContain(cp);
    for (const cp of dstCps) expect(synced).toContain(cp);
    // And the source's brackets name CPs its root committed.
    const srcCps = groups(html, 'cp').filter((g) => g['data-node'] === 'src0' && g['data-cp'] !== '');
    expect(srcCps.length).toBeGreaterThan(0);
  });

  it('marks lost, duplicated and corrupted messages (aimed message faults on the reference)', async () => {
    const actions: WorldAction[] = [
      { kind: 'message-fault', from: 'src0', to: 'dst', fault: { kind: 'corrupt', byte: 20 } },
      { kind: 'write', source: 'src0', lba: 1 },
      { kind: 'tick', ticks: 3 },
      { kind: 'message-fault', from: 'dst', to: 'src0', fault: { kind: 'duplicate' } },
      { kind: 'message-fault', from: 'src0', to: 'dst', fault: { kind: 'lose' } },
      { kind: 'write', source: 'src0', lba: 2 },
      { kind: 'write', source: 'src0', lba: 3 },
      { kind: 'tick', ticks: 12 },
    ];
    const schedule = {
      config: { preset: { sources: 1, mode: 'sync' as const } },
      seed: 11,
      actions,
      livenessTicks: 50,
    };
    const record = recordCounterexample(await loadTarget('reference'), { schedule }, modelCheckers());
    expect(record.result.executed.slice(0, actions.length)).toEqual(actions);
    const cx = { ...readCx(FAILOVER), schedule, property: 'none', message: 'a picture of message faults' };
    const html = counterexampleHtml({ cx, record });
    const msgs = groups(html, 'msg');
    const fates = (f: string) => msgs.filter((g) => g['data-fate'] === f);
    expect(fates('corrupted')).toEqual([
      expect.objectContaining({ 'data-kind': 'log-entry', 'data-from': 'src0' }),
    ]);
    expect(fates('lost')).toEqual([expect.objectContaining({ 'data-kind': 'log-entry' })]);
    expect(msgs.filter((g) => g.class!.includes('dup'))).toHaveLength(
      record.result.trace.filter((l) => l.includes(' (dup) ')).length,
    );
    expect(msgs.filter((g) => g.class!.includes('dup')).length).toBeGreaterThan(0);
    expect(arrivedKinds(html)).toEqual(deliveredKinds(record.result.trace));
  });

  it('records without changing the run: the same trace and verdict as a replay, for every committed file', async () => {
    for (const name of readdirSync(DIR).filter((f) => f.endsWith('.json'))) {
      const cx = readCx(join(DIR, name));
      const target = await loadTarget(cx.target);
      const checkers = () => (cx.lockstep ? modelCheckers() : []);
      const plain = replayCounterexample(target, cx, checkers());
      const record = recordCounterexample(target, cx, checkers());
      expect(record.result.trace, name).toEqual(plain.trace);
      expect(record.result.violation, name).toEqual(plain.violation);
      // One step record per action replayed, and every event belongs to exactly one of them.
      expect(
        record.steps.map((s) => s.step),
        name,
      ).toEqual(plain.executed.map((_, i) => i + 1));
      expect(record.steps.at(-1)?.eventsTo, name).toBe(record.events.length);
      const ids = record.events.filter((e) => e.kind === 'send').map((e) => e.id);
      expect(new Set(ids).size, name).toBe(ids.length);
    }
  });
});

describe('the statechart marks', () => {
  it('find every state and every arrow of the committed picture', () => {
    const svg = readFileSync(STATECHART_SVG, 'utf8');
    const states = chartStates().filter((s) => s.id !== ROOT_ID);
    const transitions = chartTransitions();
    const all = markStatechart(svg, new Set(states.map((s) => s.id)), new Set(transitions.map((t) => t.id)));
    expect(all.states).toMatchObject({ visited: states.length, total: states.length, unvisited: [] });
    for (const s of states) expect(all.svg, s.id).toContain(`data-state="${s.id}"`);
    const drawn = new Set(
      [...all.svg.matchAll(/data-transitions="([^"]*)"/g)].flatMap((m) => m[1]!.split(' ')),
    );
    for (const t of transitions.filter((t) => t.targets.length > 0)) expect(drawn, t.id).toContain(t.id);
    expect(all.svg).not.toContain('class="node unvisited"');
    const none = markStatechart(svg, new Set(), new Set());
    expect(none.states.visited).toBe(0);
    expect(none.svg).not.toContain('class="node visited"');
    expect(none.svg).not.toContain('class="edge visited"');
  });
});

describe('a campaign report', () => {
  it('shows the summary, every sometimes goal, what was covered and the statechart marked', async () => {
    const coverage = new CoverageCollector();
    const result = runCampaign(await loadTarget('reference'), {
      runs: 12,
      seed: 3,
      maxSteps: 40,
      swarm: true,
      version: 'test',
      checkers: () => [...modelCheckers(coverage.onModelEvents), coverage.watcher()],
    });
    const c = coverage.result();
    expect(c.actions.write).toBeGreaterThan(0);
    expect(c.network.sent).toBeGreaterThan(0);
    expect(c.states).toContain('link.connected');
    if ((c.actions.partition ?? 0) > 0) expect(c.states).toContain('link.partitioned');
    if ((c.actions.crash ?? 0) + (c.actions['crash-mid-work'] ?? 0) > 0)
      expect(c.transitions.some((t) => t.includes(':CRASH_'))).toBe(true);
    const goals = SOMETIMES.map((p) => p.name);
    const sometimes = Object.fromEntries(result.sometimes);
    const unreached = goals.filter((g) => !sometimes[g]);
    const html = campaignHtml({
      summary: {
        target: 'reference',
        expected: 'pass',
        seed: 3,
        runs: result.runs,
        steps: result.steps,
        observedSteps: result.observedSteps,
        ticks: result.ticks,
        result: unreached.length > 0 ? 'incomplete' : 'pass',
        unreached,
        property: null,
        message: null,
        counterexample: null,
        shrunkSteps: null,
        runsToFailure: null,
        seconds: 1,
        schedulesPerSecond: 12,
        stepsPerSecond: 100,
        sometimes,
      },
      goals,
      coverage: c,
      statechartSvg: readFileSync(STATECHART_SVG, 'utf8'),
    });
    expect(html.match(/<tr class="(un)?reached" data-goal=/g)).toHaveLength(goals.length);
    expect(html.match(/<tr class="unreached" data-goal=/g) ?? []).toHaveLength(unreached.length);
    expect(html).toContain(`sometimes goals: ${goals.length - unreached.length} of ${goals.length} reached`);
    expect(html).toContain(
      `<tr data-action="write"><td>write</td><td class="num">${c.actions.write}</td></tr>`,
    );
    const visited = new Set(c.states);
    const total = chartStates().filter((s) => s.id !== ROOT_ID).length;
    const shown = chartStates().filter((s) => s.id !== ROOT_ID && visited.has(s.id)).length;
    expect(html).toContain(`The statechart: ${shown} of ${total} states`);
    expect(html.match(/class="node visited" data-state=/g)?.length).toBeGreaterThan(0);
    expect(html).toContain("default-src 'none'");
  });
});

describe('cpsync report', () => {
  let out: MockInstance;
  let err: MockInstance;
  beforeEach(() => {
    out = vi.spyOn(console, 'log').mockImplementation(() => {});
    err = vi.spyOn(console, 'error').mockImplementation(() => {});
  });
  afterEach(() => vi.restoreAllMocks());
  const printed = (m: MockInstance) => m.mock.calls.map((c) => c.join(' ')).join('\n');

  it('writes the report of a counterexample, and replay --html writes the same one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpsync-report-'));
    const file = join(dir, 'failover.html');
    expect(await main(['report', FAILOVER, '-o', file])).toBe(0);
    const cx = readCx(FAILOVER);
    expect(printed(out)).toBe(`report: ${file} (${cx.property} at step ${cx.violationStep})`);
    const html = readFileSync(file, 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<svg xmlns="http://www.w3.org/2000/svg" class="sequence"');
    expect(html).not.toMatch(/<script|<link |src="http|href="http/);
    const again = join(dir, 'replayed.html');
    expect(await main(['replay', FAILOVER, '--html', again, '--json'])).toBe(1);
    expect(readFileSync(again, 'utf8')).toBe(html);
  });

  it('refuses a missing file, a file that is not a counterexample and a folder that is not there (exit 2, one line)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpsync-report-'));
    expect(await main(['report', join(dir, 'missing.json')])).toBe(2);
    expect(await main(['report', 'package.json', '-o', join(dir, 'x.html')])).toBe(2);
    expect(await main(['report', FAILOVER, '-o', join(dir, 'no-such-folder', 'x.html')])).toBe(2);
    const lines = err.mock.calls.map((c) => String(c[0]));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^cpsync: cannot read .*missing\.json/);
    expect(lines[1]).toMatch(/^cpsync: package\.json .*counterexample/);
    expect(lines[2]).toMatch(/^cpsync: cannot write the report to .*no-such-folder/);
    for (const l of lines) expect(l).not.toContain('\n');
    expect(existsSync(join(dir, 'x.html'))).toBe(false);
  });
});
