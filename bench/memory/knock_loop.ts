/**
 * The knocking side of `bench/memory.ts`, run inside the client namespace: knocks `--count` times
 * over UDP as one user (a real knock each: its own sequence number, sealed, acked, verified,
 * rolled, as spa-client does), one after the other, and prints `knocks N` after every `--every`
 * acked knocks. A knock whose ack does not come within 1 s is sent again (a retransmission).
 *
 * Arguments: `--setup JSON` (uid, secret hex, sequence, serverId), `--server ADDR`, `--count N`,
 * `--every N`. Needs `--unstable-net` (Deno.listenDatagram).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Knocker, unhex } from "../../harness/knocker.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    setup: { type: "string" },
    server: { type: "string" },
    count: { type: "string", default: "10000" },
    every: { type: "string", default: "500" },
  },
});
const user = JSON.parse(values.setup!) as {
  uid: number;
  secret: string;
  sequence: number;
  serverId: string;
};
const knocker = new Knocker({ ...user, secret: unhex(user.secret) });
const count = Number(values.count);
const every = Number(values.every);
const socket = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
const target: Deno.NetAddr = { transport: "udp", hostname: values.server!, port: 22 };

async function receive(timeoutMs: number): Promise<Uint8Array | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((
    resolve,
  ) => (timer = setTimeout(() => resolve(undefined), timeoutMs)));
  const received = pending ??= socket.receive();
  const result = await Promise.race([received, timeout]);
  clearTimeout(timer);
  if (result === undefined) return undefined;
  pending = undefined;
  return result[0];
}
let pending: Promise<[Uint8Array, Deno.Addr]> | undefined;

const start = performance.now();
let resent = 0;
for (let i = 1; i <= count; i++) {
  const { trailer, next } = knocker.knock(22, "tcp");
  for (let attempt = 0;; attempt++) {
    if (attempt > 0) resent++;
    if (attempt > 10) throw new Error(`Cannot knock: no ack for knock ${i} after 10 tries`);
    await socket.send(trailer, target);
    const answer = await receive(1000);
    if (answer === undefined) continue;
    try {
      knocker.verifyAck(answer, trailer, next);
    } catch {
      continue; // an ack of an earlier knock arriving late
    }
    break;
  }
  knocker.sequence = next;
  if (i % every === 0) {
    console.log(`knocks ${i} ${Math.round(performance.now() - start)} ${resent}`);
  }
}
socket.close();
