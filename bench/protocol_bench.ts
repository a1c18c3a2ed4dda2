// Process-target figures for `npm run bench`: the reference run in process and through the protocol
// (`cpsync serve-target reference`, one process per node, docs/process-targets.md), the same swarm
// campaign back to back, so that the ratio compares two runs on one machine under one load.

import { readFileSync } from 'node:fs';
import { runCampaign } from '../harness/campaign.ts';
import { modelCheckers } from '../harness/model_checker.ts';
import { ProcessPump } from '../harness/process_channel.ts';
import { processTarget } from '../harness/process_target.ts';
import { builtInTarget } from '../harness/targets.ts';

export interface ProtocolFigures {
  readonly runs: number;
  /** Lockstep steps per second, in process. */
  readonly inProcessStepsPerSecond: number;
  /** Lockstep steps per second, the same campaign through the protocol. */
  readonly protocolStepsPerSecond: number;
  /** protocol / in process: the issue's aim is at least 0.2. */
  readonly ratio: number;
  /**
   * The same ratio by CPU time (this process's, and its exited children's: the node processes), or
   * null where /proc is not there. On a shared machine wall time counts every wait for a core at each
   * round trip; CPU time is what the run costs, what an idle machine would take.
   */
  readonly cpuRatio: number | null;
  /** Lines the harness sent the nodes (requests and media results) per lockstep step. */
  readonly roundTripsPerStep: number;
  /** Node processes started (three per world's first boot are reused; each restart starts one). */
  readonly processesStarted: number;
  /**
   * The channel's own cost: microseconds a round trip (a line written, its echo read) with `cat` as
   * the node, which does nothing but copy; what a node that answers at once would pay per request.
   */
  readonly echoRoundTripMicros: number;
}

/** Round trips of a tick-sized line through ProcessPump to `cat` and back, after a warm-up. */
export async function measureEchoRoundTrip(trips = 3000): Promise<number> {
  const pump = new ProcessPump();
  const key = pump.spawn('cat', [], '.');
  const line = JSON.stringify({ type: 'tick', id: 1, ticks: 1, mediaEpoch: 1 });
  const trip = () => {
    pump.write(key, line);
    const got = pump.nextLine(key, 10_000);
    if (got.kind !== 'line' || got.line !== line) throw new Error(`cat did not echo the line: ${got.kind}`);
  };
  try {
    for (let i = 0; i < 200; i++) trip();
    const started = performance.now();
    for (let i = 0; i < trips; i++) trip();
    return ((performance.now() - started) * 1000) / trips;
  } finally {
    await pump.close();
  }
}

export async function measureProtocol(runs = 24): Promise<ProtocolFigures> {
  const options = { runs, seed: 99, maxSteps: 60, swarm: true, version: 'bench', checkers: modelCheckers };
  let cpu = cpuSeconds();
  let started = performance.now();
  const inProcess = runCampaign(builtInTarget('reference')!, options);
  const inSeconds = (performance.now() - started) / 1000;
  const inCpu = cpu === null ? null : cpuSeconds()! - cpu;
  // Counted on the pump's prototype, for this measurement only: every line to a node is one round trip.
  const pump = ProcessPump.prototype;
  const { write, spawn } = pump;
  let lines = 0;
  let spawns = 0;
  pump.write = function (this: ProcessPump, ...a: Parameters<ProcessPump['write']>) {
    lines++;
    return write.apply(this, a);
  };
  pump.spawn = function (this: ProcessPump, ...a: Parameters<ProcessPump['spawn']>) {
    spawns++;
    return spawn.apply(this, a);
  };
  const target = processTarget({ command: 'node bin/cpsync.js serve-target reference' });
  try {
    cpu = cpuSeconds();
    started = performance.now();
    const viaProtocol = runCampaign(target, options);
    const protocolSeconds = (performance.now() - started) / 1000;
    target.dispose(); // The node processes exit, so that their CPU time is counted.
    const protocolCpu = cpu === null ? null : settledCpuSeconds() - cpu;
    // Both ran the same schedules, or the comparison means nothing (and serve-target has a bug).
    if (viaProtocol.observedSteps !== inProcess.observedSteps || viaProtocol.counterexample)
      throw new Error(
        `serve-target reference ran ${viaProtocol.observedSteps} steps where in process ran ${inProcess.observedSteps}${viaProtocol.counterexample ? `, and failed: ${viaProtocol.counterexample.message}` : ''}`,
      );
    const inProcessStepsPerSecond = inProcess.observedSteps / inSeconds;
    const protocolStepsPerSecond = viaProtocol.observedSteps / protocolSeconds;
    return {
      runs,
      inProcessStepsPerSecond,
      protocolStepsPerSecond,
      ratio: protocolStepsPerSecond / inProcessStepsPerSecond,
      cpuRatio: inCpu === null || protocolCpu === null ? null : inCpu / protocolCpu,
      roundTripsPerStep: lines / viaProtocol.observedSteps,
      processesStarted: spawns,
      echoRoundTripMicros: await measureEchoRoundTrip(),
    };
  } finally {
    target.dispose();
    pump.write = write;
    pump.spawn = spawn;
  }
}

/** User and system CPU seconds of this process and of its children that have exited (Linux /proc). */
function cpuSeconds(): number | null {
  try {
    // Fields after the command's closing parenthesis: utime, stime, cutime, cstime are 14 to 17.
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[13 - 2]) + Number(f[14 - 2]) + Number(f[15 - 2]) + Number(f[16 - 2]);
    return ticks / 100; // USER_HZ, 100 on Linux
  } catch {
    return null;
  }
}

/** cpuSeconds once the killed children have been reaped: it stops growing. */
function settledCpuSeconds(): number {
  let last = cpuSeconds()!;
  for (let i = 0; i < 50; i++) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    const now = cpuSeconds()!;
    if (now === last && i >= 5) return now;
    last = now;
  }
  return last;
}
