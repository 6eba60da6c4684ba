// What a benchmark result needs to be read later: the machine, the versions, the load on it.
import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { runCommand } from "../../simulator/util/processes.ts";

export interface MachineInfo {
  cpuModel: string;
  /** Logical CPUs the kernel shows. */
  cpus: number;
  memoryMiB: number;
  kernel: string;
  node: string;
}

export interface RunInfo {
  machine: MachineInfo;
  /** git commit of the working tree, with `dirty` when it has uncommitted changes. */
  commit: string;
  dirty: boolean;
  date: string;
}

export async function runInfo(): Promise<RunInfo> {
  const rev = await runCommand("git", ["rev-parse", "HEAD"], { timeoutMs: 10_000 }).catch(
    () => undefined,
  );
  const status = await runCommand("git", ["status", "--porcelain"], { timeoutMs: 10_000 }).catch(
    () => undefined,
  );
  const kernel = await runCommand("uname", ["-sr"], { timeoutMs: 10_000 }).catch(() => undefined);
  return {
    machine: {
      cpuModel: cpus()[0]?.model ?? "unknown",
      cpus: cpus().length,
      memoryMiB: Math.round(totalmem() / 1024 / 1024),
      kernel: kernel?.stdout.trim() || "unknown",
      node: process.version,
    },
    commit: rev?.status === 0 ? rev.stdout.trim() : "unknown",
    dirty: (status?.stdout.trim().length ?? 0) > 0,
    date: new Date().toISOString(),
  };
}

/** /proc/loadavg's 1, 5 and 15 minute averages: how busy the (shared) machine was. */
export function loadavg(): [number, number, number] {
  try {
    const [a = 0, b = 0, c = 0] = readFileSync("/proc/loadavg", "utf8").split(" ").map(Number);
    return [a, b, c];
  } catch {
    return [0, 0, 0];
  }
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  return procStat(readFileSync(`/proc/${pid}/stat`, "utf8")).cpuSeconds;
}

/** The command name, parent and CPU seconds (user + system) in the text of /proc/PID/stat. */
export function procStat(stat: string): { name: string; ppid: number; cpuSeconds: number } {
  // Fields after the command name (which may hold spaces) start at the last ')'.
  const close = stat.lastIndexOf(")");
  const fields = stat.slice(close + 2).split(" ");
  return {
    name: stat.slice(stat.indexOf("(") + 1, close),
    ppid: Number(fields[1]),
    cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100,
  };
}

/** A process's resident memory now and at its peak, MiB (VmRSS and VmHWM from /proc/PID/status). */
export function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}
