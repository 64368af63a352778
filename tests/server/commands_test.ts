import { equal, ok } from "node:assert/strict";
import { runCommand } from "../../lib/server/commands.ts";
import { Logger } from "../../lib/server/log.ts";

const event = { user: "alice", address: "10.77.0.2", protocol: "tcp" as const, port: 22 };

function logger() {
  const lines: string[] = [];
  return { lines, log: new Logger("text", (line) => lines.push(line)) };
}

Deno.test("runCommand: argv, never a shell, with SPA_* in the environment and output logged", async () => {
  const { lines, log } = logger();
  const code = await runCommand(
    ["sh", "-c", 'echo "$SPA_USER $SPA_ADDRESS $SPA_PROTO $SPA_PORT"', "x; rm -rf /"],
    event,
    {
      timeoutMs: 5000,
      log,
      label: "on_open",
    },
  );
  equal(code, 0);
  ok(lines.some((l) => l.includes('line="alice 10.77.0.2 tcp 22"')), lines.join("\n"));
  // A single argv element with shell syntax stays one argument.
  const echo = await runCommand(["echo", "a; echo injected"], event, {
    timeoutMs: 5000,
    log,
    label: "on_open",
  });
  equal(echo, 0);
  ok(lines.some((l) => l.includes('line="a; echo injected"')));
});

Deno.test("runCommand: a command over its time limit is killed and reported", async () => {
  const { lines, log } = logger();
  const started = performance.now();
  const code = await runCommand(["sleep", "10"], event, { timeoutMs: 200, log, label: "on_close" });
  equal(code, -1);
  ok(performance.now() - started < 5000);
  ok(
    lines.some((l) => l.includes("command-failed") && l.includes("killed after 200 ms")),
    lines.join("\n"),
  );
});

Deno.test("runCommand: a missing program or a failing one is logged, never thrown", async () => {
  const { lines, log } = logger();
  equal(
    await runCommand(["/nonexistent/program"], event, { timeoutMs: 1000, log, label: "on_open" }),
    -1,
  );
  equal(await runCommand(["false"], event, { timeoutMs: 1000, log, label: "on_open" }), 1);
  ok(lines.some((l) => l.includes("command-failed")));
  ok(lines.some((l) => l.includes("error command-done") && l.includes("exit=1")));
});
