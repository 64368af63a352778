// The floor of bench:start: the least a `deno run` of a TypeScript file can take.
console.log("hello");
