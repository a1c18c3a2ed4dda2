// The line channel to node processes: lines both ways, and every way a child can end or misbehave
// (exit, hang, a NUL of its own, a last line without a newline, not reading its stdin, a descendant
// that keeps its pipes) ends each wait with what happened, never a hang.

import { afterAll, describe, expect, it } from 'vitest';
import { ProcessPump, splitCommand } from './process_channel.ts';

const pump = new ProcessPump();
afterAll(() => pump.killAll());

/** A child running `sh -c SCRIPT`. */
const sh = (script: string): number => pump.spawn('sh', ['-c', script], '.');

describe('ProcessPump', () => {
  it('carries lines both ways, in order, UTF-8 and empty ones included', () => {
    const k = pump.spawn('cat', [], '.');
    for (const line of ['{"a":1}', 'é → ü', 'z'.repeat(50_000), '']) {
      pump.write(k, line);
      // An empty line is a line.
      expect(pump.nextLine(k, 10_000)).toEqual({ kind: 'line', line });
    }
    pump.kill(k);
  });

  it('carries a line longer than a FIFO holds, and a reply longer than one read takes', () => {
    // The child reads the whole line before it answers, as a node does; its answer is 600 kB.
    const k = sh(
      'read line; printf "%s\\n" "$(printf %s "$line" | wc -c)"; head -c 600000 /dev/zero | tr "\\0" w; echo',
    );
    pump.write(k, 'x'.repeat(300_000));
    expect(pump.nextLine(k, 10_000)).toEqual({ kind: 'line', line: '300000' });
    expect(pump.nextLine(k, 10_000)).toEqual({ kind: 'line', line: 'w'.repeat(600_000) });
    pump.kill(k);
  });

  it('a write that blocks (the child writes and does not read) ends at its deadline, and so does the wait', () => {
    // cat echoes what it reads: with nobody reading its stdout, it stops reading its stdin.
    const k = pump.spawn('cat', [], '.');
    const started = performance.now();
    pump.write(k, 'x'.repeat(1 << 20), 300);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(pump.nextLine(k, 10_000)).toEqual({ kind: 'timeout' });
    pump.kill(k);
  });

  it('says how a child ended, after the lines it wrote, the last one without a newline', () => {
    const k = sh('printf "one\\ntwo"; echo gone >&2; exit 3');
    expect(pump.nextLine(k, 10_000)).toEqual({ kind: 'line', line: 'one' });
    expect(pump.nextLine(k, 10_000)).toEqual({ kind: 'line', line: 'two' });
    expect(pump.nextLine(k, 10_000)).toEqual({ kind: 'closed', code: 3, signal: null });
    expect(pump.stderrTail(k)).toBe('gone\n');
    pump.kill(k);
  });

  it('a NUL the child writes is data, not the end', () => {
    const k = sh('printf "a\\000b\\n"; sleep 0.2; echo next');
    expect(pump.nextLine(k, 10_000)).toEqual({ kind: 'line', line: 'a\u0000b' });
    expect(pump.nextLine(k, 10_000)).toEqual({ kind: 'line', line: 'next' });
    pump.kill(k);
  });

  it('a wait for a child that says nothing ends at its deadline, and the next wait gets its line', () => {
    const k = sh('sleep 1; echo late; sleep 100');
    const started = performance.now();
    expect(pump.nextLine(k, 300)).toEqual({ kind: 'timeout' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(pump.nextLine(k, 10_000)).toEqual({ kind: 'line', line: 'late' });
    pump.kill(k);
  });

  it('a child that exits while a descendant keeps its stdout open is still seen to end', () => {
    const k = sh('sleep 30 & exit 5');
    expect(pump.nextLine(k, 10_000)).toEqual({ kind: 'closed', code: 5, signal: null });
    pump.kill(k);
  });

  it('writing to a child that never reads gives up instead of blocking (the child is gone)', () => {
    const k = sh('exit 0');
    expect(pump.nextLine(k, 10_000).kind).toBe('closed');
    // Far more than a FIFO holds: the pump drains what nobody reads.
    pump.write(k, 'y'.repeat(1 << 20));
    expect(pump.nextLine(k, 1_000).kind).toBe('closed');
    pump.kill(k);
  });

  it('a program that cannot start is said so', () => {
    const k = pump.spawn('/nonexistent/node-program', [], '.');
    const got = pump.nextLine(k, 10_000);
    expect(got.kind).toBe('spawn-error');
    if (got.kind === 'spawn-error') expect(got.message).toMatch(/ENOENT/);
    pump.kill(k);
  });

  it('kill ends a child at once; a killed child reads as closed', () => {
    const k = sh('sleep 100');
    pump.kill(k);
    expect(pump.nextLine(k, 1_000)).toEqual({ kind: 'closed', code: null, signal: 'SIGKILL' });
  });

  it('many children one after another reuse descriptors without mixing their lines', () => {
    for (let i = 0; i < 40; i++) {
      const k = sh(`echo child-${i}; exit 0`);
      expect(pump.nextLine(k, 10_000)).toEqual({ kind: 'line', line: `child-${i}` });
      pump.kill(k); // Killed as a crash kills, while the pump may still see it exit.
    }
  });

  it('close kills every child and stops the watching thread; a closed pump starts nothing', async () => {
    const own = new ProcessPump();
    const k = own.spawn('cat', [], '.');
    own.write(k, 'before');
    expect(own.nextLine(k, 10_000)).toEqual({ kind: 'line', line: 'before' });
    const waiting = own.spawn('sh', ['-c', 'sleep 100'], '.');
    await own.close();
    expect(own.nextLine(k, 1_000)).toEqual({ kind: 'closed', code: null, signal: 'SIGKILL' });
    expect(own.nextLine(waiting, 1_000).kind).toBe('closed');
    expect(() => own.spawn('cat', [], '.')).toThrow(/closed/);
    await own.close(); // Twice is harmless.
    // The harness's own pump is untouched.
    const other = pump.spawn('cat', [], '.');
    pump.write(other, 'after');
    expect(pump.nextLine(other, 10_000)).toEqual({ kind: 'line', line: 'after' });
    pump.kill(other);
  });
});

describe('splitCommand', () => {
  it('splits as a shell splits plain and quoted words', () => {
    expect(splitCommand(`python3 "my node.py" 'a b' c`)).toEqual(['python3', 'my node.py', 'a b', 'c']);
    expect(() => splitCommand('a "b')).toThrow(/unclosed "/);
  });
});
