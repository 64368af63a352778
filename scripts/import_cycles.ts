/**
 * Finds import cycles among the project's own modules: asks `deno info --json` for the module
 * graph of each entry point, joins the graphs, and prints every strongly connected component of
 * more than one module (or a module importing itself). Code and type-only imports both count.
 *
 * ```sh
 * deno run --allow-run --allow-read scripts/import_cycles.ts                 # mod.ts server.ts client.ts
 * deno run --allow-run --allow-read scripts/import_cycles.ts lib/config/mod.ts
 * ```
 *
 * Exit codes: 0 no cycle; 1 a cycle (each printed as one line of paths); 2 `deno info` failed.
 *
 * @module
 */

/** One module of `deno info --json`, as far as this script reads it. */
interface InfoModule {
  specifier: string;
  dependencies?: {
    code?: { specifier: string };
    type?: { specifier: string };
  }[];
}

/**
 * The strongly connected components of `graph` that hold a cycle, each sorted (Tarjan's algorithm,
 * iterative so a deep graph cannot overflow the stack).
 *
 * @example
 * ```ts
 * import { importCycles } from "./import_cycles.ts";
 * const graph = new Map([["a", ["b"]], ["b", ["a"]], ["c", ["a"]]]);
 * if (JSON.stringify(importCycles(graph)) !== '[["a","b"]]') throw new Error("unexpected");
 * ```
 */
export function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let next = 0;
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: { node: string; edge: number }[] = [{ node: root, edge: 0 }];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const edges = graph.get(frame.node) ?? [];
      if (frame.edge < edges.length) {
        const to = edges[frame.edge++]!;
        if (!index.has(to)) {
          index.set(to, next);
          low.set(to, next++);
          stack.push(to);
          onStack.add(to);
          work.push({ node: to, edge: 0 });
        } else if (onStack.has(to)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(to)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) !== index.get(frame.node)) continue;
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== frame.node);
      if (component.length > 1 || edges.includes(frame.node)) cycles.push(component.sort());
    }
  }
  return cycles;
}

async function moduleGraph(root: string): Promise<Map<string, string[]>> {
  const output = await new Deno.Command(Deno.execPath(), { args: ["info", "--json", root] })
    .output();
  if (!output.success) {
    console.error(`Cannot read the module graph of ${root}: deno info exited ${output.code}`);
    console.error(new TextDecoder().decode(output.stderr).trim());
    Deno.exit(2);
  }
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as { modules: InfoModule[] };
  const graph = new Map<string, string[]>();
  for (const module of info.modules) {
    if (!module.specifier.startsWith("file:")) continue;
    const targets = (module.dependencies ?? [])
      .flatMap((dependency) => [dependency.code?.specifier, dependency.type?.specifier])
      .filter((target): target is string => target?.startsWith("file:") === true);
    graph.set(module.specifier, [...new Set(targets)]);
  }
  return graph;
}

if (import.meta.main) {
  const roots = Deno.args.length > 0 ? Deno.args : ["mod.ts", "server.ts", "client.ts"];
  const graph = new Map<string, string[]>();
  for (const root of roots) {
    for (const [module, targets] of await moduleGraph(root)) graph.set(module, targets);
  }
  const base = new URL(`file://${Deno.cwd()}/`).href;
  const cycles = importCycles(graph);
  for (const cycle of cycles) {
    console.log(`cycle: ${cycle.map((m) => m.replace(base, "")).join(" <-> ")}`);
  }
  console.log(`${graph.size} modules from ${roots.join(", ")}: ${cycles.length} import cycle(s)`);
  if (cycles.length > 0) Deno.exit(1);
}
