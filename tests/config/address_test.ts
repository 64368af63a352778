import { deepEqual, equal, throws } from "node:assert/strict";
import fc from "fast-check";
import { formatAddress, isIpv4Mapped, parseAddress } from "../../lib/config/address.ts";
import { checkCidr, parseCidr, SourceList } from "../../lib/config/cidr.ts";

Deno.test("parseAddress accepts IPv4 and IPv6 literals and refuses everything else", () => {
  deepEqual(parseAddress("10.77.0.1"), new Uint8Array([10, 77, 0, 1]));
  deepEqual(parseAddress("0.0.0.0"), new Uint8Array(4));
  deepEqual(parseAddress("::"), new Uint8Array(16));
  deepEqual([...parseAddress("fd77::1")!].slice(0, 2), [0xfd, 0x77]);
  equal(parseAddress("fd77::1")![15], 1);
  deepEqual([...parseAddress("::ffff:10.0.0.1")!].slice(10), [0xff, 0xff, 10, 0, 0, 1]);
  for (
    const bad of [
      "",
      "10.0.0",
      "10.0.0.256",
      "010.0.0.1",
      "10.0.0.1 ",
      " 10.0.0.1",
      "1.2.3.4.5",
      "fd77:::1",
      "1::2::3",
      "fe80::1%eth0",
      "[::1]",
      "12345::1",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7::8",
      "::ffff:10.0.0",
      "g::1",
      "web1",
      "10.0.0.1/8",
    ]
  ) {
    equal(parseAddress(bad), undefined, `${JSON.stringify(bad)} must be refused`);
  }
});

Deno.test("formatAddress writes RFC 5952 text", () => {
  const cases: [string, string][] = [
    ["FD77:0:0:0:0:0:0:1", "fd77::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["::ffff:10.0.0.1", "::ffff:10.0.0.1"],
    ["::10.0.0.1", "::a00:1"],
    ["192.168.000.1".replace("000", "0"), "192.168.0.1"],
  ];
  for (const [input, expected] of cases) equal(formatAddress(parseAddress(input)!), expected);
  throws(() => formatAddress(new Uint8Array(5)), TypeError);
  equal(isIpv4Mapped(parseAddress("::ffff:1.2.3.4")!), true);
  equal(isIpv4Mapped(parseAddress("::1.2.3.4")!), false);
});

Deno.test("formatAddress and parseAddress round-trip any address", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
      ),
      (bytes) => {
        deepEqual(parseAddress(formatAddress(bytes)), bytes);
      },
    ),
    { numRuns: 2000 },
  );
  fc.assert(fc.property(fc.ipV4(), (text) => equal(formatAddress(parseAddress(text)!), text)));
  fc.assert(fc.property(fc.ipV6(), (text) => {
    const bytes = parseAddress(text);
    equal(bytes?.length, 16, text);
  }));
});

Deno.test("parseCidr parses prefixes, bare addresses, and refuses host bits", () => {
  equal(parseCidr("10.0.0.0/8").toString(), "10.0.0.0/8");
  equal(parseCidr("10.77.0.2").prefix, 32);
  equal(parseCidr("fd77::/64").family, 6);
  equal(parseCidr("::/0").prefix, 0);
  equal(
    checkCidr("10.0.0.1/8").reason,
    `"10.0.0.1/8" has host bits set (did you mean "10.0.0.0/8"?)`,
  );
  equal(checkCidr("10.0.0.0/33").reason, `"10.0.0.0/33" has a prefix length outside 0..32`);
  equal(checkCidr("fd77::/129").reason, `"fd77::/129" has a prefix length outside 0..128`);
  equal(checkCidr("10.0.0.0/08").reason, `"10.0.0.0/08" has a prefix length outside 0..32`);
  equal(
    checkCidr("nonsense").reason,
    `"nonsense" is not an IPv4 or IPv6 prefix (e.g. "10.0.0.0/8")`,
  );
  throws(() => parseCidr("10.0.0.0/"), SyntaxError);
});

Deno.test("Cidr.contains matches exactly the prefix, per family", () => {
  const v4 = parseCidr("10.77.0.0/23");
  equal(v4.contains(new Uint8Array([10, 77, 1, 255])), true);
  equal(v4.contains(new Uint8Array([10, 77, 2, 0])), false);
  equal(v4.contains(parseAddress("::ffff:10.77.0.1")!), false, "families never mix");
  const v6 = parseCidr("fd77:0:0:8000::/49");
  equal(v6.contains(parseAddress("fd77:0:0:8000::1")!), true);
  equal(v6.contains(parseAddress("fd77:0:0:7fff::1")!), false);
  equal(v6.contains(new Uint8Array(4)), false);
  equal(parseCidr("0.0.0.0/0").contains(new Uint8Array([255, 255, 255, 255])), true);
});

Deno.test("Cidr.contains agrees with a bit-by-bit reference", () => {
  const bits = (bytes: Uint8Array, n: number) =>
    [...bytes].map((b) => b.toString(2).padStart(8, "0")).join("").slice(0, n);
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      fc.integer({ min: 0, max: 128 }),
      (v4, netRaw, addrRaw, prefixRaw) => {
        const length = v4 ? 4 : 16;
        const prefix = prefixRaw % (length * 8 + 1);
        const net = netRaw.slice(0, length);
        const text = `${formatAddress(net)}/${prefix}`;
        const checked = checkCidr(text);
        const masked = checked.value ??
          parseCidr(checked.reason!.match(/did you mean "(.*)"/)![1]!);
        const addr = addrRaw.slice(0, length);
        equal(masked.contains(addr), bits(addr, prefix) === bits(net, prefix));
        equal(masked.contains(net), true);
      },
    ),
    { numRuns: 3000 },
  );
});

Deno.test("SourceList checks both families and prints its prefixes", () => {
  const list = new SourceList([parseCidr("10.77.0.0/24"), parseCidr("fd77::/64")]);
  equal(list.contains(new Uint8Array([10, 77, 0, 3])), true);
  equal(list.contains(new Uint8Array([10, 78, 0, 3])), false);
  equal(list.contains(parseAddress("fd77::3")!), true);
  equal(list.contains(parseAddress("fd78::3")!), false);
  equal(list.contains(new Uint8Array(3)), false);
  equal(JSON.stringify(list), `["10.77.0.0/24","fd77::/64"]`);
  equal(Deno.inspect(list), "SourceList(10.77.0.0/24, fd77::/64)");
  const all = new SourceList([parseCidr("0.0.0.0/0")]);
  equal(all.contains(new Uint8Array([1, 2, 3, 4])), true);
  equal(all.contains(parseAddress("::1")!), false);
  equal(new SourceList([]).contains(new Uint8Array(4)), false);
});
