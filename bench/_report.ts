/** Shared output for benchmarks: one aligned line per figure, plus peak memory. */
export function report(label: string, value: number, unit: string): void {
  process.stdout.write(`${label.padEnd(48)} ${formatNumber(value).padStart(14)} ${unit}\n`);
}

export function formatNumber(n: number): string {
  // Counts (files, requests) print as the integers they are: "14 files", not "14.00 files".
  if (n >= 100 || Number.isInteger(n)) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(2);
}

/** Peak resident set size of this process so far, in MiB (Linux reports maxRSS in KiB). */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  const start = process.hrtime.bigint();
  const result = await fn();
  return { result, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}
