// Synchronous line I/O with child processes, for harness/process_target.ts: the harness's calls into a
// target return values, so a reply must be awaited without returning to the event loop. Each child's
// stdin and stdout are FIFOs that this thread writes and reads with blocking writeSync and readSync:
// a line costs the child's wake-up and this thread's, nothing more (the pump thread this replaced,
// which moved every line by postMessage, cost two thread hops more: about 120 µs a round trip against
// 45, measured with `cat` as the child). A pump thread still owns the children: it spawns them, keeps
// their stderr, notices their exit and keeps every wait's deadline, and it tells this thread by a
// message on a port and then a NUL byte on the child's stdout FIFO, which wakes a blocked read. JSON
// lines never hold a raw NUL, and the NULs the pump writes are counted, so a child's own NUL is data.
// Fault model: a child may exit, hang, stop reading, write anything or leave a descendant holding its
// pipes; every wait ends by its deadline, a write to a child that does not read included.

import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';

/** What the pump reports about one child. 'closed', 'spawn-error' and 'timeout' each come with a NUL. */
type PumpEvent =
  | { readonly key: number; readonly kind: 'spawned'; readonly pid: number }
  | { readonly key: number; readonly kind: 'stderr'; readonly text: string }
  | {
      readonly key: number;
      readonly kind: 'closed';
      readonly code: number | null;
      readonly signal: string | null;
    }
  | { readonly key: number; readonly kind: 'spawn-error'; readonly message: string }
  | { readonly key: number; readonly kind: 'timeout'; readonly at: number }
  | { readonly key: number; readonly kind: 'released' };

/**
 * The pump thread's program: plain JavaScript, evaluated (no loader hooks needed in the thread). Its
 * clock is the epoch in milliseconds, as the deadlines this thread stores; the watchdog looks at them
 * every WATCH_MS, so a wait ends at most that much after its deadline.
 */
const PUMP_SOURCE = `
const { workerData } = require('node:worker_threads');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const { port, deadlines, watchMs } = workerData;
const deadline = new Float64Array(deadlines);
const children = new Map();
const scratch = Buffer.alloc(1 << 16);
const now = () => performance.timeOrigin + performance.now();
// Posted before its NUL is written, so the harness thread finds it once it has read the NUL.
function post(m) { port.postMessage(m); }
// The NULs owed to the harness's read end; its FIFO may be full, so what cannot be written now is
// written on a later watch.
function flush(c) {
  while (c.nuls > 0 && c.out >= 0) {
    try { fs.writeSync(c.out, '\\0'); c.nuls--; }
    catch (e) { if (e.code !== 'EAGAIN') c.nuls = 0; return; }
  }
}
function tell(c, m) { post(m); c.nuls++; flush(c); }
// Reads and drops what waits in the child's stdin, so that a write to a child that is gone or does
// not read returns instead of blocking the harness.
function drainIn(c) {
  if (c.in < 0) return;
  try { while (fs.readSync(c.in, scratch, 0, scratch.length, null) > 0); } catch {}
}
function finish(c, m) {
  if (c.finished) return;
  c.finished = true;
  tell(c, m);
  drainIn(c);
}
port.on('message', (m) => {
  if (m.op === 'spawn') {
    const c = { slot: m.slot, in: m.pumpIn, out: m.pumpOut, nuls: 0, finished: false, fired: 0, child: null };
    children.set(m.key, c);
    try {
      c.child = spawn(m.command, m.args, { cwd: m.cwd, stdio: [m.childIn, m.childOut, 'pipe'], env: process.env });
    } catch (e) {
      finish(c, { key: m.key, kind: 'spawn-error', message: String(e && e.message || e) });
      return;
    }
    const child = c.child;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text) => port.postMessage({ key: m.key, kind: 'stderr', text }));
    child.on('error', (e) => finish(c, { key: m.key, kind: 'spawn-error', message: String(e && e.message || e) }));
    child.on('spawn', () => post({ key: m.key, kind: 'spawned', pid: child.pid }));
    // 'close' waits for its stderr to end, so the tail is whole; a descendant that keeps stderr open
    // must not keep the harness waiting, so 'exit' counts too, a moment later.
    child.on('close', (code, sig) => finish(c, { key: m.key, kind: 'closed', code, signal: sig }));
    child.on('exit', (code, sig) =>
      setTimeout(() => finish(c, { key: m.key, kind: 'closed', code, signal: sig }), 100));
  } else if (m.op === 'kill') {
    const c = children.get(m.key);
    if (!c) return;
    children.delete(m.key);
    // Its descriptors are the harness thread's to close (they were opened there), once it hears this.
    c.in = c.out = -1;
    port.postMessage({ key: m.key, kind: 'released' });
    if (c.child) { c.child.stderr.destroy(); c.child.kill('SIGKILL'); }
  }
});
setInterval(() => {
  const t = now();
  for (const [key, c] of children) {
    const d = deadline[c.slot];
    const late = d > 0 && t >= d;
    if (late && c.fired !== d) {
      c.fired = d;
      tell(c, { key, kind: 'timeout', at: d });
    }
    // Again at every watch: a write blocked on a full FIFO writes more once some is drained.
    if (late || c.finished) drainIn(c);
    flush(c);
  }
}, watchMs);
`;

