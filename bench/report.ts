/**
 * docs/benchmarks.md as `npm run bench` writes it: the machine (CPU, cores,
 * memory, Node, load average at the start and at the end of the run), then
 * one table per benchmark script, each figure next to the baseline measured
 * in the same run, the ratio, and the target the script names in its note
 * ("target >= 0.8") with whether this run met it. Failed scripts are listed
 * first and the document says it is incomplete.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import type { BenchResult } from './harness.js';
import type { ScriptRun } from './runner.js';

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly platform: string;
  /** 1, 5 and 15 minute load averages. */
  readonly load: readonly number[];
}

export function describeMachine(): Machine {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform}/${process.arch}`,
    load: loadavg(),
  };
}

export interface Report {
  readonly startedAt: Date;
  readonly machineAtStart: Machine;
  readonly loadAtEnd: readonly number[];
  readonly runs: readonly ScriptRun[];
  /** The names run when a subset was asked for (`--only`). */
  readonly only: readonly string[] | undefined;
  readonly quick: boolean;
}

function format(value: number): string {
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(Math.abs(value) >= 1 ? 2 : 3);
}

/** How many of a target's unit one of the figure's unit is, for targets stated as an absolute figure. */
const UNIT_FACTORS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  MB: { MB: 1, MiB: 1.048576 },
  MiB: { MiB: 1, MB: 1 / 1.048576 },
  ms: { ms: 1, s: 1000 },
  s: { s: 1, ms: 0.001 },
};

/**
 * "target >= 0.8" (or <=, <, >) in a note is checked against the ratio; a
 * target with a unit ("target < 80 MB", "target < 1000 ms") is checked
 * against the figure itself, converted to that unit (80 MB is 76.3 MiB).
 * Undefined when there is no target, or its unit cannot be compared.
 */
export function targetMet(r: BenchResult): boolean | undefined {
  const match = /target\s*(<=|>=|<|>)\s*(\d+(?:\.\d+)?)(?:\s*(MiB|MB|ms|s)\b)?/.exec(r.note ?? '');
  if (match === null) return undefined;
  const bound = Number(match[2]);
  const unit = match[3];
  const factor = unit === undefined ? undefined : UNIT_FACTORS[unit]?.[r.unit];
  if (unit !== undefined && factor === undefined) return undefined;
  const measured = factor === undefined ? r.ratio : r.value * factor;
  switch (match[1]) {
    case '>=':
      return measured >= bound;
    case '>':
      return measured > bound;
    case '<=':
      return measured <= bound;
    default:
      return measured < bound;
  }
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function resultRow(r: BenchResult): string {
  const met = targetMet(r);
  const verdict = met === undefined ? '' : met ? 'met' : '**missed**';
  const reading = r.higherIsBetter ? 'higher is better' : 'lower is better';
  return `| ${cell(r.name)} | ${format(r.value)} ${r.unit} | ${cell(r.baselineName)}: ${format(r.baselineValue)} ${r.unit} | ${r.ratio.toFixed(3)} (${reading}) | ${cell(r.note ?? '')} | ${verdict} |`;
}

function load(values: readonly number[]): string {
  return values.map((v) => v.toFixed(2)).join(' / ');
}

function section(run: ScriptRun): string[] {
  const title = `## ${run.name}${run.failure === undefined ? '' : ' (FAILED)'}`;
  const lines = [title, '', `Ran ${run.seconds.toFixed(0)} s.${run.failure === undefined ? '' : ` Failed: ${run.failure}; the figures below are what it printed before.`}`, ''];
  if (run.results.length === 0) return [...lines, 'No figures.', ''];
  return [...lines, '| benchmark | bootfleet | baseline (same run) | ratio | note | target |', '| --- | --- | --- | --- | --- | --- |', ...run.results.map(resultRow), ''];
}

export function renderReport(report: Report): string {
  const m = report.machineAtStart;
  const failed = report.runs.filter((r) => r.failure !== undefined);
  const scope = [report.only === undefined ? 'every benchmark' : `only ${report.only.join(', ')}`, report.quick ? 'quick sizes (`--quick`)' : 'default sizes'].join(', ');
  return [
    '# Benchmarks',
    '',
    'Written by `npm run bench` (bench/run.ts; the list of scripts is bench/suite.ts). Every script runs as its own process;',
    'every figure is measured next to a baseline in the same run, on the same machine: compare ratios across machines, not figures.',
    '',
    ...(failed.length === 0 ? [] : [`**INCOMPLETE: ${failed.map((r) => `${r.name} failed (${r.failure ?? ''})`).join('; ')}.**`, '']),
    `Run: ${report.startedAt.toISOString()}; ${scope}.`,
    '',
    `Machine: ${m.cpu}, ${String(m.cores)} cores, ${String(m.memoryGiB)} GiB, Node ${m.node}, ${m.platform};`,
    `load average (1 / 5 / 15 min) ${load(m.load)} at the start, ${load(report.loadAtEnd)} at the end.`,
    '',
    ...report.runs.flatMap(section),
  ].join('\n');
}
