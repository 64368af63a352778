/**
 * POSIX path helpers with `node:path`'s results (tests compare them case by case), in plain
 * TypeScript: importing `node:path` costs a Deno program about 19 ms of start-up, since it loads
 * the Node compatibility layer, and the client reads config and state paths before every knock.
 *
 * @module
 */

/**
 * Removes `.` segments, resolves `..` and repeated slashes; `""` becomes `"."`.
 *
 * @example
 * ```ts
 * import { normalize } from "./posix_path.ts";
 * if (normalize("/a//b/../c/.") !== "/a/c" || normalize("a/../..") !== "..") throw new Error();
 * ```
 */
export function normalize(path: string): string {
  if (path === "") return ".";
  const absolute = path.startsWith("/");
  const trailing = path.endsWith("/");
  const out: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment !== "..") out.push(segment);
    else if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
    else if (!absolute) out.push("..");
  }
  const body = out.join("/");
  if (body === "") return absolute ? "/" : trailing ? "./" : ".";
  // One flat string (a daemon keeps thousands of paths): join, not a template literal.
  return [absolute ? "/" : "", body, trailing ? "/" : ""].join("");
}

/** Whether `path` starts at the root. */
export function isAbsolute(path: string): boolean {
  return path.startsWith("/");
}

/**
 * Joins the non-empty parts with `/` and normalizes.
 *
 * @example
 * ```ts
 * import { join } from "./posix_path.ts";
 * if (join("/etc/spa", "keys", "a.key") !== "/etc/spa/keys/a.key") throw new Error();
 * ```
 */
export function join(...parts: string[]): string {
  const joined = parts.filter((p) => p !== "").join("/");
  return joined === "" ? "." : normalize(joined);
}

/**
 * The folder part of `path`.
 *
 * @example
 * ```ts
 * import { dirname } from "./posix_path.ts";
 * if (dirname("/a/b/") !== "/a" || dirname("a") !== "." || dirname("/a") !== "/") throw new Error();
 * ```
 */
export function dirname(path: string): string {
  if (path === "") return ".";
  const hasRoot = path.startsWith("/");
  let end = -1;
  let matchedSlash = true;
  for (let i = path.length - 1; i >= 1; i--) {
    if (path[i] === "/") {
      if (!matchedSlash) {
        end = i;
        break;
      }
    } else {
      matchedSlash = false;
    }
  }
  if (end === -1) return hasRoot ? "/" : ".";
  if (hasRoot && end === 1) return "//";
  return path.slice(0, end);
}

/**
 * The last segment of `path`, without trailing slashes.
 *
 * @example
 * ```ts
 * import { basename } from "./posix_path.ts";
 * if (basename("/etc/spa/keys/a.key") !== "a.key" || basename("/a/b/") !== "b") throw new Error();
 * ```
 */
export function basename(path: string): string {
  let end = path.length;
  while (end > 0 && path[end - 1] === "/") end--;
  return path.slice(path.lastIndexOf("/", end - 1) + 1, end);
}

/**
 * `path` made absolute against `base` (itself absolute) and normalized, without a trailing slash.
 *
 * @example
 * ```ts
 * import { resolve } from "./posix_path.ts";
 * if (resolve("/home/a", "../b/./c/") !== "/home/b/c" || resolve("/x", "/y") !== "/y") throw new Error();
 * ```
 */
export function resolve(base: string, path: string): string {
  const result = normalize(isAbsolute(path) ? path : `${base}/${path}`);
  return result.length > 1 && result.endsWith("/") ? result.slice(0, -1) : result;
}
