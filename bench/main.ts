// `npm run bench`: prints the storage stack's figures from one run; `--json` prints them as one object.
// Wall-clock timing lives here and only here: tests never assert speed.

import { measureCheckingCost } from './checking_cost_bench.ts';
import { measureFaultCoverage } from './coverage_bench.ts';
import { measureCp } from './cp_bench.ts';
import { measureCanaries, measureThroughput } from './harness_bench.ts';
import { measureModel } from './model_bench.ts';
import { measureProtocol } from './protocol_bench.ts';
import { type EncodeFigures, measureParity } from './raid_bench.ts';
import { measureScaling, type ScalingRow } from './scaling_bench.ts';

interface Figures {
  parity: ReturnType<typeof measureParity>;
  cp: ReturnType<typeof measureCp>;
  model: ReturnType<typeof measureModel>;
  harness: ReturnType<typeof measureThroughput>[];
  protocol: Awaited<ReturnType<typeof measureProtocol>>;
  checking: ReturnType<typeof measureCheckingCost>;
  canaries: ReturnType<typeof measureCanaries>;
  coverage: ReturnType<typeof measureFaultCoverage>;
  scaling: ScalingRow[];
}

async function run(): Promise<Figures> {
  return {
    parity: measureParity(),
    cp: measureCp(),
    model: measureModel(),
    harness: [measureThroughput(false), measureThroughput(true)],
    protocol: await measureProtocol(),
    checking: measureCheckingCost(),
    canaries: measureCanaries(),
    coverage: measureFaultCoverage(),
    scaling: await measureScaling(),
  };
}

