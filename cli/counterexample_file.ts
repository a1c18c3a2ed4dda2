// Where `cpsync check` saves a counterexample (`--out DIR`), and what it does when it cannot: the
// folder is checked before the campaign runs, and a write that still fails never hangs and never loses
// the finding (it goes to a fresh folder under the system's temporary directory instead, and says so).

import { accessSync, constants, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Counterexample } from '../harness/campaign.ts';
import { UsageError } from './usage_error.ts';

/** Ancestors of `dir` that do not exist yet, nearest first, and the nearest one that does. */
function missingAncestors(dir: string): { missing: string[]; existing: string } {
  const missing: string[] = [];
  let d = resolve(dir);
  for (;;) {
    try {
      statSync(d);
      return { missing, existing: d };
    } catch (e) {
      // ENOTDIR: a file stands where a folder should; the walk up finds it and says so.
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
      missing.push(d);
      const parent = dirname(d);
      if (parent === d) return { missing, existing: d };
      d = parent;
    }
  }
}

/** Throws a UsageError unless counterexamples can be written under `dir` (creating nothing). */
export function checkOutDir(dir: string): void {
  try {
    const { existing } = missingAncestors(dir);
    if (!statSync(existing).isDirectory())
      throw new UsageError(
        `--out ${dir}: ${existing} is not a directory, so no counterexample could be saved`,
      );
    accessSync(existing, constants.W_OK);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`--out ${dir}: counterexamples cannot be written there (${reason(e)})`);
  }
}

/**
 * Creates `dir` one level at a time. (Node's recursive mkdirSync can loop forever where a parent
 * refuses new entries with ENOENT, as /proc does.)
 */
function makeDirectory(dir: string): void {
  const { missing } = missingAncestors(dir);
  for (const d of missing.reverse()) mkdirSync(d);
}

export interface Saved {
  /** Where it was saved; null when nowhere could be written (the caller prints it whole instead). */
  readonly file: string | null;
  /** Set when `dir` could not be written: what went wrong, and where the file went instead. */
  readonly problem?: string;
}

export function saveCounterexample(cx: Counterexample, dir: string, targetName: string): Saved {
  const safe = targetName.replace(/[^\w.-]+/g, '_');
  const base = `${safe}-${cx.property}-seed${cx.seed}.json`;
  const text = `${JSON.stringify(cx, null, 2)}\n`;
  const file = join(dir, base);
  try {
    makeDirectory(dir);
    writeFileSync(file, text);
    return { file };
  } catch (e) {
    const why = `cannot write the counterexample to ${dir} (${reason(e)})`;
    try {
      const fallback = join(mkdtempSync(join(tmpdir(), 'cpsync-')), base);
      writeFileSync(fallback, text);
      return { file: fallback, problem: `${why}; saved it as ${fallback} instead` };
    } catch (e2) {
      return { file: null, problem: `${why}, nor to ${tmpdir()} (${reason(e2)}); it is printed whole above` };
    }
  }
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
