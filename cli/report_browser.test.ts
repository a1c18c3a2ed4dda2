// End to end in a real browser: `cpsync report` writes a committed counterexample's report, headless
// Chromium (Debian's `chromium`, driven by playwright-core; never a browser download) opens it from
// disk, and the test checks what is drawn: the lifelines, the messages by kind, the violating step
// highlighted over its own row, nothing fetched from anywhere. The screenshot goes to
// reports/counterexample-report.png (the README shows it).
//
// Without /usr/bin/chromium the test skips and says so (CPSYNC_CHROMIUM names another binary); with CPSYNC_REQUIRE_BROWSER=1 (.ci/run sets
// it, after installing chromium) a missing browser is a failure.

import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from './cli.ts';

/** Debian's chromium; CPSYNC_CHROMIUM names another binary (or a missing one, to see the skip). */
const CHROMIUM = process.env.CPSYNC_CHROMIUM ?? '/usr/bin/chromium';
const present = existsSync(CHROMIUM);
const required = process.env.CPSYNC_REQUIRE_BROWSER === '1';
const CX =
  'reports/counterexamples/canary-failover-without-replay-no-acked-write-lost-after-failover-seed3.json';
const SCREENSHOT = 'reports/counterexample-report.png';

if (!present && !required)
  console.warn(
    `report_browser.test.ts: skipped: no browser at ${CHROMIUM} (apt-get install chromium to run it)`,
  );

describe.runIf(required && !present)('the browser test, required here (CPSYNC_REQUIRE_BROWSER=1)', () => {
  it(`needs a browser at ${CHROMIUM}`, () => {
    throw new Error(`no browser at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium)`);
  });
});

describe.skipIf(!present)(`a counterexample report in headless Chromium (${CHROMIUM})`, () => {
  let browser: Awaited<ReturnType<typeof chromium.launch>>;
  let file: string;

  beforeAll(async () => {
    file = join(mkdtempSync(join(tmpdir(), 'cpsync-browser-')), 'report.html');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const code = await main(['report', CX, '-o', file]);
    log.mockRestore();
    expect(code).toBe(0);
    browser = await chromium.launch({ executablePath: CHROMIUM });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('draws the lifelines, the messages and the highlighted violating step, fetching nothing', async () => {
    const cx = JSON.parse(readFileSync(CX, 'utf8')) as {
      property: string;
      violationStep: number;
      schedule: { config: { preset: { sources?: number } } };
    };
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const url = pathToFileURL(file).href;
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(url);
    expect(requests).toEqual([url]);

    const svg = page.locator('svg.sequence');
    await expect.poll(() => svg.isVisible()).toBe(true);
    const sources = cx.schedule.config.preset.sources ?? 1;
    const lanes = await svg
      .locator('.lifeline')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-node')));
    expect(lanes).toEqual(['clients', ...Array.from({ length: sources }, (_, i) => `src${i}`), 'dst']);
    const titles = await svg.locator('.lane-title').allTextContents();
    expect(titles).toEqual([
      'clients / operator',
      ...lanes.slice(1, -1).map((n) => `${n} (source)`),
      'dst (destination)',
    ]);

    // Messages by kind, as drawn: the replay's trace (printed in the page) says what arrived.
    const trace = ((await page.locator('pre.trace').textContent()) ?? '').split('\n');
    const count = (selector: string) => svg.locator(selector).count();
    const traced = (kind: string) =>
      trace.filter((l) => new RegExp(`^\\d+ deliver \\S+ ${kind} `).test(l)).length;
    expect(await count('.msg[data-kind="log-entry"][data-fate="delivered"]')).toBe(traced('log-entry'));
    expect(await count('.msg[data-kind="log-ack"][data-fate="delivered"]')).toBe(traced('log-ack'));
    expect(traced('log-entry')).toBeGreaterThan(0);
    const arrow = svg.locator('.msg[data-kind="log-entry"] line').first();
    expect(await arrow.getAttribute('marker-end')).toBe('url(#arrow-log-entry)');
    expect((await arrow.boundingBox())!.width).toBeGreaterThan(100);
    expect(await count('.power-cut[data-node="src0"]')).toBe(1);

    // The violating step: its label is red and bold, the band lies over its row, the note says why.
    const step = svg.locator(`.step.violating[data-step="${cx.violationStep}"]`);
    await expect.poll(() => step.count()).toBe(1);
    const label = step.locator('text');
    expect(await label.evaluate((e) => e.ownerDocument.defaultView!.getComputedStyle(e).fill)).toBe(
      'rgb(179, 38, 30)',
    );
    const band = (await svg.locator('.violation-band').boundingBox())!;
    const row = (await label.boundingBox())!;
    expect(band.y).toBeLessThanOrEqual(row.y);
    expect(band.y + band.height).toBeGreaterThanOrEqual(row.y + row.height);
    expect(band.width).toBeGreaterThan(1000);
    const note = svg.locator('.violation');
    expect(await note.getAttribute('data-property')).toBe(cx.property);
    expect(await note.locator('.violation-title').textContent()).toBe(
      `VIOLATED ${cx.property} at step ${cx.violationStep}`,
    );
    const tableRow = page.locator(`table.steps tr.violating[data-step="${cx.violationStep}"]`);
    expect(
      await tableRow.evaluate(
        (e) => e.ownerDocument.defaultView!.getComputedStyle(e.querySelector('td')!).backgroundColor,
      ),
    ).toBe('rgb(253, 226, 223)');
    expect(await page.locator('tr.violation-row').textContent()).toContain(cx.property);

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
    await page.close();
  });
});