/** What waiting for a child's next line found. */
export type LineOutcome =
  | { readonly kind: 'line'; readonly line: string }
  | { readonly kind: 'closed'; readonly code: number | null; readonly signal: string | null }
  | { readonly kind: 'spawn-error'; readonly message: string }
  | { readonly kind: 'timeout' };

const STDERR_TAIL_BYTES = 4000;
/** How often the pump looks at the deadlines. */
const WATCH_MS = 20;
/** Children alive at once, per pump: the deadline slots shared with it. */
const SLOTS = 1024;
/** A write to a child that does not read gives up after this long by default. */
const WRITE_TIMEOUT_MS = 60_000;
const NUL = 0;
const NEWLINE = 10;

interface ChildState {
  readonly slot: number;
  /** This thread's ends: the write end of the child's stdin, the read end of its stdout. */
  readonly toChild: number;
  readonly fromChild: number;
  /** The rest of the FIFOs' descriptors, all opened here and so closed here (a worker that closes them is warned). */
  readonly childEnds: number[];
  readonly pumpEnds: readonly number[];
  readonly lines: string[];
  /** Bytes of a line not yet ended. */
  partial: Buffer[];
  stderr: string;
  pid: number | null;
  closed: { code: number | null; signal: string | null } | null;
  spawnError: string | null;
  /** NULs the pump has said it writes and this thread has not read yet. */
  pumpNuls: number;
  /** Deadlines (of a wait or a write) the pump said passed. */
  readonly fired: Set<number>;
  /** A write's deadline passed since the last wait: that wait times out. */
  writeTimedOut: boolean;
  /** Nothing more comes: the pump said it ended (and the FIFO is read to that point), or EOF. */
  ended: boolean;
}

/** The wall clock both threads keep deadlines in: the epoch, in milliseconds. */
function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The children of one harness thread, their FIFOs, and the pump that watches them. */
export class ProcessPump {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly deadlines: Float64Array;
  private readonly children = new Map<number, ChildState>();
  /** The pump's descriptors of killed children, closed when the pump says it let go of them. */
  private readonly releasing = new Map<number, readonly number[]>();
  private readonly freeSlots: number[] = Array.from({ length: SLOTS }, (_, i) => SLOTS - 1 - i);
  private readonly chunk = Buffer.alloc(1 << 18);
  private nextKey = 1;
  private closed = false;
  private readonly onExit = (): void => this.killAll();

  constructor() {
    const deadlines = new SharedArrayBuffer(SLOTS * Float64Array.BYTES_PER_ELEMENT);
    this.deadlines = new Float64Array(deadlines);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(PUMP_SOURCE, {
      eval: true,
      workerData: { port: port2, deadlines, watchMs: WATCH_MS },
      transferList: [port2],
    });
    // Neither the pump nor its children keep the harness alive; children are killed when it exits.
    this.worker.unref();
    process.once('exit', this.onExit);
  }

