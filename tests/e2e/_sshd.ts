/**
 * A real OpenSSH server (Debian `openssh-server`) in a namespace, as the protected service: host
 * and user keys made fresh, root login by key only, listening on port 22 on IPv4 and IPv6.
 *
 * sshd insists on its privilege-separation folder `/run/sshd`; it is made on a tmpfs mounted over
 * `/run` in the mount namespace `ip netns exec` gives each command, so the machine's own `/run`
 * is left alone.
 *
 * @module
 */

import type { Topology } from "../../harness/topology.ts";

/** A running sshd and how to log in to it. */
export interface Sshd {
  /** `ssh` arguments (options and login name) before the address, then `true` runs after it. */
  sshArgs(address: string, command?: string[]): string[];
}

/**
 * Starts sshd in `host` (killed with the topology) and waits until it accepts a login.
 *
 * @example
 * ```ts ignore
 * const sshd = await startSshd(topo, dir);
 * await topo.execOk("client", sshd.sshArgs("10.77.0.1"));
 * ```
 */
export async function startSshd(topo: Topology, dir: string, host = "server"): Promise<Sshd> {
  for (const [name, type] of [["host_key", "ed25519"], ["id", "ed25519"]]) {
    await run(["ssh-keygen", "-q", "-t", type!, "-N", "", "-f", `${dir}/${name}`]);
  }
  await Deno.copyFile(`${dir}/id.pub`, `${dir}/authorized_keys`);
  await Deno.writeTextFile(
    `${dir}/sshd_config`,
    [
      "Port 22",
      "ListenAddress 0.0.0.0",
      "ListenAddress ::",
      `HostKey ${dir}/host_key`,
      "PidFile none",
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      "LogLevel ERROR",
      "",
    ].join("\n"),
  );
  topo.spawn(host, [
    "sh",
    "-c",
    `mount -t tmpfs -o mode=0755 spa-sshd /run && mkdir -m 0755 /run/sshd && ` +
    `exec /usr/sbin/sshd -D -e -f ${dir}/sshd_config`,
  ], { stdout: "null", stderr: "null" });
  const sshArgs = (address: string, command = ["true"]) => [
    "ssh",
    "-F",
    "none",
    "-i",
    `${dir}/id`,
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=2",
    "-o",
    "LogLevel=ERROR",
    "-l",
    "root",
    address,
    ...command,
  ];
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = await topo.exec(host, sshArgs("127.0.0.1"));
    if (probe.code === 0) break;
    if (Date.now() > deadline) throw new Error(`Cannot start sshd: ${probe.stderr.trim()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { sshArgs };
}

async function run(argv: string[]): Promise<void> {
  const out = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdout: "null",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(`Cannot run ${argv[0]}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}
