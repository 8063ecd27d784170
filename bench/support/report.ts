/** Targets: each figure is printed with its target; the process exits 1 when one is missed (not in quick mode). */
import { QUICK } from "./environment.js";

export interface Check {
  target: string;
  value: string;
  ok: boolean;
}

const checks: Check[] = [];

export function check(target: string, value: number, unit: string, ok: boolean): void {
  checks.push({ target, value: `${Number.isInteger(value) ? value : value.toFixed(value < 10 ? 2 : 1)}${unit}`, ok });
}

export const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
export const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** Prints the targets table and sets the exit code. */
export function finish(title: string): void {
  console.log(`\n${title}: targets${QUICK ? " (BENCH_QUICK=1: smoke run, targets reported but not enforced)" : ""}`);
  console.table(checks.map((c) => ({ target: c.target, value: c.value, result: c.ok ? "met" : "MISSED" })));
  if (!QUICK && checks.some((c) => !c.ok)) {
    console.error(`${title}: a target was missed`);
    process.exitCode = 1;
  }
}
