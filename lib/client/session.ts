/**
 * Everything one command holds while it talks to a host: the key, the transport, and the host's
 * state, locked for the whole exchange so a second client for the same host waits its turn.
 *
 * @module
 */

import { SystemError } from "../../ffi/libc.ts";
import { localAddressFor } from "../../ffi/local_address.ts";
import { ConfigError } from "../config/config_error.ts";
import { type KeyFile, keyForServer, loadKeyFileSync } from "../config/key_file.ts";
import { parseAddress } from "../packet/address.ts";
import { keyFingerprint } from "../protocol/key_schedule.ts";
import { HostState, type KeyIdentity } from "../state/client_store.ts";
import { ClientError, usageError } from "./errors.ts";
import type { Target } from "./target.ts";
import type { Endpoint, Transport } from "./transport.ts";

/** Where verbose progress lines go (stderr with `--verbose`, nowhere otherwise). */
export type Log = (line: string) => void;

/** An open session: release it with `await using` or {@linkcode Session.close}. */
export interface Session extends AsyncDisposable {
  readonly target: Target;
  /** The key of the target's server (`keyForServer` of the key file). */
  readonly key: KeyFile;
  readonly identity: KeyIdentity;
  readonly state: HostState;
  readonly transport: Transport;
  readonly log: Log;
  /** Unlocks the state and closes the transport. */
  close(): Promise<void>;
}

/**
 * Loads the key, opens the transport to `port` and takes the host's state lock (waiting while
 * another client holds it).
 *
 * @throws {ClientError} (usage) For an unusable key file or one of another user; (runtime) when
 * the transport cannot be opened or the state folder cannot be written.
 * @example
 * ```ts
 * import { openSession } from "./session.ts";
 * import type { Target } from "./target.ts";
 * // Talks to a server: type-checked by `deno test --doc`, not run.
 * async function withSession(target: Target): Promise<void> {
 *   await using session = await openSession(target, 22, console.error);
 *   console.error(`sending from port ${session.transport.localPort}`);
 * }
 * ```
 */
export async function openSession(target: Target, port: number, log: Log): Promise<Session> {
  // Independent steps, started together: the transport's module loads (with `deno run`, from
  // disk) while the state lock is taken and the key file read and parsed (both with synchronous
  // calls: no turn of the event loop each). Failures are reported key first, so a bad key file is
  // still the error shown when the transport or the lock fails too.
  const transporting = openTransport(target, { address: target.address, port });
  const locking = lockState(target, log);
  const [keyResult, transportResult, stateResult] = await Promise.allSettled([
    Promise.resolve().then(() => loadKey(target)),
    transporting,
    locking,
  ]);
  if (
    keyResult.status === "rejected" || transportResult.status === "rejected" ||
    stateResult.status === "rejected"
  ) {
    if (stateResult.status === "fulfilled") stateResult.value.unlock();
    if (transportResult.status === "fulfilled") await transportResult.value.close();
    for (const result of [keyResult, transportResult, stateResult]) {
      if (result.status === "rejected") throw result.reason;
    }
  }
  const key = (keyResult as PromiseFulfilledResult<KeyFile>).value;
  const transport = (transportResult as PromiseFulfilledResult<Transport>).value;
  const state = (stateResult as PromiseFulfilledResult<HostState>).value;
  const secret = key.secret.bytes();
  const identity: KeyIdentity = {
    uid: key.uid,
    fingerprint: keyFingerprint(secret, key.uid),
    initialSequence: key.sequence,
  };
  secret.fill(0);
  log(
    `${target.transport}: sending to ${target.addressText} port ${port} from port ${transport.localPort}`,
  );
  const close = async () => {
    state.unlock();
    await transport.close();
  };
  return { target, key, identity, state, transport, log, close, [Symbol.asyncDispose]: close };
}

async function lockState(target: Target, log: Log): Promise<HostState> {
  try {
    return await HostState.lock(target.stateDir, target.stateStem, {
      onWait: () => log(`waiting: another spa-client holds the state of ${target.name}`),
    });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    throw new ClientError(
      `Cannot lock the state of ${target.name} in ${target.stateDir}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

function loadKey(target: Target): KeyFile {
  let key: KeyFile;
  try {
    key = loadKeyFileSync(target.keyFile);
  } catch (error) {
    if (error instanceof ConfigError) throw usageError(error.message, error);
    throw error;
  }
  if (key.uid !== target.uid) {
    throw usageError(
      `Cannot use key file ${target.keyFile}: it holds uid ${key.uid}, but ${target.name} is ` +
        `configured with uid ${target.uid}`,
    );
  }
  try {
    return keyForServer(key, target.serverId, target.keyFile);
  } catch (error) {
    if (error instanceof ConfigError) throw usageError(error.message, error);
    throw error;
  }
}

/**
 * Each transport's module is loaded when a knock uses it: a udp knock does not load the raw
 * socket, the ack receiver and the packet encoder (7 modules), a syn knock not the udp socket.
 */
async function openTransport(target: Target, endpoint: Endpoint): Promise<Transport> {
  switch (target.transport) {
    case "udp": {
      const { openUdpTransport } = await import("./udp_transport.ts");
      return await openUdpTransport(endpoint);
    }
    case "syn": {
      const { openSynTransport } = await import("./syn_transport.ts");
      return openSynTransport(endpoint);
    }
    default: {
      const unreachable: never = target.transport;
      throw new TypeError(`Cannot open transport: unknown transport ${unreachable}`);
    }
  }
}

/**
 * The source address a knock to `target` is bound to, or `undefined` for `--bind-source none`:
 * for `auto` the address the kernel would send from (behind a NAT the server sees another one:
 * use `none` or the public address there).
 *
 * @throws {ClientError} When there is no route to the target.
 * @example
 * ```ts
 * import { parseClientConfig } from "../config/client.ts";
 * import { bindingAddress } from "./session.ts";
 * import { resolveTarget } from "./target.ts";
 * const config = parseClientConfig(
 *   '[hosts.here]\naddress = "127.0.0.1"\nuid = 1000\nkey_file = "/k/alice.key"\n',
 *   { env: (name) => (name === "HOME" ? "/home/alice" : undefined) },
 * );
 * const target = await resolveTarget(config, "here", { bindSource: { mode: "auto" } });
 * if (bindingAddress(target)?.join(".") !== "127.0.0.1") throw new Error("the kernel's choice");
 * const unbound = await resolveTarget(config, "here", { bindSource: { mode: "none" } });
 * if (bindingAddress(unbound) !== undefined) throw new Error("--bind-source none");
 * ```
 */
export function bindingAddress(target: Target): Uint8Array | undefined {
  const bind = target.bindSource;
  switch (bind.mode) {
    case "none":
      return undefined;
    case "address":
      return parseAddress(bind.address);
    case "auto":
      try {
        return localAddressFor(target.address);
      } catch (error) {
        const reason = error instanceof SystemError ? error.reason : (error as Error).message;
        throw new ClientError(`Cannot reach ${target.addressText}: ${reason}`, { cause: error });
      }
    default: {
      const unreachable: never = bind;
      throw new TypeError(`Cannot bind: unknown mode ${JSON.stringify(unreachable)}`);
    }
  }
}