  /**
   * Kills every child and stops the watching thread, then closes the descriptors it still held: for
   * a pump made for a while (a benchmark), not the harness's own, which lasts as long as the process.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.killAll();
    process.removeListener('exit', this.onExit);
    await this.worker.terminate();
    // The watching thread is gone: nothing else can use these numbers now.
    for (const fds of this.releasing.values()) for (const fd of fds) closeSync(fd);
    this.releasing.clear();
    this.port.close();
  }

  /** Starts `command args` in `cwd`; its lines are then read with `nextLine`. */
  spawn(command: string, args: readonly string[], cwd: string): number {
    if (this.closed) throw new Error('this ProcessPump is closed');
    const key = this.nextKey++;
    const slot = this.freeSlots.pop();
    if (slot === undefined) throw new RangeError(`more than ${SLOTS} node processes at once`);
    let fifos: Fifos;
    try {
      fifos = makeFifos();
    } catch (e) {
      this.freeSlots.push(slot);
      // Said when the child's first line is waited for, as a program that cannot start is.
      this.children.set(key, {
        ...blankChild(slot, null),
        spawnError: `its pipes could not be made: ${e instanceof Error ? e.message : String(e)}`,
        ended: true,
      });
      return key;
    }
    this.deadlines[slot] = 0;
    this.children.set(key, blankChild(slot, fifos));
    this.port.postMessage({
      op: 'spawn',
      key,
      slot,
      command,
      args,
      cwd,
      childIn: fifos.childIn,
      childOut: fifos.childOut,
      pumpIn: fifos.pumpIn,
      pumpOut: fifos.pumpOut,
    });
    return key;
  }

  /**
   * Writes one line. A child that does not read blocks the write until `timeoutMs` has passed: then
   * what it did not read is dropped, and its next wait times out.
   */
  write(key: number, line: string, timeoutMs = WRITE_TIMEOUT_MS): void {
    const c = this.children.get(key);
    if (!c || c.ended || c.toChild < 0) return;
    const bytes = Buffer.from(`${line}\n`, 'utf8');
    const deadline = epochMs() + timeoutMs;
    this.deadlines[c.slot] = deadline;
    try {
      for (let at = 0; at < bytes.length; ) at += writeSync(c.toChild, bytes, at);
    } catch {
      // The child is gone: its end shows when its next line is waited for.
    } finally {
      this.deadlines[c.slot] = 0;
    }
    this.drain();
    if (c.fired.has(deadline)) c.writeTimedOut = true;
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
    for (const fd of [c.toChild, c.fromChild]) if (fd >= 0) closeSync(fd);
    // The pump may still use its ends (and the child's, if it has not spawned it yet) until it hears
    // of the kill: closed before, their numbers, reused by the next child's FIFOs, would be read and
    // written as this child's.
    const held = [...c.childEnds, ...c.pumpEnds];
    if (held.length > 0) this.releasing.set(key, held);
    this.deadlines[c.slot] = 0;
    // Not reused until the pump has let go of it; the pump forgets a killed child's slot at once.
    this.freeSlots.unshift(c.slot);
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
    const c = this.children.get(key);
    if (!c) return { kind: 'closed', code: null, signal: 'SIGKILL' };
    const deadline = epochMs() + timeoutMs;
    this.deadlines[c.slot] = deadline;
    c.fired.clear(); // Earlier waits' deadlines: a wait times out by its own.
    try {
      for (;;) {
        const line = c.lines.shift();
        if (line !== undefined) return { kind: 'line', line };
        if (c.writeTimedOut || c.fired.has(deadline)) {
          c.writeTimedOut = false;
          return { kind: 'timeout' };
        }
        if (c.ended) {
          if (c.spawnError !== null) return { kind: 'spawn-error', message: c.spawnError };
          return { kind: 'closed', ...(c.closed ?? { code: null, signal: null }) };
        }
        // Blocks until the child writes, or the pump writes a NUL (it ended, or a deadline passed).
        const n = readSync(c.fromChild, this.chunk, 0, this.chunk.length, null);
        if (n === 0) {
          // Every writer is gone, the pump's last: it said why before it let go.
          this.drain();
          this.endLine(c);
          c.ended = true;
        } else this.take(c, n);
      }
    } finally {
      this.deadlines[c.slot] = 0;
    }
  }

  /** Splits what was read into lines; a NUL the pump owes is where it said something. */
  private take(c: ChildState, n: number): void {
    const bytes = this.chunk;
    let from = 0;
    for (let i = 0; i < n; i++) {
      const b = bytes[i]!;
      if (b !== NEWLINE && b !== NUL) continue;
      if (b === NUL) {
        if (c.pumpNuls === 0) this.drain();
        if (c.pumpNuls === 0) continue; // The child's own: data.
        c.pumpNuls--;
      }
      if (from < i || b === NEWLINE) c.partial.push(Buffer.from(bytes.subarray(from, i)));
      from = i + 1;
      if (b === NEWLINE) {
        c.lines.push(joinLine(c.partial));
        c.partial = [];
      } else if (c.closed !== null || c.spawnError !== null) {
        this.endLine(c);
        c.ended = true;
      }
    }
    if (from < n) c.partial.push(Buffer.from(bytes.subarray(from, n)));
  }

