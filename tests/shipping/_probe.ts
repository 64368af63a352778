/**
 * A probe started by the permission tests under exactly a shipped permission set (`deno run
 * <flags> _probe.ts OP ARG...`): it tries the one operation named on its command line and prints
 * `ok`, or the name of the error class it got (e.g. `NotCapable`), on one line of stdout. The
 * error message goes to stderr. It always exits 0 when it could print, so the tests tell a refused
 * operation from a broken probe.
 *
 * Operations: `read PATH`, `write PATH`, `stat PATH`, `run PROGRAM [ARG...]`, `command PROGRAM
 * [ARG...]` (through the daemon's own `runCommand`), `listen-tcp`, `listen-udp`,
 * `listen-unix PATH`, `connect-tcp HOST PORT`, `env NAME`, `os-release`, `hostname`,
 * `dlopen PATH`, `pointer`, `import URL`.
 *
 * @module
 */

import { createSocket } from "node:dgram";
import { runCommand } from "../../lib/server/commands.ts";
import { Logger } from "../../lib/server/log.ts";

async function attempt(op: string, args: string[]): Promise<void> {
  const [a = "", b = ""] = args;
  switch (op) {
    case "read":
      await Deno.readFile(a);
      return;
    case "write":
      await Deno.writeTextFile(a, "probe\n");
      return;
    case "stat":
      await Deno.stat(a);
      return;
    case "run": {
      const out = await new Deno.Command(a, { args: args.slice(1), stdout: "null", stderr: "null" })
        .output();
      if (!out.success) throw new Error(`Cannot run ${a}: exit code ${out.code}`);
      return;
    }
    case "command": {
      const lines: string[] = [];
      const code = await runCommand(
        args,
        { user: "probe", address: "192.0.2.1", protocol: "tcp", port: 22 },
        { timeoutMs: 5_000, log: new Logger("json", (line) => lines.push(line)), label: "on_open" },
      );
      console.error(lines.join("\n"));
      if (code !== 0) {
        const reason = lines.map((l) => JSON.parse(l) as { reason?: string }).find((l) => l.reason)
          ?.reason ?? `exit code ${code}`;
        const error = new Error(reason);
        error.name = /Requires run access|NotCapable/.test(reason) ? "NotCapable" : "CommandFailed";
        throw error;
      }
      return;
    }
    case "listen-tcp":
      Deno.listen({ hostname: "127.0.0.1", port: 0 }).close();
      return;
    case "listen-udp": {
      // node:dgram needs no --unstable-net (only the client runs with it), so this probe works
      // under both programs' flags.
      const socket = createSocket("udp4");
      await new Promise<void>((resolve, reject) => {
        socket.once("error", reject);
        socket.bind(0, "127.0.0.1", () => resolve());
      }).finally(() => socket.close());
      return;
    }
    case "listen-unix":
      Deno.listen({ transport: "unix", path: a }).close();
      return;
    case "connect-tcp":
      (await Deno.connect({ hostname: a, port: Number(b) })).close();
      return;
    case "env":
      Deno.env.get(a);
      return;
    case "os-release":
      Deno.osRelease();
      return;
    case "hostname":
      Deno.hostname();
      return;
    case "dlopen":
      Deno.dlopen(a, {}).close();
      return;
    case "pointer":
      Deno.UnsafePointer.of(new Uint8Array(8));
      return;
    case "import":
      await import(a);
      return;
    default:
      throw new TypeError(`Cannot probe: unknown operation ${JSON.stringify(op)}`);
  }
}

function report(error: unknown): void {
  if (error instanceof TypeError && error.message.startsWith("Cannot probe")) throw error;
  const name = !(error instanceof Error)
    ? typeof error
    : error.constructor.name === "Error"
    ? error.name
    : error.constructor.name;
  console.log(name);
  console.error(error instanceof Error ? error.message : String(error));
}

// Some node: APIs (e.g. dgram's bind) throw their permission error from a later tick.
globalThis.addEventListener("error", (event) => {
  event.preventDefault();
  report(event.error);
  Deno.exit(0);
});

const [op = "", ...rest] = Deno.args;
try {
  await attempt(op, rest);
  console.log("ok");
} catch (error) {
  report(error);
}
