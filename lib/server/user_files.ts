/**
 * What the daemon does with a broken file of `users_dir` (a typo, a half-written file, a key file
 * with loose permissions): the other users are never affected, and that user gets at most what her
 * last good file gave her.
 *
 * - A broken file of a user already loaded from a good version keeps that last good version (the
 *   policy and the key): configuration management rewriting a file does not lock her out, and a
 *   broken file can never grant more than the last good one did. Logged as `user-file-invalid`
 *   with `kept=previous`.
 * - A broken file with no good version before (new user, or the daemon just started) loads no
 *   user: `user-file-invalid kept=none`.
 * - A removed file removes its user: her grants are revoked at once (`revoke.ts`).
 * - A last good version is not kept when a good file now claims its uid or name.
 *
 * `spa-server check-config` reports every broken file and exits 2, so a deployment can check
 * before it reloads.
 *
 * @module
 */

import type { KeyFile } from "../config/key_file.ts";
import { formatPortSpec } from "../config/port_spec.ts";
import type { PortConfig, ServerConfig, UserConfig } from "../config/server.ts";
import type { LoadedServerConfig } from "../config/server_load.ts";
import type { Logger } from "./log.ts";

interface Good {
  readonly user: UserConfig;
  readonly key: KeyFile;
}

/**
 * The last good version of each user file, and the policy above.
 *
 * @example
 * ```ts
 * import { writeKeyFile } from "../config/key_file.ts";
 * import { Secret } from "../config/secret.ts";
 * import { loadServerConfig } from "../config/server_load.ts";
 * import { Logger } from "./log.ts";
 * import { UserFiles } from "./user_files.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/users.d`);
 * const secret = new Secret(crypto.getRandomValues(new Uint8Array(32)));
 * await writeKeyFile(`${dir}/bob.key`, { uid: 1001, secret, sequence: 77 });
 * await Deno.writeTextFile(
 *   `${dir}/server.toml`,
 *   `server_id = "web1"\ninterfaces = ["lo"]\nstate_dir = "state"\nusers_dir = "users.d"\n`,
 * );
 * const bob = `uid = 1001\nname = "bob"\nkey_file = "../bob.key"\nports = ["tcp/22"]\n`;
 * await Deno.writeTextFile(`${dir}/users.d/bob.toml`, bob);
 * const files = new UserFiles();
 * const log = new Logger("text", () => {});
 * const load = () => loadServerConfig(`${dir}/server.toml`, { strict: false });
 * files.apply(await load(), log);
 * await Deno.writeTextFile(`${dir}/users.d/bob.toml`, bob.replace("tcp/22", "tcp/0")); // broken
 * const reloaded = await load();
 * if (reloaded.broken.length !== 1) throw new Error("port 0 is refused");
 * const { config, keys } = files.apply(reloaded, log);
 * if (config.users[0]?.name !== "bob" || !keys.has(1001)) throw new Error("bob's last good file");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class UserFiles {
  #lastGood = new Map<string, Good>();

  /**
   * The users to run with: the loaded ones, plus the last good version of each broken file that
   * had one. Logs one `user-file-invalid` line per broken file. Call only once the load is used
   * (the last good versions move on).
   */
  apply(
    loaded: LoadedServerConfig,
    log: Logger,
  ): { config: ServerConfig; keys: ReadonlyMap<number, KeyFile> } {
    const next = new Map<string, Good>();
    const byUid = new Map(loaded.config.users.map((u) => [u.uid, u]));
    for (const [uid, file] of loaded.userFiles) {
      const user = byUid.get(uid);
      const key = loaded.keys.get(uid);
      if (user !== undefined && key !== undefined) next.set(file, { user, key });
    }
    if (loaded.broken.length === 0) {
      this.#lastGood = next;
      return loaded;
    }
    const uids = new Set(loaded.config.users.map((u) => u.uid));
    const names = new Set(loaded.config.users.map((u) => u.name));
    const users = [...loaded.config.users];
    const keys = new Map(loaded.keys);
    const ports = new Map<string, PortConfig>(loaded.config.ports.map((p) => [p.key, p]));
    for (const broken of loaded.broken) {
      const good = this.#lastGood.get(broken.file);
      const keep = good !== undefined && !uids.has(good.user.uid) && !names.has(good.user.name);
      log.error("user-file-invalid", {
        file: broken.file,
        kept: keep ? "previous" : "none",
        reason: broken.problems.map((line) => line.replace(`${broken.file}: `, "")).join("; "),
      });
      if (!keep) continue;
      users.push(good.user);
      keys.set(good.user.uid, good.key);
      uids.add(good.user.uid);
      names.add(good.user.name);
      next.set(broken.file, good);
      for (const spec of good.user.ports) {
        const key = formatPortSpec(spec);
        if (!ports.has(key)) {
          ports.set(key, { ...spec, key, idleTimeoutMs: loaded.config.idleTimeoutMs });
        }
      }
    }
    this.#lastGood = next;
    return {
      config: Object.freeze({ ...loaded.config, users, ports: [...ports.values()] }),
      keys,
    };
  }
}
