/**
 * Loading libpcap and libc, errno mapping, and the privilege errors of `Capture` and `RawSocket`.
 * No root needed (as root, the privilege tests drop CAP_NET_RAW in a child with `setpriv`).
 */

import { deepStrictEqual as assertEquals, equal, ok as assert } from "node:assert/strict";
import { catchError } from "./_helpers.ts";
import { LIBC_CANDIDATES, LIBPCAP_CANDIDATES } from "../../ffi/library_paths.ts";
import { loadLibpcap } from "../../ffi/libpcap.ts";
import {
  cString,
  loadLibc,
  readCString,
  readErrno,
  socketAddress,
  SystemError,
  systemError,
} from "../../ffi/libc.ts";
import { localAddressFor } from "../../ffi/local_address.ts";
import { RawSocket } from "../../ffi/raw_socket.ts";
import { clientFlags, MODULE_FLAGS } from "../../lib/permissions.ts";

const EBADF = 9;

Deno.test("loadLibpcap loads a standard libpcap", () => {
  const version = readCString(loadLibpcap().pcap_lib_version());
  assert(version.startsWith("libpcap version "), version);
});

Deno.test("loadLibpcap names the Debian package when the library is missing", () => {
  const error = catchError(() => loadLibpcap("/nonexistent/libpcap.so.1"), Error);
  equal(
    error.message,
    "Cannot load libpcap: none of /nonexistent/libpcap.so.1 could be opened; " +
      "install the Debian package libpcap0.8",
  );
  assert(error.cause instanceof Error);
});

Deno.test("loaders pass a permission error through unchanged", async () => {
  // Only libc is allowed, so opening libpcap must fail with Deno's own NotCapable.
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      script,
      `import { loadLibpcap } from ${JSON.stringify(import.meta.resolve("../../ffi/libpcap.ts"))};
      try { loadLibpcap(); console.log("loaded"); } catch (e) { console.log(e.name); }`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...MODULE_FLAGS,
        "--no-prompt",
        `--allow-ffi=${LIBC_CANDIDATES.join(",")}`,
        script,
      ],
      stdout: "piped",
    }).output();
    equal(new TextDecoder().decode(out.stdout).trim(), "NotCapable");
  } finally {
    await Deno.remove(script);
  }
});

Deno.test("readErrno reads the errno of the last failed call", () => {
  equal(loadLibc().close(-1), -1);
  equal(readErrno(), EBADF);
  const error = systemError("close a socket");
  equal(error.code, "EBADF");
  equal(error.errno, EBADF);
  equal(error.name, "SystemError");
  equal(error.message, "Cannot close a socket: bad file descriptor (EBADF)");
});

Deno.test("the errno of a process's first failed libc call survives binding the errno symbols", async () => {
  // loadLibc() binds __errno_location and its helpers only when a call has failed: the first
  // failure of a fresh process (with the client's flags) must still read its own errno.
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      script,
      `import { loadLibc, systemError } from ${
        JSON.stringify(import.meta.resolve("../../ffi/libc.ts"))
      };
      const libc = loadLibc();
      const failed = [libc.close(-1) === -1 ? systemError("close").code : "closed"];
      failed.push(libc.socket(12345, 2, 0) === -1 ? systemError("open").code : "opened");
      console.log(failed.join(" "));`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...clientFlags(), script],
      stdout: "piped",
    }).output();
    equal(new TextDecoder().decode(out.stdout).trim(), "EBADF EAFNOSUPPORT");
  } finally {
    await Deno.remove(script);
  }
});

Deno.test("systemError maps EPERM and EACCES to the missing privilege", () => {
  equal(
    systemError("open a raw socket", 1).message,
    "Cannot open a raw socket: needs root or CAP_NET_RAW (EPERM)",
  );
  equal(systemError("open a raw socket", 13).code, "EACCES");
  assert(systemError("x", 13).message.includes("needs root or CAP_NET_RAW"));
  equal(new SystemError("x", 4095, "odd").code, "E4095");
});

Deno.test("cString adds a NUL and refuses an embedded one", () => {
  assertEquals(cString("ab"), new Uint8Array([0x61, 0x62, 0]));
  catchError(() => cString("a\0b"), TypeError);
});

Deno.test("socketAddress lays out sockaddr_in and sockaddr_in6", () => {
  assertEquals(
    socketAddress(new Uint8Array([10, 77, 0, 1]), 0x1234),
    new Uint8Array([2, 0, 0x12, 0x34, 10, 77, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
  );
  const v6 = new Uint8Array(16).fill(0xfd);
  const address = socketAddress(v6, 9);
  equal(address.length, 28);
  assertEquals([...address.subarray(0, 8)], [10, 0, 0, 9, 0, 0, 0, 0]);
  assertEquals(address.subarray(8, 24), v6);
  catchError(() => socketAddress(new Uint8Array(5)), TypeError);
});

Deno.test("localAddressFor finds the loopback source for a loopback destination", () => {
  assertEquals(localAddressFor(new Uint8Array([127, 0, 0, 1])), new Uint8Array([127, 0, 0, 1]));
  catchError(() => localAddressFor(new Uint8Array(3)), TypeError);
});

Deno.test("RawSocket checks its arguments", () => {
  catchError(() => RawSocket.open(5 as 4), TypeError);
});

/** Runs `script` with CAP_NET_RAW removed (when root) and returns its stdout lines. */
async function withoutNetRaw(script: string): Promise<string[]> {
  const deno = [Deno.execPath(), "eval", ...MODULE_FLAGS, "--allow-ffi", script];
  const argv = Deno.uid() === 0
    ? ["setpriv", "--bounding-set=-net_raw,-net_admin", "--inh-caps=-net_raw,-net_admin", ...deno]
    : deno;
  const out = await new Deno.Command(argv[0]!, { args: argv.slice(1), stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).trim().split("\n");
}

Deno.test("without CAP_NET_RAW, RawSocket and Capture say it is needed", async () => {
  const lines = await withoutNetRaw(`
    import { RawSocket } from ${JSON.stringify(import.meta.resolve("../../ffi/raw_socket.ts"))};
    import { Capture } from ${JSON.stringify(import.meta.resolve("../../ffi/pcap.ts"))};
    for (const open of [() => RawSocket.open(4), () => RawSocket.open(6), () => Capture.open("lo")]) {
      try { open(); console.log("opened"); } catch (e) { console.log(e.name + ": " + e.message); }
    }
  `);
  assertEquals(lines.slice(0, 2), [
    "SystemError: Cannot open a raw IPv4 socket: needs root or CAP_NET_RAW (EPERM)",
    "SystemError: Cannot open a raw IPv6 socket: needs root or CAP_NET_RAW (EPERM)",
  ]);
  assert(
    lines[2]?.startsWith("PcapError: Cannot open capture on lo: needs root or CAP_NET_RAW ("),
    lines[2],
  );
});

Deno.test("LIBPCAP_CANDIDATES holds a library present on this machine", () => {
  assert(
    LIBPCAP_CANDIDATES.some((path) => {
      try {
        return Deno.statSync(path).isFile;
      } catch {
        return false;
      }
    }),
    "install the Debian package libpcap0.8",
  );
});
