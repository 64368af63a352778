/**
 * Run by `capture_netns_test.ts` inside the server namespace with exactly the `spa-server`
 * permission flags: proves raw pointers are refused there, yet `Capture` and `RawSocket` work.
 * Usage: `deno run <serverPermissionFlags> scoped_child.ts <client IPv4> <client IPv6>`.
 * Prints one JSON report.
 */

import { Capture } from "../../ffi/pcap.ts";
import { RawSocket } from "../../ffi/raw_socket.ts";
import { localAddressFor } from "../../ffi/local_address.ts";
import { encodeUdpPacket, parseAddress } from "../../lib/packet/mod.ts";

const [client4, client6] = Deno.args.map((text) => parseAddress(text)!);
if (client4 === undefined || client6 === undefined) throw new TypeError("usage: <ipv4> <ipv6>");

let pointersRefused = "allowed";
try {
  Deno.UnsafePointer.create(1n);
} catch (error) {
  pointersRefused = (error as Error).name;
}

const payload = new TextEncoder().encode("spa scoped-permission probe, 37 byte");
const packets = [client4, client6].map((destination) =>
  encodeUdpPacket({
    source: localAddressFor(destination),
    destination,
    sourcePort: 40005,
    destinationPort: 9,
    payload,
  })
);
const captured = [false, false];
using capture = Capture.open("eth0", { filter: "udp and src port 40005" });
const stop = new AbortController();
const timer = setTimeout(() => stop.abort(), 5000);
const running = capture.run((frame, length) => {
  for (const [i, packet] of packets.entries()) {
    const start = length - packet.length;
    if (start >= 0 && packet.every((byte, j) => frame[start + j] === byte)) captured[i] = true;
  }
  if (captured.every(Boolean)) stop.abort();
}, stop.signal);
const sent = [false, false];
for (const [i, family] of ([4, 6] as const).entries()) {
  using socket = RawSocket.open(family);
  socket.send(packets[i]!, family === 4 ? client4 : client6);
  sent[i] = true;
}
await running;
clearTimeout(timer);
console.log(JSON.stringify({
  pointersRefused,
  linkType: capture.linkType,
  sent4: sent[0],
  sent6: sent[1],
  captured4: captured[0],
  captured6: captured[1],
  dropped: capture.stats().dropped,
}));
