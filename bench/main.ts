// `npm run bench`: prints the storage stack's figures from one run; `--json` prints them as one object.
// Wall-clock timing lives here and only here: tests never assert speed.

import { measureCp } from './cp_bench.ts';
import { measureParity } from './raid_bench.ts';

interface Figures {
  parity: ReturnType<typeof measureParity>;
  cp: ReturnType<typeof measureCp>;
}

function run(): Figures {
  return { parity: measureParity(), cp: measureCp() };
}

function print(f: Figures): void {
  const gb = (x: number): string => `${x.toFixed(2)} GB/s`;
  const ratio = (x: number): string => `${(f.parity.memcpyGBps / x).toFixed(2)}x slower than memory copy`;
  console.log('parity (GB of data protected per second, 4 KiB blocks, full stripes)');
  console.log(`  RAID-4      ${gb(f.parity.raid4GBps)}   ${ratio(f.parity.raid4GBps)}`);
  console.log(`  RAID-DP     ${gb(f.parity.raidDpGBps)}   ${ratio(f.parity.raidDpGBps)}`);
  console.log(`  memory copy ${gb(f.parity.memcpyGBps)}   (the same word loop, the physical reference)`);
  console.log('consistency points (4 KiB blocks through volume and RAID)');
  console.log(`  ${f.cp.level}: ${Math.round(f.cp.blocksPerSecond).toLocaleString('en-US')} blocks/s`);
}

const figures = run();
if (process.argv.includes('--json')) console.log(JSON.stringify(figures));
else print(figures);
