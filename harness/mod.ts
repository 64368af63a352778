/**
 * The network-namespace harness: what the namespace tests (`tests/**\/*_netns_test.ts`), the demo
 * (`scripts/demo.ts`) and the benchmarks (`bench/`) build their worlds with. It is test and
 * measurement equipment, not part of the shipped programs: nothing under `lib/`, `ffi/`,
 * `server.ts` or `client.ts` imports it.
 *
 * - `topology.ts`: a hub and one namespace per host (10.77.0.0/24, fd77::/64), removed on dispose.
 * - `spa_server.ts`: writes a server config and keys, starts `spa-server` with the shipped flags.
 * - `knocker.ts`, `packet_tool.ts`: a client's knocks and raw packets sent from inside a namespace.
 * - `pcap_file.ts`, `relink.ts`: pcap files read, written and relinked for tcpreplay.
 *
 * @module
 */

export * from "./topology.ts";
export * from "./spa_server.ts";
export * from "./knocker.ts";
export * from "./pcap_file.ts";
