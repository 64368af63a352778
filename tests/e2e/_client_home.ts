/**
 * A `spa-client` user for namespace tests and the demo: a throwaway home with key files and a
 * client config, and `spa-client` run inside a host of a topology with exactly the shipped
 * permission flags.
 *
 * @module
 */

import { join } from "node:path";
import { writeKeyFile } from "../../lib/config/key_file.ts";
import { Secret } from "../../lib/config/secret.ts";
import type { ServerSetup } from "../../harness/spa_server.ts";
import type { ExecResult, Topology } from "../../harness/topology.ts";
import { cacheDir, clientArgv } from "../client/_helpers.ts";

/** A host entry of the client config. */
export interface ClientHostEntry {
  /** The `[hosts.NAME]` name. */
  name: string;
  address: string;
  /** The server user whose key it uses. */
  user: string;
  port?: number;
  transport?: "syn" | "udp";
  /** More TOML lines of the host table. */
  extra?: string[];
}

/**
 * The host entry most namespace tests use: host `web` at `address` (the topology's first host,
 * the server, by default), alice's key, port 22, over udp.
 *
 * @example
 * ```ts
 * import { udpWebHost } from "./_client_home.ts";
 * if (udpWebHost().transport !== "udp" || udpWebHost("10.77.0.9").name !== "web") throw new Error();
 * ```
 */
export function udpWebHost(address = "10.77.0.1"): ClientHostEntry {
  return { name: "web", address, user: "alice", port: 22, transport: "udp" };
}

/** A client home; `await using` removes it. */
export interface ClientHome extends AsyncDisposable {
  dir: string;
  /** Key file of a server user, by name. */
  keyFile(user: string): string;
  /** Runs `spa-client args` in `host` (default `client`) and waits for it. */
  run(topo: Topology, args: readonly string[], host?: string): Promise<ExecResult>;
  /** Starts `spa-client args` in `host` (default `client`). */
  spawn(topo: Topology, args: readonly string[], host?: string): Deno.ChildProcess;
  /** The client's stored sequence state of a host, or undefined. */
  state(host: string): Promise<Record<string, unknown> | undefined>;
}

/**
 * Writes, for every user of `setup`, a client key file holding the server's secret and initial
 * sequence number, and a client config with `hosts`.
 *
 * @example
 * ```ts ignore
 * await using home = await makeClientHome(setup, [{ name: "web", address: "10.77.0.1", user: "alice" }]);
 * const run = await home.run(topo, ["--host", "web", "--port", "22"]);
 * ```
 */
export async function makeClientHome(
  setup: ServerSetup,
  hosts: readonly ClientHostEntry[],
): Promise<ClientHome> {
  const dir = await Deno.makeTempDir({ prefix: "spa-client-home-" });
  const keyDir = join(dir, ".config/spa/keys");
  await Deno.mkdir(keyDir, { recursive: true, mode: 0o700 });
  const users = new Map(setup.users.map((u) => [u.name, u]));
  for (const user of setup.users) {
    await writeKeyFile(join(keyDir, `${user.name}.key`), {
      uid: user.uid,
      secret: new Secret(user.secret),
      sequence: user.sequence,
    });
  }
  const lines: string[] = [];
  for (const host of hosts) {
    const user = users.get(host.user);
    if (user === undefined) {
      throw new RangeError(`Cannot write client config: no user ${host.user}`);
    }
    lines.push(
      `[hosts.${host.name}]`,
      `address = "${host.address}"`,
      `server_id = "${setup.serverId}"`,
      `uid = ${user.uid}`,
      `key_file = "${join(keyDir, `${host.user}.key`)}"`,
      ...(host.port === undefined ? [] : [`port = ${host.port}`]),
      `transport = "${host.transport ?? "syn"}"`,
      ...(host.extra ?? []),
      "",
    );
  }
  await Deno.writeTextFile(join(dir, ".config/spa/client.toml"), lines.join("\n"));
  const env = { HOME: dir, DENO_DIR: await cacheDir() };
  const argv = (args: readonly string[]) => [Deno.execPath(), ...clientArgv(args)];
  return {
    dir,
    keyFile: (user) => join(keyDir, `${user}.key`),
    run: (topo, args, host = "client") => topo.exec(host, argv(args), { env }),
    spawn: (topo, args, host = "client") => topo.spawn(host, argv(args), { env }),
    async state(host) {
      try {
        const text = await Deno.readTextFile(join(dir, ".local/state/spa/hosts", `${host}.json`));
        return JSON.parse(text).sequence;
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
