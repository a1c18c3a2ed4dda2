// The HTML reports as files, for the command line: `cpsync report FILE [-o OUT]`, `cpsync replay FILE
// --html OUT` and `cpsync check --html OUT`. A counterexample is replayed (deterministically) and
// recorded to be drawn; a campaign's report takes the statechart picture from reports/statechart.svg.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Counterexample } from '../harness/campaign.ts';
import type { CampaignCoverage } from '../harness/campaign_coverage.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import { type RunRecord, recordCounterexample } from '../harness/run_record.ts';
import type { ConformanceTarget } from '../harness/target.ts';
import { type CampaignSummary, campaignHtml, counterexampleHtml } from './html_report.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const STATECHART_SVG = join(ROOT, 'reports', 'statechart.svg');

/** A report that cannot be written where the user asked: one line, exit 2. */
export class ReportError extends Error {
  override readonly name = 'ReportError';
}

/** The report's default path: the counterexample's own, `.html` for `.json`. */
export function defaultReportPath(counterexampleFile: string): string {
  return `${counterexampleFile.replace(/\.json$/i, '')}.html`;
}

/**
 * Replays `cx` as `cpsync replay` does (the model in lockstep when it was in the run that found it,
 * unless `model` is false) and records it for the report.
 */
export function recordForReport(target: ConformanceTarget, cx: Counterexample, model: boolean): RunRecord {
  return recordCounterexample(target, cx, model && cx.lockstep !== false ? modelCheckers() : []);
}

export function writeCounterexampleReport(
  out: string,
  cx: Counterexample,
  record: RunRecord,
  file: string,
): void {
  writeReport(out, counterexampleHtml({ cx, record, file }));
}

export interface CampaignReportFiles {
  readonly summary: CampaignSummary;
  readonly goals: readonly string[];
  readonly coverage?: CampaignCoverage;
  /** The counterexample the campaign found, replayed and recorded, and where it was saved. */
  readonly failure?: { readonly cx: Counterexample; readonly record: RunRecord; readonly file: string };
}

export function writeCampaignReport(out: string, c: CampaignReportFiles): void {
  const statechartSvg = existsSync(STATECHART_SVG) ? readFileSync(STATECHART_SVG, 'utf8') : undefined;
  writeReport(
    out,
    campaignHtml({
      summary: c.summary,
      goals: c.goals,
      ...(c.coverage ? { coverage: c.coverage } : {}),
      ...(statechartSvg ? { statechartSvg } : {}),
      ...(c.failure ? { failure: c.failure } : {}),
    }),
  );
}

/** Into an existing directory: a report is one file, and a mistyped path should say so, not make folders. */
function writeReport(out: string, html: string): void {
  try {
    writeFileSync(out, html);
  } catch (e) {
    throw new ReportError(`cannot write the report to ${out}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
