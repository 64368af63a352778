import { deepEqual, equal, throws } from "node:assert/strict";
import { checkPorts, checkTarget, checkTimeout } from "../../lib/firewall/backend.ts";
import {
  checkTableName,
  closeScript,
  nftTime,
  openScript,
  parseListing,
  reconfigureScript,
  startScript,
} from "../../lib/firewall/nft_script.ts";

Deno.test("startScript recreates the table with sets, grant rules and drops", () => {
  equal(
    startScript("spa", [
      { protocol: "tcp", port: 22, idleTimeoutMs: 300_000 },
      { protocol: "udp", port: 53, idleTimeoutMs: 2_500 },
      { protocol: "tcp", port: 53, idleTimeoutMs: 1_000 },
    ]),
    `add table inet spa
delete table inet spa
add table inet spa
add set inet spa grants4 {
  type ipv4_addr . inet_proto . inet_service;
  flags timeout, dynamic; size 65535;
}
add set inet spa grants6 {
  type ipv6_addr . inet_proto . inet_service;
  flags timeout, dynamic; size 65535;
}
add chain inet spa input { type filter hook input priority filter - 10; policy accept; }
add rule inet spa input iif "lo" accept
add rule inet spa input tcp dport 22 ip saddr . meta l4proto . th dport @grants4 update @grants4 { ip saddr . meta l4proto . th dport timeout 300000ms } accept
add rule inet spa input tcp dport 22 ip6 saddr . meta l4proto . th dport @grants6 update @grants6 { ip6 saddr . meta l4proto . th dport timeout 300000ms } accept
add rule inet spa input udp dport 53 ip saddr . meta l4proto . th dport @grants4 update @grants4 { ip saddr . meta l4proto . th dport timeout 2500ms } accept
add rule inet spa input udp dport 53 ip6 saddr . meta l4proto . th dport @grants6 update @grants6 { ip6 saddr . meta l4proto . th dport timeout 2500ms } accept
add rule inet spa input tcp dport 53 ip saddr . meta l4proto . th dport @grants4 update @grants4 { ip saddr . meta l4proto . th dport timeout 1000ms } accept
add rule inet spa input tcp dport 53 ip6 saddr . meta l4proto . th dport @grants6 update @grants6 { ip6 saddr . meta l4proto . th dport timeout 1000ms } accept
add rule inet spa input meta l4proto . th dport { tcp . 22, udp . 22, udp . 53, tcp . 53 } counter drop
`,
  );
  equal(startScript("spa", []).includes("drop"), false, "no ports, no drop rule");
});

Deno.test("reconfigureScript replaces the rules and keeps the sets", () => {
  const script = reconfigureScript("t1", [{ protocol: "udp", port: 500, idleTimeoutMs: 60_000 }]);
  equal(script.split("\n")[0], "flush chain inet t1 input");
  equal(script.includes("add set"), false);
  equal(script.includes("meta l4proto . th dport { udp . 500 } counter drop"), true);
});

Deno.test("openScript adds, deletes and adds again so a repeat open refreshes", () => {
  const target = checkTarget({ address: "FD77:0:0::2", protocol: "udp", port: 53 });
  deepEqual(openScript("spa", target, 2_000).split("\n"), [
    "add element inet spa grants6 { fd77::2 . udp . 53 timeout 2000ms }",
    "delete element inet spa grants6 { fd77::2 . udp . 53 }",
    "add element inet spa grants6 { fd77::2 . udp . 53 timeout 2000ms }",
    "",
  ]);
  // A grant known to be absent needs only the add.
  deepEqual(openScript("spa", target, 2_000, true).split("\n"), [
    "add element inet spa grants6 { fd77::2 . udp . 53 timeout 2000ms }",
    "",
  ]);
  deepEqual(
    closeScript("spa", checkTarget({ address: "10.77.0.2", protocol: "tcp", port: 22 })).split(
      "\n",
    ),
    [
      "add element inet spa grants4 { 10.77.0.2 . tcp . 22 timeout 1s }",
      "delete element inet spa grants4 { 10.77.0.2 . tcp . 22 }",
      "",
    ],
  );
});

