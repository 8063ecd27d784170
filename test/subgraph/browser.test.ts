// GraphiQL in a real headless Chromium: the page loads from this server alone, runs the example
// mutation, and shows a RegisterClassroomUserSuccess. Saves test/artifacts/graphiql.png.
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { startTestServer, type TestServer } from "../support/server.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = path.resolve(import.meta.dirname, "../artifacts");
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(`\n⚠ browser test SKIPPED: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)\n`);
}

describe.skipIf(!haveChromium)("GraphiQL in headless Chromium", () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    const { chromium } = await import("playwright-core");
    server = await startTestServer();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("runs the example mutation from the page and shows RegisterClassroomUserSuccess", { timeout: 60_000 }, async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const foreign: string[] = [];
    page.on("request", (req) => {
      const url = req.url();
      if (!url.startsWith(server.url) && !/^(data|blob):/.test(url)) foreign.push(url);
    });
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));

    await page.goto(server.graphqlUrl, { waitUntil: "load" });
    const editor = page.locator('section[aria-label="Operation Editor"]');
    await expect.poll(() => editor.innerText(), { timeout: 20_000 }).toContain("registerClassroomUser");

    await page.getByRole("button", { name: /Execute query/ }).click();
    // Two operations in the editor: GraphiQL asks which one to run.
    const choice = page.getByRole("menuitem", { name: "Register" }).or(page.getByRole("option", { name: "Register" }));
    await choice.first().click({ timeout: 5_000 });

    const result = page.locator('section[aria-label="Result Window"]');
    await expect.poll(() => result.innerText(), { timeout: 20_000 }).toContain("RegisterClassroomUserSuccess");
    const text = await result.innerText();
    expect(text).toMatch(/"created":\s*true/);
    expect(text).toContain("student-42");

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, "graphiql.png") });

    // What the page did is real: the user is in LCIC and in PostgreSQL.
    expect(server.emulator.users().map((u) => u.originId)).toEqual(["student-42"]);
    expect(await server.rows()).toEqual([expect.objectContaining({ origin_id: "student-42", status: "registered", name: "Ada Lovelace" })]);
    // And the second example operation finds the user again.
    await page.getByRole("button", { name: /Execute query/ }).click();
    await page.getByRole("menuitem", { name: "FindUser" }).or(page.getByRole("option", { name: "FindUser" })).first().click({ timeout: 5_000 });
    // Monaco renders spaces as no-break spaces.
    await expect.poll(async () => (await result.innerText()).replace(/\u00a0/g, " "), { timeout: 20_000 }).toContain('"__typename": "ClassroomUser"');
    expect(await result.innerText()).toContain("student-42");
    await page.screenshot({ path: path.join(ARTIFACTS, "graphiql-find.png") });

    expect(foreign, "GraphiQL must not load anything from other origins").toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