  /** What the child wrote last without a newline is its last line. */
  private endLine(c: ChildState): void {
    if (c.partial.length === 0) return;
    const line = joinLine(c.partial);
    c.partial = [];
    if (line.length > 0) c.lines.push(line);
  }

  /** The child has its own copies of its stdin and stdout once it is spawned (spawn forks before it returns). */
  private closeChildEnds(c: ChildState): void {
    for (const fd of c.childEnds.splice(0)) closeSync(fd);
  }

  private drain(): void {
    for (;;) {
      const got = receiveMessageOnPort(this.port);
      if (!got) return;
      const e = got.message as PumpEvent;
      if (e.kind === 'released') {
        for (const fd of this.releasing.get(e.key) ?? []) closeSync(fd);
        this.releasing.delete(e.key);
        continue;
      }
      const c = this.children.get(e.key);
      if (!c) continue; // A killed child's last words.
      switch (e.kind) {
        case 'spawned':
          c.pid = e.pid;
          this.closeChildEnds(c);
          break;
        case 'stderr':
          c.stderr = (c.stderr + e.text).slice(-STDERR_TAIL_BYTES);
          break;
        case 'closed':
          c.closed = { code: e.code, signal: e.signal };
          c.pumpNuls++;
          break;
        case 'spawn-error':
          c.spawnError = e.message;
          c.pumpNuls++;
          this.closeChildEnds(c);
          break;
        case 'timeout':
          c.fired.add(e.at);
          c.pumpNuls++;
          break;
      }
    }
  }
}

function blankChild(slot: number, fifos: Fifos | null): ChildState {
  return {
    slot,
    toChild: fifos?.toChild ?? -1,
    fromChild: fifos?.fromChild ?? -1,
    childEnds: fifos ? [fifos.childIn, fifos.childOut] : [],
    pumpEnds: fifos ? [fifos.pumpIn, fifos.pumpOut] : [],
    lines: [],
    partial: [],
    stderr: '',
    pid: null,
    closed: null,
    spawnError: null,
    pumpNuls: 0,
    fired: new Set(),
    writeTimedOut: false,
    ended: false,
  };
}

function joinLine(parts: readonly Buffer[]): string {
  return (parts.length === 1 ? parts[0]! : Buffer.concat(parts)).toString('utf8');
}

interface Fifos {
  /** This thread's: the write end of the child's stdin, the read end of its stdout (both blocking). */
  readonly toChild: number;
  readonly fromChild: number;
  /** The child's stdin and stdout, closed here once the pump has spawned the child. */
  readonly childIn: number;
  readonly childOut: number;
  /** The pump's: a non-blocking reader of the child's stdin, a non-blocking writer of its stdout. */
  readonly pumpIn: number;
  readonly pumpOut: number;
}

/**
 * Two FIFOs, opened and then unlinked (the descriptors outlive the names). Opening a FIFO's one end
 * blocks until the other is open, but not when non-blocking; so each is first held by a non-blocking
 * reader, which lets the blocking ends open at once. The child's ends are blocking, as a program
 * expects of its stdin and stdout; the reader held for stdin is the pump's, for draining it.
 */
function makeFifos(): Fifos {
  const dir = mkdtempSync(join(tmpdir(), 'cpsync-node-'));
  const opened: number[] = [];
  const open = (path: string, flags: number): number => {
    const fd = openSync(path, flags);
    opened.push(fd);
    return fd;
  };
  try {
    const stdin = join(dir, 'stdin');
    const stdout = join(dir, 'stdout');
    execFileSync('mkfifo', ['-m', '600', stdin, stdout], { stdio: 'ignore' });
    const { O_RDONLY, O_WRONLY, O_NONBLOCK } = constants;
    const pumpIn = open(stdin, O_RDONLY | O_NONBLOCK);
    const toChild = open(stdin, O_WRONLY);
    const childIn = open(stdin, O_RDONLY);
    const placeholder = open(stdout, O_RDONLY | O_NONBLOCK);
    const childOut = open(stdout, O_WRONLY);
    const fromChild = open(stdout, O_RDONLY);
    const pumpOut = open(stdout, O_WRONLY | O_NONBLOCK);
    closeSync(placeholder);
    return { toChild, fromChild, childIn, childOut, pumpIn, pumpOut };
  } catch (e) {
    for (const fd of opened)
      try {
        closeSync(fd);
      } catch {
        // Closed already.
      }
    throw e;
  } finally {
    rmSync(dir, { recursive: true, force: true });
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
