/**
 * Helpers of the shipping tests: run a command to completion, run the permission probe under a
 * permission set, and make a throwaway server folder layout (config folder, state folder and an
 * unrelated folder beside them).
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { formatKeyFile } from "../../lib/config/key_file.ts";
import { Secret } from "../../lib/config/secret.ts";
import { MODULE_FLAGS } from "../../lib/permissions.ts";

/** The repository root, without a final slash. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");

/** The probe script (see `_probe.ts`). */
export const PROBE = `${ROOT}/tests/shipping/_probe.ts`;

/** A finished command. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `argv` to completion in the repository root, with no input. */
export async function run(
  argv: readonly string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<Run> {
  const out = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: options.cwd ?? ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Runs `deno <args>` with the Deno running the tests. */
export function deno(
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<Run> {
  return run([Deno.execPath(), ...args], options);
}

/**
 * Runs the probe under `flags` (exactly those: `deno run <flags> _probe.ts op ...args`) and
 * returns its verdict: `ok` or an error class name such as `NotCapable`.
 *
 * @throws {Error} When the probe itself failed, so a broken probe never passes for a refusal.
 */
export async function probe(
  flags: readonly string[],
  op: string,
  ...args: string[]
): Promise<string> {
  const result = await deno(["run", ...MODULE_FLAGS, ...flags, PROBE, op, ...args]);
  const verdict = result.stdout.trim();
  if (result.code !== 0 || !/^[A-Za-z]+$/.test(verdict)) {
    throw new Error(`Cannot probe ${op}: exit ${result.code}\n${result.stdout}\n${result.stderr}`);
  }
  return verdict;
}

/** A throwaway server layout under one temp folder. */
export interface ServerDirs {
  dir: string;
  /** Holds `server.toml` and `keys/`. */
  configDir: string;
  stateDir: string;
  /** A folder beside them, holding `secret.txt`, that the server must not read. */
  otherDir: string;
  configPath: string;
}

/**
 * Writes a one-user `server.toml` (firewall `none`), its key file (mode 0600) and a file outside
 * both folders. `keyFile` replaces the key path written into the config.
 */
export async function serverDirs(
  options: { extra?: string[]; keyFile?: string } = {},
): Promise<ServerDirs> {
  const dir = await Deno.makeTempDir({ prefix: "spa-shipping-" });
  const configDir = `${dir}/etc`;
  const stateDir = `${dir}/state`;
  const otherDir = `${dir}/other`;
  await Deno.mkdir(`${configDir}/keys`, { recursive: true, mode: 0o700 });
  await Deno.mkdir(stateDir, { mode: 0o700 });
  await Deno.mkdir(otherDir);
  await Deno.writeTextFile(`${otherDir}/secret.txt`, "not for spa-server\n");
  const keyFile = options.keyFile ?? `${configDir}/keys/alice.key`;
  await writeKey(keyFile, 1000);
  const configPath = `${configDir}/server.toml`;
  await Deno.writeTextFile(
    configPath,
    [
      `server_id = "shipping-test"`,
      `interfaces = ["lo"]`,
      `state_dir = ${JSON.stringify(stateDir)}`,
      `firewall = "none"`,
      ...(options.extra ?? []),
      "",
      "[[users]]",
      "uid = 1000",
      `name = "alice"`,
      `key_file = ${JSON.stringify(keyFile)}`,
      `ports = ["tcp/22"]`,
      "",
    ].join("\n"),
  );
  return { dir, configDir, stateDir, otherDir, configPath };
}

/** Writes a key file for `uid` with a random secret and sequence, mode 0600. */
export async function writeKey(path: string, uid: number): Promise<void> {
  const sequence = crypto.getRandomValues(new Uint32Array(1))[0]! || 1;
  const secret = new Secret(crypto.getRandomValues(new Uint8Array(32)));
  await Deno.writeTextFile(path, formatKeyFile({ uid, secret, sequence }), { mode: 0o600 });
  await Deno.chmod(path, 0o600);
}
