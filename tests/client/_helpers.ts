/**
 * Helpers of the client tests: a throwaway home folder with a key file and a client config, and
 * `spa-client` run as a subprocess with exactly the shipped permission flags.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeKeyFile } from "../../lib/config/key_file.ts";
import { Secret } from "../../lib/config/secret.ts";
import { clientFlags } from "../../lib/permissions.ts";
import { deriveServerKey } from "../../lib/protocol/key_schedule.ts";
import { PipelineServer, type PipelineServerOptions } from "./_pipeline_server.ts";

/** The repository root (where `deno.json` is). */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLIENT = join(ROOT, "client.ts");

/** A finished client run. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let denoDir: string | undefined;

/** Deno's cache folder, so a client run with another HOME still finds the npm packages. */
export async function cacheDir(): Promise<string> {
  if (denoDir !== undefined) return denoDir;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  denoDir = JSON.parse(new TextDecoder().decode(out.stdout)).denoDir as string;
  return denoDir;
}

/** The argv that starts the client as shipped: `deno run <clientFlags()> client.ts`. */
export function clientArgv(args: readonly string[]): string[] {
  return ["run", ...clientFlags(), CLIENT, ...args];
}

/**
 * Starts `spa-client args` with a clean environment holding only `HOME` (and Deno's cache and
 * `PATH`); `wrapper` (e.g. `["setpriv", ..., "--"]`) runs it.
 */
export async function spawnClient(
  home: string,
  args: readonly string[],
  wrapper: readonly string[] = [],
): Promise<Deno.ChildProcess> {
  const argv = [...wrapper, Deno.execPath(), ...clientArgv(args)];
  return new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: ROOT,
    clearEnv: true,
    env: {
      HOME: home,
      DENO_DIR: await cacheDir(),
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      NO_COLOR: "1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Runs `spa-client args` to completion. */
export async function runClient(
  home: string,
  args: readonly string[],
  wrapper: readonly string[] = [],
): Promise<Run> {
  const child = await spawnClient(home, args, wrapper);
  const out = await child.output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** A throwaway home with `~/.config/spa/keys/alice.key` and a config naming host `fake`. */
export interface Home extends AsyncDisposable {
  dir: string;
  keyFile: string;
  configPath: string;
  stateDir: string;
  secret: Uint8Array;
  uid: number;
  /** The key file's initial sequence number. */
  sequence: number;
  /** (Re)writes the config with host `fake` sending to `port` on 127.0.0.1. */
  writeConfig(port: number, extra?: string): Promise<void>;
  /** The state file of host `fake`, parsed, or undefined. */
  state(
    name?: string,
  ): Promise<{ uid: number; fingerprint: string; sequence: Record<string, unknown> } | undefined>;
}

/** Makes a {@linkcode Home}; `await using` removes it. */
export async function makeHome(options: { uid?: number; sequence?: number } = {}): Promise<Home> {
  const dir = await Deno.makeTempDir({ prefix: "spa-client-test-" });
  const uid = options.uid ?? 1000;
  const sequence = options.sequence ?? 4242;
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const keyDir = join(dir, ".config/spa/keys");
  await Deno.mkdir(keyDir, { recursive: true, mode: 0o700 });
  const keyFile = join(keyDir, "alice.key");
  await writeKeyFile(keyFile, { uid, secret: new Secret(secret), sequence }, { name: "alice" });
  const configPath = join(dir, ".config/spa/client.toml");
  const stateDir = join(dir, ".local/state/spa");
  return {
    dir,
    keyFile,
    configPath,
    stateDir,
    secret,
    uid,
    sequence,
    async writeConfig(port: number, extra = "") {
      await Deno.writeTextFile(
        configPath,
        `[hosts.fake]\naddress = "127.0.0.1"\nuid = ${uid}\nkey_file = "${keyFile}"\nport = 22\n` +
          `via_port = ${port}\ntransport = "udp"\nbind_source = "none"\ntimeout = "300ms"\n` +
          `retries = 2\n${extra}`,
      );
    },
    async state(name = "fake") {
      try {
        return JSON.parse(await Deno.readTextFile(join(stateDir, "hosts", `${name}.json`)));
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return undefined;
        throw error;
      }
    },
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The `server_id` of the test server (its host entry's name, `fake`, which is the default). */
export const FAKE_SERVER_ID = "fake";

/**
 * Starts the real server rules on 127.0.0.1 (`_pipeline_server.ts`) holding `home`'s key (as the
 * server key of {@linkcode FAKE_SERVER_ID}) at `home`'s initial number (unless `options` says
 * otherwise) and points `home`'s config at it.
 */
export async function startPipelineServer(
  home: Home,
  options: Partial<PipelineServerOptions> = {},
): Promise<PipelineServer> {
  const server = await PipelineServer.start({
    secret: deriveServerKey(home.secret, FAKE_SERVER_ID),
    uid: home.uid,
    sequence: home.sequence,
    ...options,
  });
  await home.writeConfig(server.port);
  return server;
}
