import { deepStrictEqual, equal, throws } from "node:assert/strict";
import type { Capture } from "../../ffi/pcap.ts";
import { PcapError } from "../../ffi/pcap.ts";
import { CAPTURE_RETRY_MS, CaptureSupervisor } from "../../lib/server/capture_supervisor.ts";
import { Logger } from "../../lib/server/log.ts";

/** A capture whose serve() ends when the test says: fails (interface gone) or closes. */
class FakeCapture {
  closed = false;
  #end!: (error?: Error) => void;
  readonly served = new Promise<void>((resolve, reject) => {
    this.#end = (error) => (error ? reject(error) : resolve());
  });
  close(): void {
    this.closed = true;
    this.#end();
  }
  fail(): void {
    this.#end(new PcapError("Cannot read packets on eth0: The interface disappeared", -1));
  }
}

function world() {
  const events: string[] = [];
  const state = { present: true, openError: undefined as Error | undefined };
  const captures: FakeCapture[] = [];
  const fatal: string[] = [];
  const deps = {
    open: (name: string) => {
      if (!state.present) throw new PcapError(`Cannot open capture on ${name}: no such device`, -5);
      if (state.openError) throw state.openError;
      const capture = new FakeCapture();
      captures.push(capture);
      return capture as unknown as Capture;
    },
    serve: (capture: Capture) => (capture as unknown as FakeCapture).served,
    exists: () => state.present,
    fatal: (name: string, error: Error) => void fatal.push(`${name}: ${error.message}`),
    log: new Logger("text", (line) => events.push(line.split(" ")[2]!)),
    now: () => 0,
  };
  return { events, state, captures, fatal, deps };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, CAPTURE_RETRY_MS * 2));

Deno.test("CaptureSupervisor: interface lost, then back: waiting, then capturing again", async () => {
  const w = world();
  const supervisor = CaptureSupervisor.start("eth0", w.deps);
  equal(supervisor.state, "capturing");
  w.state.present = false;
  w.captures[0]!.fail();
  await tick();
  equal(supervisor.state, "waiting");
  equal(supervisor.capture, undefined);
  w.state.present = true;
  await tick();
  equal(supervisor.state, "capturing");
  equal(w.captures.length, 2);
  await supervisor.stop();
  equal(supervisor.state, "stopped");
  equal(w.captures[1]!.closed, true);
  deepStrictEqual(w.events, ["capture-lost", "capture-resumed"]);
  deepStrictEqual(w.fatal, []);
});

Deno.test("CaptureSupervisor: a missing interface at start is waited for, not an error", async () => {
  const w = world();
  w.state.present = false;
  const supervisor = CaptureSupervisor.start("eth9", w.deps);
  equal(supervisor.state, "waiting");
  await tick();
  equal(supervisor.state, "waiting");
  w.state.present = true;
  await tick();
  equal(supervisor.state, "capturing");
  await supervisor.stop();
  await supervisor.stop();
  deepStrictEqual(w.events, ["capture-waiting", "capture-resumed"]);
});

Deno.test("CaptureSupervisor: a capture that cannot work is fatal: at start it throws", () => {
  const w = world();
  w.state.openError = new SyntaxError("Cannot set filter: syntax error");
  throws(() => CaptureSupervisor.start("eth0", w.deps), SyntaxError);
});

Deno.test("CaptureSupervisor: a capture that cannot work on reopen stops and reports fatal", async () => {
  const w = world();
  const supervisor = CaptureSupervisor.start("eth0", w.deps);
  w.state.openError = new PcapError("Cannot open capture on eth0: permission denied", -8);
  w.captures[0]!.fail();
  await tick();
  equal(supervisor.state, "stopped");
  deepStrictEqual(w.fatal, ["eth0: Cannot open capture on eth0: permission denied"]);
  deepStrictEqual(w.events, ["capture-lost", "capture-failed"]);
});

Deno.test("CaptureSupervisor: an interface gone while libpcap reports nothing ends the capture", async () => {
  const w = world();
  const supervisor = CaptureSupervisor.start("eth0", w.deps);
  equal(supervisor.state, "capturing");
  // The interface is deleted; the capture itself never fails (an idle link, no read).
  w.state.present = false;
  await tick();
  equal(supervisor.state, "waiting");
  equal(w.captures[0]!.closed, true);
  w.state.present = true;
  await tick();
  equal(supervisor.state, "capturing");
  await supervisor.stop();
  deepStrictEqual(w.events, ["capture-lost", "capture-resumed"]);
});
