import { deepStrictEqual, equal, throws } from "node:assert/strict";
import fc from "fast-check";
import { formatAddress, parseAddress } from "../../lib/packet/mod.ts";

const bytes = (...values: number[]) => new Uint8Array(values);

Deno.test("parseAddress() reads dotted quads", () => {
  deepStrictEqual(parseAddress("10.77.0.1"), bytes(10, 77, 0, 1));
  deepStrictEqual(parseAddress("0.0.0.0"), bytes(0, 0, 0, 0));
  deepStrictEqual(parseAddress("255.255.255.255"), bytes(255, 255, 255, 255));
});

Deno.test("parseAddress() refuses what is not a dotted quad", () => {
  for (
    const text of [
      "",
      "256.0.0.1",
      "1.2.3",
      "1.2.3.4.5",
      "01.2.3.4",
      "1.2.3.-4",
      " 1.2.3.4",
      "1.2.3.4 ",
      "1..2.3",
      "0x1.2.3.4",
      "1e1.2.3.4",
      "1.2.3.4/32",
      "localhost",
    ]
  ) {
    equal(parseAddress(text), undefined, JSON.stringify(text));
  }
});

Deno.test("parseAddress() reads every RFC 4291 text form of IPv6", () => {
  const cases: [string, string][] = [
    ["::", "00000000000000000000000000000000"],
    ["::1", "00000000000000000000000000000001"],
    ["fd77::1", "fd770000000000000000000000000001"],
    ["FD77::A", "fd77000000000000000000000000000a"],
    ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
    ["1::8", "00010000000000000000000000000008"],
    ["1:2:3:4:5:6:7::", "00010002000300040005000600070000"],
    ["::2:3:4:5:6:7:8", "00000002000300040005000600070008"],
    ["::ffff:10.77.0.1", "00000000000000000000ffff0a4d0001"],
    ["64:ff9b::192.0.2.33", "0064ff9b0000000000000000c0000221"],
    ["1:2:3:4:5:6:1.2.3.4", "00010002000300040005000601020304"],
    ["0000:0000:0000:0000:0000:0000:0000:0001", "00000000000000000000000000000001"],
  ];
  for (const [text, hex] of cases) {
    const parsed = parseAddress(text);
    equal(parsed && Array.from(parsed, (b) => b.toString(16).padStart(2, "0")).join(""), hex, text);
  }
});

Deno.test("parseAddress() refuses malformed IPv6", () => {
  for (
    const text of [
      ":::",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "12345::",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8::",
      "::1:2:3:4:5:6:7:8",
      "::ffff:1.2.3",
      "::ffff:1.2.3.256",
      "fe80::1%eth0",
      "[::1]",
      "::1/128",
      ":1::",
      "1:",
      ":1",
      "::g",
      "1.2.3.4::",
      "::1.2.3.4:5",
      "1:2:3:4:5:6:7:1.2.3.4",
    ]
  ) {
    equal(parseAddress(text), undefined, text);
  }
});

Deno.test("formatAddress() writes RFC 5952 text", () => {
  const cases: [string, string][] = [
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // one zero group stays
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // the longest run
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // the first of equal runs
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["1:0:0:0:0:0:0:0", "1::"],
    ["FD77:0:0:0:0:0:0:1", "fd77::1"],
    ["0:0:0:0:0:ffff:0a4d:0001", "::ffff:10.77.0.1"],
  ];
  for (const [input, expected] of cases) equal(formatAddress(parseAddress(input)!), expected);
  equal(formatAddress(bytes(10, 77, 0, 1)), "10.77.0.1");
  throws(() => formatAddress(new Uint8Array(5)), TypeError);
  throws(() => formatAddress(new Uint8Array(0)), TypeError);
});

Deno.test("formatAddress() agrees with the WHATWG URL serialiser and parses back", () => {
  const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
  fc.assert(
    fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
      const address = new Uint8Array(16);
      groups.forEach((g, i) => {
        address[2 * i] = g >> 8;
        address[2 * i + 1] = g & 0xff;
      });
      const text = formatAddress(address);
      deepStrictEqual(parseAddress(text), address);
      const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
      if (!mapped) {
        equal(
          `[${text}]`,
          new URL(`http://[${groups.map((g) => g.toString(16)).join(":")}]/`).hostname,
        );
      }
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (address) => {
      deepStrictEqual(parseAddress(formatAddress(address)), address);
    }),
  );
});
