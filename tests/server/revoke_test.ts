import { deepStrictEqual, equal } from "node:assert/strict";
import { parseCidr, SourceList } from "../../lib/config/cidr.ts";
import { forgetRevokedKnocks, revocations } from "../../lib/server/revoke.ts";
import type { LastAccepted, UserPolicy } from "../../lib/server/users.ts";

function policy(name: string, ports: string[], sources = ["0.0.0.0/0", "::/0"]): UserPolicy {
  return {
    name,
    ports: ports.map((p) => {
      const [protocol, port] = p.split("/");
      return { protocol: protocol as "tcp" | "udp", port: Number(port) };
    }),
    sources: new SourceList(sources.map(parseCidr)),
    requireSourceBinding: false,
  };
}
const grant = (user: string, address: string, port: number, protocol: "tcp" | "udp" = "tcp") => ({
  user,
  address,
  protocol,
  port,
});

Deno.test("revocations: a removed user, port or source revokes; what is still allowed stays", () => {
  const grants = [
    grant("alice", "10.77.0.2", 22),
    grant("alice", "10.77.0.2", 2222),
    grant("bob", "10.77.0.3", 22),
    grant("carol", "10.77.0.4", 22),
    grant("dave", "fd77::5", 22, "udp"),
  ];
  const users = [
    { policy: policy("alice", ["tcp/22"]) },
    { policy: policy("bob", ["tcp/22"], ["10.77.1.0/24"]) },
    { policy: policy("dave", ["udp/22"], ["fd77::/64"]) },
  ];
  deepStrictEqual(
    revocations(grants, users).map((r) => [r.grant.user, r.grant.port, r.reason]),
    [["alice", 2222, "port-removed"], ["bob", 22, "source-removed"], [
      "carol",
      22,
      "user-removed",
    ]],
  );
});

Deno.test("revocations: the protocol counts (udp/22 does not allow tcp/22)", () => {
  const out = revocations([grant("alice", "10.77.0.2", 22, "tcp")], [{
    policy: policy("alice", ["udp/22"]),
  }]);
  equal(out[0]?.reason, "port-removed");
});

Deno.test("forgetRevokedKnocks: forgets a last knock for a port or source no longer allowed", () => {
  const last = (port: number, source: number[]): LastAccepted => ({
    trailer: new Uint8Array(37),
    source: new Uint8Array(source),
    timestamp: 0,
    reply: new Uint8Array(37),
    grant: { protocol: "tcp", port },
  });
  const kept = { policy: policy("a", ["tcp/22"]), lastAccepted: last(22, [10, 77, 0, 2]) };
  const port = { policy: policy("b", ["tcp/22"]), lastAccepted: last(2222, [10, 77, 0, 2]) };
  const source = {
    policy: policy("c", ["tcp/22"], ["10.77.1.0/24"]),
    lastAccepted: last(22, [10, 77, 0, 2]),
  };
  const none: { policy: UserPolicy; lastAccepted: LastAccepted | undefined } = {
    policy: policy("d", []),
    lastAccepted: undefined,
  };
  deepStrictEqual(forgetRevokedKnocks([kept, port, source, none]), [port, source]);
  equal(port.lastAccepted, undefined);
  equal(source.lastAccepted, undefined);
  equal(kept.lastAccepted?.grant?.port, 22);
});