Deno.test("nothing but checked values reaches a script", () => {
  for (const table of ["", "1spa", "spa table", "spa; flush ruleset", "inet spa", "a".repeat(33)]) {
    throws(() => checkTableName(table), TypeError, table);
    throws(() => startScript(table, []), TypeError);
  }
  for (
    const address of [
      "10.0.0.1 . tcp . 22 } ; flush ruleset ; add element inet spa grants4 { 10.0.0.2",
      "10.0.0.1\n",
      "fe80::1%eth0",
      "localhost",
      "",
    ]
  ) {
    throws(() => checkTarget({ address, protocol: "tcp", port: 22 }), TypeError, address);
  }
  throws(
    () => checkTarget({ address: "10.0.0.1", protocol: "icmp" as "tcp", port: 22 }),
    TypeError,
  );
  throws(() => checkTarget({ address: "10.0.0.1", protocol: "tcp", port: 0 }), RangeError);
  throws(() => checkTarget({ address: "10.0.0.1", protocol: "tcp", port: 22.5 }), RangeError);
  throws(() => checkTimeout(0), RangeError);
  throws(() => checkTimeout(1.5), RangeError);
  throws(() => checkTimeout(2 ** 31), RangeError);
  throws(() => nftTime(-1), RangeError);
  throws(
    () =>
      checkPorts([{ protocol: "tcp", port: 22, idleTimeoutMs: 1 }, {
        protocol: "tcp",
        port: 22,
        idleTimeoutMs: 2,
      }]),
    RangeError,
  );
  throws(() => checkPorts([{ protocol: "tcp", port: 22, idleTimeoutMs: NaN }]), RangeError);
  const mapped = checkTarget({ address: "::ffff:10.77.0.2", protocol: "tcp", port: 22 });
  equal(mapped.address, "10.77.0.2");
  equal(mapped.family, 4);
});

Deno.test("parseListing reads the grants of nft -j list table", () => {
  // Output of nft 1.0.6 (trimmed to the parts the parser reads, plus a rule it must skip).
  const json = JSON.stringify({
    nftables: [
      { metainfo: { version: "1.0.6", json_schema_version: 1 } },
      { table: { family: "inet", name: "spa", handle: 2 } },
      {
        set: {
          family: "inet",
          name: "grants4",
          table: "spa",
          type: ["ipv4_addr", "inet_proto", "inet_service"],
          flags: ["timeout"],
          elem: [
            { elem: { val: { concat: ["10.77.0.2", "tcp", 22] }, timeout: 2, expires: 1 } },
            { elem: { val: { concat: ["10.77.0.3", 17, "53"] }, timeout: 300 } },
            { elem: { val: { concat: ["10.77.0.4", "sctp", 9] }, timeout: 3, expires: 3 } },
            { elem: { val: "garbage" } },
          ],
        },
      },
      {
        set: {
          name: "grants6",
          elem: [{
            elem: { val: { concat: ["fd77::2", "udp", 53] }, timeout: 90000, expires: 89999 },
          }],
        },
      },
      { set: { name: "other", elem: [{ elem: { val: { concat: ["10.0.0.1", "tcp", 1] } } }] } },
      { rule: { family: "inet", table: "spa", chain: "input", expr: [] } },
    ],
  });
  deepEqual(parseListing(json), [
    { address: "10.77.0.2", protocol: "tcp", port: 22, timeoutMs: 2_000, expiresInMs: 1_000 },
    { address: "10.77.0.3", protocol: "udp", port: 53, timeoutMs: 300_000, expiresInMs: 0 },
    {
      address: "fd77::2",
      protocol: "udp",
      port: 53,
      timeoutMs: 90_000_000,
      expiresInMs: 89_999_000,
    },
  ]);
  deepEqual(parseListing(`{"nftables": []}`), []);
  deepEqual(parseListing(`{}`), []);
  throws(() => parseListing("not json"), SyntaxError);
});
