import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import { CheckUsageError, DEFAULT_IMAGE, prepareCheck, runCheck } from "../check-mirror/check.ts";
import {
  renderCheckJunit,
  renderCheckMarkdown,
  renderCheckTerminal,
} from "../check-mirror/render.ts";
import { RUNTIME_ALIASES, RUNTIME_NAMES } from "../check-mirror/types.ts";
import { writeAtomic } from "../reports/write.ts";
import { exitOnError, UsageError } from "./errors.ts";

interface CheckFlags {
  runtime: string;
  hostsDir?: string;
  daemonJson?: string;
  registriesConf?: string;
  image?: string[];
  mirror?: string[];
  mirrorServes: "all" | "digests";
  containerdConfig?: string;
  fallback: boolean;
  mirrorBackend: "auto" | "process" | "model";
  json?: boolean;
  out?: string;
  timeout: number;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export const CHECK_MIRROR_FILES = {
  json: "check-mirror.json",
  md: "check-mirror.md",
  junit: "check-mirror.junit.xml",
};

export function checkMirrorCommand(program: Command): void {
  program
    .command("check-mirror")
    .description(
      "pull images the way your nodes would, with their registry configuration, against loopback stand-ins, and report whether the requests reach the mirror or the registry (exit 0: through the mirror, 1: to the registry, 2: bad input)",
    )
    .addOption(
      new Option(
        "--runtime <runtime>",
        "the container runtime the nodes run (docker is accepted for dockerd)",
      )
        .choices([...RUNTIME_NAMES, ...Object.keys(RUNTIME_ALIASES)])
        .makeOptionMandatory(),
    )
    .option("--hosts-dir <dir>", "a containerd hosts directory (/etc/containerd/certs.d)")
    .option("--daemon-json <file>", "Docker's /etc/docker/daemon.json")
    .option(
      "--registries-conf <file>",
      "containers' /etc/containers/registries.conf (CRI-O, podman)",
    )
    .option(
      "--image <ref>",
      `an image the nodes pull (repeatable; default ${DEFAULT_IMAGE})`,
      collect,
    )
    .option(
      "--mirror <host[:port]>",
      "a mirror you really run (repeatable): any other host the configuration names is treated as unreachable, like a typo",
      collect,
    )
    .addOption(
      new Option(
        "--mirror-serves <what>",
        "what your mirror serves: everything, or content by digest only (Spegel, P2P caches)",
      )
        .choices(["all", "digests"])
        .default("all"),
    )
    .option(
      "--containerd-config <file>",
      "containerd's config.toml: also check that the CRI plugin reads the hosts directory (config_path)",
    )
    .option("--no-fallback", "do not stop the mirror and pull again")
    .addOption(
      new Option(
        "--mirror-backend <backend>",
        "the mirror behind the stand-ins: CNCF distribution (process) or the simulator's model",
      )
        .choices(["auto", "process", "model"])
        .default("auto"),
    )
    .option("--json", "print the report as JSON (docs/check-mirror.md)")
    .option(
      "--out <dir>",
      "also write check-mirror.json, check-mirror.md and check-mirror.junit.xml",
    )
    .option(
      "--timeout <seconds>",
      "give up on one pull after this long",
      (v: string) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0 || n > 3600)
          throw new InvalidArgumentError("--timeout must be a number of seconds from 1 to 3600");
        return n;
      },
      60,
    )
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  pullstorm check-mirror --runtime containerd --hosts-dir /etc/containerd/certs.d",
        "  pullstorm check-mirror --runtime containerd --daemon-json /etc/docker/daemon.json   # exit 1: containerd never reads it",
        "  pullstorm check-mirror --runtime cri-o --registries-conf /etc/containers/registries.conf --image quay.io/org/app:1",
        "",
        "Every host the configuration names (registry-1.docker.io, mirror.corp:5000) is mapped onto a",
        "stand-in on 127.0.0.1: nothing else is ever contacted. containerd is driven with ctr, CRI-O's",
        "containers/image with skopeo, where installed; dockerd is always a model.",
        "",
      ].join("\n"),
    )
    .action(async (flags: CheckFlags) => {
      const controller = new AbortController();
      try {
        const options = {
          runtime: flags.runtime,
          ...(flags.hostsDir !== undefined ? { hostsDir: flags.hostsDir } : {}),
          ...(flags.daemonJson !== undefined ? { daemonJson: flags.daemonJson } : {}),
          ...(flags.registriesConf !== undefined ? { registriesConf: flags.registriesConf } : {}),
          ...(flags.image ? { images: flags.image } : {}),
          ...(flags.mirror ? { mirrors: flags.mirror } : {}),
          ...(flags.containerdConfig !== undefined
            ? { containerdConfig: flags.containerdConfig }
            : {}),
        };
        let input: ReturnType<typeof prepareCheck>;
        try {
          input = prepareCheck(options);
        } catch (error) {
          if (error instanceof CheckUsageError) throw new UsageError(error.message);
          throw error;
        }
        if (flags.out) {
          try {
            mkdirSync(flags.out, { recursive: true });
          } catch (error) {
            throw new UsageError(
              `--out ${flags.out}: cannot create the directory (${(error as NodeJS.ErrnoException).code ?? "error"})`,
            );
          }
        }
        const interrupt = () => controller.abort();
        process.once("SIGINT", interrupt);
        process.once("SIGTERM", interrupt);
        const progress = process.stderr.isTTY
          ? (line: string) => process.stderr.write(`  ${line}\n`)
          : undefined;
        const report = await runCheck(input, {
          mirrorServes: flags.mirrorServes,
          fallback: flags.fallback,
          mirrorBackend: flags.mirrorBackend,
          pullTimeoutMs: flags.timeout * 1000,
          signal: controller.signal,
          ...(progress ? { progress } : {}),
        });
        process.off("SIGINT", interrupt);
        process.off("SIGTERM", interrupt);
        const written: string[] = [];
        if (flags.out) {
          const files: Array<[string, string]> = [
            [CHECK_MIRROR_FILES.json, `${JSON.stringify(report, null, 2)}\n`],
            [CHECK_MIRROR_FILES.md, renderCheckMarkdown(report)],
            [CHECK_MIRROR_FILES.junit, renderCheckJunit(report)],
          ];
          for (const [name, text] of files) writeAtomic(join(flags.out, name), text);
          written.push(...files.map(([name]) => join(flags.out as string, name)));
        }
        if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        else {
          process.stdout.write(
            renderCheckTerminal(report, {
              color: Boolean(process.stdout.isTTY && !process.env.NO_COLOR),
            }),
          );
          if (written.length) process.stdout.write(`  wrote ${written.join(", ")}\n`);
        }
        process.exitCode = report.exitCode;
      } catch (error) {
        if (controller.signal.aborted) {
          process.stderr.write(
            "pullstorm: interrupted; everything check-mirror started is stopped\n",
          );
          process.exit(130);
        }
        exitOnError(error);
      }
    });
}
