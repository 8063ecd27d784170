/**
 * Every copy of a postgres.js module the package ships, loaded as its users load it: `src` (ESM, Node's
 * `import`), `cf` (workerd) and `cjs` (`require`). For the tests of patches/postgres+3.4.9.patch.
 */
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

const require = createRequire(import.meta.url);
// `require` resolves the package's CommonJS entry, cjs/src/index.js; the package root is two levels up.
const packageRoot = path.resolve(path.dirname(require.resolve("postgres")), "..", "..");

/** `[label, export]` for `file` (e.g. "queue.js") in each copy; `pick` takes the export from the module (a CommonJS copy may be the export itself). */
export async function loadPostgresCopies<T>(file: string, pick: (module: any) => unknown): Promise<Array<[string, T]>> {
  const esm = async (dir: string) => pick(await import(pathToFileURL(path.join(packageRoot, dir, file)).href)) as T;
  return [
    ["src (ESM, Node's import)", await esm("src")],
    ["cf (workerd)", await esm("cf/src")],
    ["cjs (require)", pick(require(path.join(packageRoot, "cjs/src", file))) as T],
  ];
}
