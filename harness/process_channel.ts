// Synchronous line I/O with child processes, for harness/process_target.ts: the harness's calls into a
// target return values, so a reply must be awaited without returning to the event loop. A pump thread
// (a worker with its own event loop) owns the children and their pipes; the calling thread blocks in
// Atomics.wait on a shared counter, with a deadline, and takes what arrived with receiveMessageOnPort.
// Why not blocking reads of the pipe's fd: Node makes its child pipes non-blocking, a FIFO read cannot
// time out, and polling costs CPU on a shared machine; the pump costs two thread hops per line (measured
// in docs/process-targets.md) and notices exits and stderr on its own.

import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';

/** What the pump reports about one child. */
type PumpEvent =
  | { readonly key: number; readonly kind: 'spawned'; readonly pid: number }
  | { readonly key: number; readonly kind: 'line'; readonly line: string }
  | { readonly key: number; readonly kind: 'stderr'; readonly text: string }
  | {
      readonly key: number;
      readonly kind: 'closed';
      readonly code: number | null;
      readonly signal: string | null;
    }
  | { readonly key: number; readonly kind: 'spawn-error'; readonly message: string };

/** The pump thread's program: plain JavaScript, evaluated (no loader hooks needed in the thread). */
const PUMP_SOURCE = `
const { workerData } = require('node:worker_threads');
const { spawn } = require('node:child_process');
const { port, signal } = workerData;
const counter = new Int32Array(signal);
const children = new Map();
function post(m) { port.postMessage(m); Atomics.add(counter, 0, 1); Atomics.notify(counter, 0); }
port.on('message', (m) => {
  if (m.op === 'spawn') {
    let child;
    try {
      child = spawn(m.command, m.args, { cwd: m.cwd, stdio: ['pipe', 'pipe', 'pipe'], env: process.env });
    } catch (e) { post({ key: m.key, kind: 'spawn-error', message: String(e && e.message || e) }); return; }
    children.set(m.key, child);
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      let at;
      while ((at = buffered.indexOf('\\n')) >= 0) {
        post({ key: m.key, kind: 'line', line: buffered.slice(0, at) });
        buffered = buffered.slice(at + 1);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text) => port.postMessage({ key: m.key, kind: 'stderr', text }));
    child.stdin.on('error', () => {});
    child.on('error', (e) => post({ key: m.key, kind: 'spawn-error', message: String(e && e.message || e) }));
    child.on('spawn', () => post({ key: m.key, kind: 'spawned', pid: child.pid }));
    child.on('close', (code, sig) => {
      if (buffered.length > 0) post({ key: m.key, kind: 'line', line: buffered });
      children.delete(m.key);
      post({ key: m.key, kind: 'closed', code, signal: sig });
    });
  } else if (m.op === 'write') {
    const child = children.get(m.key);
    if (child && child.stdin.writable) child.stdin.write(m.line + '\\n');
  } else if (m.op === 'kill') {
    const child = children.get(m.key);
    if (child) { child.stdin.destroy(); child.kill('SIGKILL'); }
  }
});
`;

/** What waiting for a child's next line found. */
export type LineOutcome =
  | { readonly kind: 'line'; readonly line: string }
  | { readonly kind: 'closed'; readonly code: number | null; readonly signal: string | null }
  | { readonly kind: 'spawn-error'; readonly message: string }
  | { readonly kind: 'timeout' };

const STDERR_TAIL_BYTES = 4000;

interface ChildState {
  readonly lines: string[];
  stderr: string;
  pid: number | null;
  closed: { code: number | null; signal: string | null } | null;
  spawnError: string | null;
}

/** The children of one harness thread and the pump that moves their lines. */
export class ProcessPump {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly counter: Int32Array;
  private readonly children = new Map<number, ChildState>();
  private nextKey = 1;

  constructor() {
    const signal = new SharedArrayBuffer(4);
    this.counter = new Int32Array(signal);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(PUMP_SOURCE, {
      eval: true,
      workerData: { port: port2, signal },
      transferList: [port2],
    });
    // Neither the pump nor its children keep the harness alive; children are killed when it exits.
    this.worker.unref();
    process.once('exit', () => this.killAll());
  }

  /** Starts `command args` in `cwd`; its lines are then read with `nextLine`. */
  spawn(command: string, args: readonly string[], cwd: string): number {
    const key = this.nextKey++;
    this.children.set(key, { lines: [], stderr: '', pid: null, closed: null, spawnError: null });
    this.port.postMessage({ op: 'spawn', key, command, args, cwd });
    return key;
  }

  write(key: number, line: string): void {
    this.port.postMessage({ op: 'write', key, line });
  }

  kill(key: number): void {
    const c = this.children.get(key);
    if (!c) return;
    this.drain();
    if (c.pid !== null && c.closed === null) {
      try {
        // At once, from this thread: the process must not run on while the pump gets to it.
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    this.port.postMessage({ op: 'kill', key });
    this.children.delete(key);
  }

  killAll(): void {
    for (const key of [...this.children.keys()]) this.kill(key);
  }

  /** The last few kilobytes the child wrote to its stderr. */
  stderrTail(key: number): string {
    this.drain();
    return this.children.get(key)?.stderr ?? '';
  }

  /** Waits until the child's next line, its exit, or `timeoutMs`. */
  nextLine(key: number, timeoutMs: number): LineOutcome {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const seen = Atomics.load(this.counter, 0);
      this.drain();
      const c = this.children.get(key);
      if (!c) return { kind: 'closed', code: null, signal: 'SIGKILL' };
      const line = c.lines.shift();
      if (line !== undefined) return { kind: 'line', line };
      if (c.spawnError !== null) return { kind: 'spawn-error', message: c.spawnError };
      if (c.closed) return { kind: 'closed', ...c.closed };
      const left = deadline - performance.now();
      if (left <= 0) return { kind: 'timeout' };
      Atomics.wait(this.counter, 0, seen, left);
    }
  }

  private drain(): void {
    for (;;) {
      const got = receiveMessageOnPort(this.port);
      if (!got) return;
      const e = got.message as PumpEvent;
      const c = this.children.get(e.key);
      if (!c) continue; // A killed child's last words.
      switch (e.kind) {
        case 'spawned':
          c.pid = e.pid;
          break;
        case 'line':
          c.lines.push(e.line);
          break;
        case 'stderr':
          c.stderr = (c.stderr + e.text).slice(-STDERR_TAIL_BYTES);
          break;
        case 'closed':
          c.closed = { code: e.code, signal: e.signal };
          break;
        case 'spawn-error':
          c.spawnError = e.message;
          break;
      }
    }
  }
}

/** Splits "COMMAND ARGS" as a shell would for plain words, 'single' and "double" quotes. */
export function splitCommand(command: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | null = null;
  for (const ch of command) {
    if (quote) {
      if (ch === quote) quote = null;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote) throw new RangeError(`unclosed ${quote} in the command: ${command}`);
  if (inWord) words.push(word);
  return words;
}
