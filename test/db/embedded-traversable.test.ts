// makeTraversable: as root the embedded PostgreSQL runs as `postgres`, which must search every
// directory above its binaries and data. Only directories lacking o+x change, and only by o+x.
import { chmod, mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { makeTraversable } from "../../src/db/embedded.js";

const root = await mkdtemp(path.join(tmpdir(), "classroom-users-traversable-"));
afterAll(() => rm(root, { recursive: true, force: true }));

it("adds o+x (not read) to the closed directories above a path, and nothing else", async () => {
  const closed = path.join(root, "closed");
  const open = path.join(closed, "open");
  await mkdir(open, { recursive: true });
  await chmod(root, 0o700);
  await chmod(closed, 0o750);
  await chmod(open, 0o755);

  const changed = await makeTraversable([path.join(open, "pg")].map(path.dirname));
  expect(changed).toEqual([root, closed]);
  expect((await stat(root)).mode & 0o777).toBe(0o701);
  expect((await stat(closed)).mode & 0o777).toBe(0o751);
  expect((await stat(open)).mode & 0o777).toBe(0o755);
  expect(await makeTraversable([open])).toEqual([]);
});