function print(f: Figures): void {
  const gb = (x: number): string => `${x.toFixed(2)} GB/s`;
  // Noise on a shared machine can put parity above the copy it is measured against: say so plainly.
  // Against the engine's native copy of the same bytes (TypedArray.set), measured in the same run.
  const ratio = (x: number): string => {
    const r = f.parity.memcpyNativeGBps / x;
    return r >= 1
      ? `${r.toFixed(2)}x a native copy's time`
      : `${(1 / r).toFixed(2)}x faster than the copy (noise)`;
  };
  console.log(
    `parity (GB of data protected per second, 4 KiB blocks, full stripes; ${f.parity.wasm ? 'wasm SIMD kernels' : 'no wasm SIMD here: the wasm rows ran the JS fallback'})`,
  );
  const ways: [keyof EncodeFigures, string][] = [
    ['wasmInPlaceGBps', "wasm, in place   (every block in the kernels' arena: encodeInto)"],
    [
      'wasmRaidGBps',
      'wasm, RAID layer (as it calls the kernels: heap data staged, parity into arena blocks)',
    ],
    ['wasmGBps', 'wasm, encode     (heap blocks staged, a new block per parity)'],
    ['jsGBps', 'JS loop, encode  (the word loops: the fallback, a new block per parity)'],
    ['jsInPlaceGBps', 'JS loop, in place (the word loops into preallocated parity blocks)'],
  ];
  for (const [level, figures] of [
    ['RAID-4 ', f.parity.raid4],
    ['RAID-DP', f.parity.raidDp],
  ] as const)
    for (const [key, what] of ways)
      console.log(`  ${level}  ${gb(figures[key]).padStart(10)}   ${ratio(figures[key]).padEnd(30)} ${what}`);
  console.log(
    `  native copy ${gb(f.parity.memcpyNativeGBps)}   (TypedArray.set of the same bytes: the reference, mean of before and after)`,
  );
  console.log(
    `  word loop   ${gb(f.parity.memcpyGBps)}   (a copy by the same word loop the JS kernels walk)`,
  );
  console.log('consistency points (4 KiB blocks through volume and RAID)');
  console.log(`  ${f.cp.level}: ${Math.round(f.cp.blocksPerSecond).toLocaleString('en-US')} blocks/s`);
  const us = (x: number): string => `${x.toFixed(2)} µs`;
  console.log('the model, per event (one CP round of an in-sync relationship)');
  console.log(`  xstate actor.send      ${us(f.model.sendMicros)}`);
  console.log(`  xstate transition()    ${us(f.model.transitionMicros)}`);
  console.log(`  lockstep step          ${us(f.model.lockstepMicros)}   (can + pure step + abstract data)`);
  console.log(
    'conformance harness against the reference target (one core, swarm schedules of up to 60 actions)',
  );
  for (const h of f.harness)
    console.log(
      `  ${h.model ? 'model in lockstep   ' : 'properties only     '} ${h.schedulesPerSecond.toFixed(1)} schedules/s, ${Math.round(h.stepsPerSecond).toLocaleString('en-US')} lockstep steps/s, ${Math.round(h.actionsPerSecond).toLocaleString('en-US')} actions/s`,
    );
  const p = f.protocol;
  console.log(
    `the reference through the process-target protocol (cpsync serve-target, a process per node; the same ${p.runs} swarm schedules, model in lockstep, back to back)`,
  );
  console.log(
    `  in process          ${Math.round(p.inProcessStepsPerSecond).toLocaleString('en-US')} lockstep steps/s`,
  );
  console.log(
    `  through the protocol ${Math.round(p.protocolStepsPerSecond).toLocaleString('en-US')} lockstep steps/s   ${p.ratio.toFixed(2)}x in-process speed (aim: at least 0.20x); ${p.roundTripsPerStep.toFixed(1)} round trips a step, ${p.processesStarted} node processes started`,
  );
  console.log(
    `  the channel alone   ${p.echoRoundTripMicros.toFixed(0)} µs a round trip   (a tick-sized line to \`cat\` and back: what a node that answers at once pays per request)`,
  );
  const k = f.checking;
  const perSecond = (x: number): string => `${Math.round(x).toLocaleString('en-US')} steps/s`;
  console.log(
    `the same ${k.runs} swarm schedules (${k.steps.toLocaleString('en-US')} lockstep steps), one core: fully checked beside the target alone`,
  );
  console.log(
    `  fully checked        ${k.checkedSeconds.toFixed(2)} s  ${perSecond(k.checkedStepsPerSecond)}   (model in lockstep, every property)`,
  );
  console.log(
    `  target alone         ${k.aloneSeconds.toFixed(2)} s  ${perSecond(k.aloneStepsPerSecond)}   (the world steps the same actions; nothing observed)`,
  );
  console.log(`  ratio                ${k.ratio.toFixed(2)}x the target's own time`);
  console.log(
    'canaries, model in lockstep (median over seeds: time and schedules to detection, shrunk length; the shortest failing schedule known, by a bounded search of the shrunk ones, and the ratio)',
  );
  for (const c of f.canaries) {
    const known = `${c.shortestKnown}${c.shortestExhaustive ? '' : ' or fewer'}`;
    console.log(
      `  ${c.target.padEnd(34)} caught ${c.caught}/${c.seeds}  ${Math.round(c.medianMs)} ms  ${c.medianSchedules} schedules  ${c.medianShrunkSteps} actions (shortest known ${known}: ${(c.medianShrunkSteps / c.shortestKnown).toFixed(2)}x)`,
    );
  }
  console.log(
    `fault coverage (${f.coverage.runs} swarm schedules against the reference, seed 1: the share that exercised each class)`,
  );
  const shares = f.coverage.shares.map((c) => `${c.name} ${(100 * c.share).toFixed(0)}%`);
  for (let i = 0; i < shares.length; i += 6) console.log(`  ${shares.slice(i, i + 6).join(', ')}`);
  const rare = f.coverage.shares.filter((c) => c.share < 0.05).map((c) => c.name);
  console.log(`  under 5%: ${rare.length === 0 ? 'none' : rare.join(', ')}`);
  const runs = f.scaling[0]?.runs ?? 0;
  console.log(
    `cpsync check on worker threads (the same ${runs} swarm schedules against the reference, model in lockstep, threads started included)`,
  );
  for (const r of f.scaling)
    console.log(
      `  ${`${r.label} worker${r.workers === 1 ? '' : 's'}`.padEnd(16)} ${r.seconds.toFixed(2)} s  ${r.schedulesPerSecond.toFixed(1)} schedules/s  ${Math.round(r.stepsPerSecond).toLocaleString('en-US')} lockstep steps/s  ${r.speedup.toFixed(2)}x  (CPU ${r.cpuSeconds.toFixed(2)} s: ${(r.cpuSeconds / r.seconds).toFixed(2)} cores busy)`,
    );
  if (new Set(f.scaling.map((r) => r.observedSteps)).size > 1)
    console.log('  (the rows ran different steps: the pool is not deterministic, a bug)');
}

const figures = await run();
if (process.argv.includes('--json')) console.log(JSON.stringify(figures));
else print(figures);
