/**
 * Regenerates the real captures under `tests/testdata/captures/` that the packet decoder tests
 * read, and their expectations as an independent dissector (tshark) sees them. Run once, as root,
 * after a change to the traffic below; the tests only read the committed files.
 *
 * ```sh
 * deno run --allow-all scripts/make_captures.ts
 * ```
 *
 * Two namespaces on the harness's hub; tcpdump runs in `server` on `eth0` (Ethernet), on `any`
 * (Linux cooked v2, and v1 with `-y LINUX_SLL`) and on a tun device (raw IP) while the client
 * pings (plain, record-route options, fragmenting sizes; v4 and v6), sends UDP, opens TCP
 * connections to an open and a closed port, and the server joins a multicast group (an MLD
 * report behind a hop-by-hop header). Frames no tool here sends are crafted and sent for real:
 * VLAN-tagged and Q-in-Q frames (this kernel has no 8021q module, so no VLAN sub-interface),
 * frames with Ethernet padding and trailing bytes, and SYN/RST segments carrying a payload go out
 * of the client's `eth0` through an AF_PACKET socket; IPv4 with options and IPv6 with extension
 * headers (destination options, routing, AH, an atomic fragment, ESP) are written into the tun
 * device (10.77.0.201 and fd77::c9 on `tun0`, the peer 10.77.0.202 and fd77::ca behind it). Both
 * paths need libc through FFI, done here in a child process (`inject`/`tun` modes).
 *
 * The hub's bridge must not trim frames to their IP length, so `bridge-nf-call-iptables` is
 * turned off in the hub namespace (br_netfilter, when loaded, would remove the padding).
 *
 * @module
 */

import { createTopology, type Topology } from "../harness/topology.ts";
import { hex, unhex } from "../tests/packet/_captures.ts";
import { clientFrames, tunPackets } from "./_capture_traffic.ts";
import { MODULE_FLAGS } from "../lib/permissions.ts";

const OUT = new URL("../tests/testdata/captures/", import.meta.url);
const text = (s: string) => new TextEncoder().encode(s);

async function run(argv: string[]): Promise<void> {
  const out = await new Deno.Command(argv[0]!, { args: argv.slice(1), stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`Cannot run ${argv.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- Child modes: raw frames out of an interface, packets into a tun device --------------------

function libc() {
  return Deno.dlopen(
    "libc.so.6",
    {
      socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
      sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
      if_nametoindex: { parameters: ["buffer"], result: "u32" },
      open: { parameters: ["buffer", "i32"], result: "i32" },
      ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
      write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
      close: { parameters: ["i32"], result: "i32" },
    } as const,
  );
}

/** Sends each hex frame out of `iface` through an AF_PACKET socket. */
function inject(iface: string, frames: Uint8Array[]): void {
  const lib = libc();
  const AF_PACKET = 17, SOCK_RAW = 3;
  const fd = lib.symbols.socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) throw new Error("Cannot open packet socket");
  const index = lib.symbols.if_nametoindex(text(`${iface}\0`));
  if (index === 0) throw new Error(`Cannot find interface ${iface}`);
  const sll = new Uint8Array(20); // struct sockaddr_ll
  const view = new DataView(sll.buffer);
  view.setUint16(0, AF_PACKET, true);
  view.setInt32(4, index, true);
  for (const frame of frames) {
    if (
      Number(lib.symbols.sendto(fd, frame, BigInt(frame.length), 0, sll, sll.length)) !==
        frame.length
    ) {
      throw new Error("Cannot send frame");
    }
  }
  lib.symbols.close(fd);
  lib.close();
}

/** Attaches to the tun device `name`, writes each packet into it, and waits for the replies. */
async function tun(name: string, packets: Uint8Array[]): Promise<void> {
  const lib = libc();
  const O_RDWR = 2, TUNSETIFF = 0x400454can, IFF_TUN = 0x0001, IFF_NO_PI = 0x1000;
  const fd = lib.symbols.open(text("/dev/net/tun\0"), O_RDWR);
  if (fd < 0) throw new Error("Cannot open /dev/net/tun");
  const ifreq = new Uint8Array(40);
  ifreq.set(text(name));
  new DataView(ifreq.buffer).setUint16(16, IFF_TUN | IFF_NO_PI, true);
  if (lib.symbols.ioctl(fd, TUNSETIFF, ifreq) < 0) throw new Error(`Cannot attach to ${name}`);
  await sleep(300); // carrier up, routes usable
  for (const packet of packets) {
    if (Number(lib.symbols.write(fd, packet, BigInt(packet.length))) !== packet.length) {
      throw new Error("Cannot write packet to tun");
    }
    await sleep(50);
  }
  await sleep(500); // the kernel's answers leave through tun0 and are captured there
  lib.symbols.close(fd);
  lib.close();
}

// ---- The run ------------------------------------------------------------------------------------

interface CaptureSpec {
  file: string;
  args: string[];
}

const CAPTURES: CaptureSpec[] = [
  { file: "ethernet.pcap", args: ["-i", "eth0"] },
  { file: "any-sll2.pcap", args: ["-i", "any"] },
  { file: "any-sll.pcap", args: ["-i", "any", "-y", "LINUX_SLL"] },
  { file: "raw.pcap", args: ["-i", "tun0"] },
];

async function waitListening(child: Deno.ChildProcess, what: string): Promise<void> {
  const reader = child.stderr.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  const deadline = Date.now() + 10_000;
  while (!seen.includes("listening on")) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()));
    });
    const chunk = await Promise.race([reader.read(), timeout]);
    clearTimeout(timer);
    if (chunk === undefined || chunk.done) throw new Error(`Cannot start tcpdump ${what}: ${seen}`);
    seen += decoder.decode(chunk.value);
  }
  reader.releaseLock();
  child.stderr.cancel().catch(() => {});
}

async function traffic(topo: Topology, work: string): Promise<void> {
  const self = import.meta.filename!;
  const deno = Deno.execPath();
  const sh = (role: string, script: string) => topo.exec(role, ["bash", "-c", script]);
  // Pings: plain, record route (IPv4 options), fragmenting; v4 and v6.
  await topo.execOk("client", ["ping", "-c1", "-W2", "10.77.0.1"]);
  await topo.execOk("client", ["ping", "-c1", "-W2", "-R", "10.77.0.1"]);
  await topo.execOk("client", ["ping", "-c1", "-W2", "-s", "2000", "10.77.0.1"]);
  await topo.execOk("client", ["ping", "-6", "-c1", "-W2", "fd77::1"]);
  await topo.execOk("client", ["ping", "-6", "-c1", "-W2", "-s", "2000", "fd77::1"]);
  // UDP to a closed port (answered by ICMP port unreachable).
  await sh(
    "client",
    "printf 'udp over ipv4 to a closed port, carrying 50 bytes' > /dev/udp/10.77.0.1/9999",
  );
  await sh(
    "client",
    "printf 'udp over ipv6 to a closed port, carrying 50 bytes' > /dev/udp/fd77::1/9999",
  );
  // TCP with data to an open port, and to a closed one (SYN, RST+ACK).
  const echo = topo.spawn("server", [
    deno,
    "eval",
    ...MODULE_FLAGS,
    `
    for (const hostname of ["10.77.0.1", "fd77::1"]) {
      const listener = Deno.listen({ hostname, port: 8080 });
      const conn = await listener.accept();
      const buffer = new Uint8Array(200);
      const n = await conn.read(buffer);
      await conn.write(buffer.subarray(0, n ?? 0));
      conn.close();
      listener.close();
    }`,
  ]);
  await sleep(1500);
  for (const host of ["10.77.0.1", "fd77::1"]) {
    await sh(
      "client",
      `exec 3<>/dev/tcp/${host}/8080 && printf 'tcp data over ${host}, echoed back' >&3 && head -c 20 <&3`,
    );
    await sh("client", `exec 3<>/dev/tcp/${host}/81`);
  }
  await echo.status;
  // An MLD report behind a hop-by-hop header: joining a solicited-node group.
  await topo.execOk("server", ["ip", "-6", "addr", "add", "fd77::99/64", "dev", "eth0", "nodad"]);
  // Crafted frames out of the client's eth0, crafted packets into the server's tun0.
  const frames = clientFrames().map(hex);
  await Deno.writeTextFile(`${work}/frames.txt`, frames.join("\n"));
  await topo.execOk("client", [
    deno,
    "run",
    ...MODULE_FLAGS,
    "--allow-all",
    self,
    "inject",
    "eth0",
    `${work}/frames.txt`,
  ]);
  await Deno.writeTextFile(`${work}/packets.txt`, tunPackets().map(hex).join("\n"));
  await topo.execOk("server", [
    deno,
    "run",
    ...MODULE_FLAGS,
    "--allow-all",
    self,
    "tun",
    "tun0",
    `${work}/packets.txt`,
  ]);
  await sleep(1500);
}

/** What tshark sees in each frame, the oracle the decoder tests compare against. */
async function expectations(file: string): Promise<unknown[]> {
  const fields = [
    "frame.protocols",
    "ip.src",
    "ip.dst",
    "ip.len",
    "ip.proto",
    "ip.flags.mf",
    "ip.frag_offset",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.plen",
    "ipv6.fraghdr.offset",
    "ipv6.fraghdr.more",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.len",
    "tcp.payload",
    "udp.srcport",
    "udp.dstport",
    "udp.length",
    "udp.payload",
    "icmp.type",
    "icmp.code",
    "icmpv6.type",
    "icmpv6.code",
  ];
  const out = await new Deno.Command("tshark", {
    args: [
      "-r",
      file,
      "-n",
      "-o",
      "ip.defragment:FALSE",
      "-o",
      "ipv6.defragment:FALSE",
      "-o",
      "tcp.desegment_tcp_streams:FALSE",
      "-o",
      "tcp.analyze_sequence_numbers:FALSE",
      "-T",
      "fields",
      "-E",
      "occurrence=f",
      "-E",
      "separator=/t",
      ...fields.flatMap((f) => ["-e", f]),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`Cannot run tshark: ${new TextDecoder().decode(out.stderr)}`);
  const lines = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "");
  return lines.map((line, index) => {
    const f = Object.fromEntries(line.split("\t").map((value, i) => [fields[i]!, value]));
    const layers = f["frame.protocols"]!.split(":");
    const ip = layers.findIndex((l) => l === "ip" || l === "ipv6");
    if (ip < 0) {
      // An EtherType naming IP on bytes tshark cannot dissect as IP (the "data" dissector took
      // them): e.g. a Q-in-Q frame on "any", where the kernel strips the outer tag and leaves the
      // inner one in front of the IPv6 header while the protocol field already says IPv6.
      const claimed = layers.some((l, i) => l === "ethertype" && layers[i + 1] === "data");
      return { frame: index, status: claimed ? "bad-ip" : "not-ip" };
    }
    const family = layers[ip] === "ip" ? 4 : 6;
    const set = (name: string) => !["", "0", "False"].includes(f[name] ?? "");
    if (
      set("ip.flags.mf") || set("ip.frag_offset") || set("ipv6.fraghdr.offset") ||
      set("ipv6.fraghdr.more")
    ) {
      return { frame: index, status: "fragment" };
    }
    const transport = layers.slice(ip + 1).find((l) =>
      ["tcp", "udp", "icmp", "icmpv6", "esp"].includes(l)
    );
    const p = family === 4 ? "ip" : "ipv6";
    const base = {
      frame: index,
      status: "ok",
      family,
      source: f[`${p}.src`],
      destination: f[`${p}.dst`],
      ipLength: family === 4 ? Number(f["ip.len"]) : 40 + Number(f["ipv6.plen"]),
    };
    switch (transport) {
      case "tcp":
        return {
          ...base,
          protocol: 6,
          sourcePort: Number(f["tcp.srcport"]),
          destinationPort: Number(f["tcp.dstport"]),
          tcpFlags: Number(f["tcp.flags"]) & 0xff,
          tcpSequence: Number(f["tcp.seq_raw"]),
          tcpAcknowledgment: Number(f["tcp.ack_raw"]),
          payloadLength: Number(f["tcp.len"]),
          // tshark shows the data of a RST as a "reset cause", not as tcp.payload.
          ...(f["tcp.payload"] === "" ? {} : { payload: f["tcp.payload"]!.replaceAll(":", "") }),
        };
      case "udp":
        return {
          ...base,
          protocol: 17,
          sourcePort: Number(f["udp.srcport"]),
          destinationPort: Number(f["udp.dstport"]),
          payloadLength: Number(f["udp.length"]) - 8,
          payload: f["udp.payload"]!.replaceAll(":", ""),
        };
      case "icmp":
        return {
          ...base,
          protocol: 1,
          icmpType: Number(f["icmp.type"]),
          icmpCode: Number(f["icmp.code"]),
        };
      case "icmpv6":
        return {
          ...base,
          protocol: 58,
          icmpType: Number(f["icmpv6.type"]),
          icmpCode: Number(f["icmpv6.code"]),
        };
      case "esp":
        return { ...base, protocol: 50 };
      default:
        if (family === 4) return { ...base, protocol: Number(f["ip.proto"]) }; // IGMP, say
        throw new Error(
          `Cannot name the transport of frame ${index} of ${file}: ${f["frame.protocols"]}`,
        );
    }
  });
}

async function writeExpectations(file: string): Promise<number> {
  const target = new URL(file, OUT);
  const expected = await expectations(target.pathname);
  const json = new URL(file.replace(/\.pcap$/, ".json"), OUT);
  await Deno.writeTextFile(json, JSON.stringify(expected, null, 1) + "\n");
  return expected.length;
}

async function main(): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: "spa-captures-" });
  try {
    await using topo = await createTopology(["server", "client"], { noOffload: true });
    // With br_netfilter loaded, the hub's bridge trims IP frames to their IP length before
    // forwarding them (br_validate_ipv4): the Ethernet padding this script sends would vanish.
    await run([
      "ip",
      "netns",
      "exec",
      topo.hubNs,
      "sysctl",
      "-qw",
      "net.bridge.bridge-nf-call-iptables=0",
      "net.bridge.bridge-nf-call-ip6tables=0",
    ]);
    for (
      const argv of [
        ["ip", "tuntap", "add", "mode", "tun", "name", "tun0"],
        ["ip", "link", "set", "tun0", "up"],
        ["ip", "addr", "add", "10.77.0.201", "peer", "10.77.0.202", "dev", "tun0"],
        ["ip", "-6", "addr", "add", "fd77::c9/128", "dev", "tun0", "nodad"],
        ["ip", "-6", "route", "add", "fd77::ca/128", "dev", "tun0"],
      ]
    ) await topo.execOk("server", argv);
    const dumps = CAPTURES.map((spec) => ({
      spec,
      child: topo.spawn("server", [
        "tcpdump",
        "-n",
        "-U",
        "--immediate-mode",
        "-Z",
        "root",
        "-w",
        `${work}/${spec.file}`,
        ...spec.args,
      ], { stdout: "null" }),
    }));
    for (const { spec, child } of dumps) await waitListening(child, spec.args.join(" "));
    await traffic(topo, work);
    for (const { child } of dumps) child.kill("SIGINT");
    for (const { child } of dumps) await child.status;
    await Deno.mkdir(OUT, { recursive: true });
    for (const { spec } of dumps) {
      await Deno.copyFile(`${work}/${spec.file}`, new URL(spec.file, OUT));
      console.log(`${spec.file}: ${await writeExpectations(spec.file)} frames`);
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

const [mode, name, list] = Deno.args;
if (mode === "inject" || mode === "tun") {
  const items = (await Deno.readTextFile(list!)).split("\n").filter((l) => l !== "").map(unhex);
  if (mode === "inject") inject(name!, items);
  else await tun(name!, items);
} else if (mode === "expectations") {
  // Rewrites only the JSON files from the committed captures (no root needed).
  for (const { file } of CAPTURES) console.log(`${file}: ${await writeExpectations(file)} frames`);
} else if (import.meta.main) {
  await main();
}
