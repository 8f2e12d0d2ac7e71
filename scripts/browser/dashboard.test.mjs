// The operator dashboard (/admin/) end to end, in headless Chromium (Debian's package, driven by
// playwright-core): scripts/browser.sh installs both and runs this with `node --test`.
//
// It starts the dashboard demo (examples/api/examples/dashboard_demo.rs: in-memory stores, a
// graph that fails on command, a demo shop), logs in as its administrator through the page,
// sees the dashboard fill, makes the numbers move (graph down: owed changes rise; graph up: they
// drain; a poisoned product: a change set aside), runs a drift check that lists the set-aside
// change, releases it with its button, checks again (clean), runs a resync to the end, opens the
// recommendation explorer, and saves a screenshot (SWIFTBOX_SCREENSHOT, default
// target/dashboard.png).
//
// Any console error, uncaught page error, failed request or HTTP error answer fails the test,
// and so does a page with no text. Every wait is for a condition, bounded generously
// (SWIFTBOX_BROWSER_WAIT_MS, default 60 s): nothing asserts on how long something took.
//
// Environment: SWIFTBOX_DEMO_BIN (the demo binary), SWIFTBOX_CHROMIUM (the browser),
// SWIFTBOX_SCREENSHOT, SWIFTBOX_BROWSER_WAIT_MS.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { chromium } from "playwright-core";

const WAIT = Number(process.env.SWIFTBOX_BROWSER_WAIT_MS || 60000);
const DEMO = process.env.SWIFTBOX_DEMO_BIN;
const CHROMIUM = process.env.SWIFTBOX_CHROMIUM || "/usr/bin/chromium";
const SCREENSHOT = process.env.SWIFTBOX_SCREENSHOT || "target/dashboard.png";
// The same picture at about half the size, small enough to commit (docs/dashboard.png).
const SMALL = SCREENSHOT.replace(/\.png$/, "-small.png");
const ADMIN = "dash-admin";
const PASSWORD = randomBytes(16).toString("hex");

/** The demo service: its URL, and `command(line)` that waits for its `ok` answer. */
async function startDemo() {
  assert.ok(DEMO, "SWIFTBOX_DEMO_BIN is not set (run scripts/browser.sh)");
  const child = spawn(DEMO, [], {
    env: {
      ...process.env,
      SWIFTBOX_ADDR: "127.0.0.1:0",
      SWIFTBOX_ADMIN_USERNAME: ADMIN,
      SWIFTBOX_ADMIN_PASSWORD: PASSWORD,
      RUST_LOG: process.env.RUST_LOG || "error",
    },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const waiting = [];
  const lines = createInterface({ input: child.stdout });
  lines.on("line", (line) => {
    const i = waiting.findIndex((w) => w.match(line));
    if (i >= 0) waiting.splice(i, 1)[0].resolve(line);
  });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const expectLine = (match, what) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`demo: no ${what} within ${WAIT} ms`)), WAIT);
      waiting.push({ match, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      exited.then((code) => reject(new Error(`demo exited (${code}) before ${what}`)));
    });
  const listening = await expectLine((l) => l.startsWith("swiftbox api listening on "), "listening line");
  const url = listening.replace("swiftbox api listening on ", "").trim();
  return {
    url,
    async command(line) {
      const answer = expectLine((l) => l === `ok ${line}` || l.startsWith("error:"), `answer to ${line}`);
      child.stdin.write(line + "\n");
      assert.equal(await answer, `ok ${line}`);
    },
    async stop() {
      child.stdin.end(); // the demo stops when its input closes
      const timer = setTimeout(() => child.kill("SIGKILL"), WAIT);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A small JSON client of the API, as the administrator. */
async function apiClient(url) {
  const call = async (method, path, token, body) => {
    const res = await fetch(url + path, {
      method,
      headers: {
        ...(body ? { "Content-Type": "application/json" } : {}),
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  const { token } = await call("POST", "/api/auth/login/", null, { username: ADMIN, password: PASSWORD });
  return {
    get: (path) => call("GET", path, token),
    put: (path, body) => call("PUT", path, token, body),
  };
}

/** The number shown in `selector`. */
async function number(page, selector) {
  return Number((await page.locator(selector).textContent()).trim());
}

test("the operator dashboard fills, moves, releases, checks, resyncs and explains", async (t) => {
  const demo = await startDemo();
  t.after(() => demo.stop());
  const api = await apiClient(demo.url);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in a container: Chromium's sandbox needs user namespaces it may not get.
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(WAIT);
  const problems = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  const noProblems = () => assert.deepEqual(problems, [], "the page reported problems");
  const waitFor = (fn, arg) => page.waitForFunction(fn, arg, { timeout: WAIT, polling: 250 });
  const textOf = (selector) => `document.querySelector(${JSON.stringify(selector)})?.textContent ?? ""`;

  await t.test("logs in and sees the dashboard fill", async () => {
    await page.goto(demo.url + "/admin/");
    await page.locator("#username").fill(ADMIN);
    await page.locator("#password").fill(PASSWORD);
    await page.locator("#login-form button[type=submit]").click();
    await page.locator("#primary-health").waitFor();
    assert.match(await page.locator("#primary-health").textContent(), /up/);
    assert.match(await page.locator("#graph-health").textContent(), /up/);
    assert.equal(await number(page, "#owed"), 0);
    await page.locator("#explorer-user option:nth-child(2)").waitFor({ state: "attached" });
    noProblems();
  });

  const products = (await api.get("/api/products/?limit=5")).items;
  assert.ok(products.length >= 4, "the demo shop has products");

  await t.test("owed changes rise while the graph is down and drain when it is back", async () => {
    await demo.command("down");
    for (const p of products.slice(0, 3)) {
      await api.put(`/api/products/${p.id}/`, { stock: p.stock + 1 });
    }
    await waitFor(() => Number(document.querySelector("#owed")?.textContent) >= 3);
    await waitFor(new Function(`return /down/.test(${textOf("#graph-health")})`));
    await waitFor(new Function(`return ${textOf("#oldest-owed")}.trim() !== "none"`));
    await demo.command("up");
    await waitFor(() => document.querySelector("#owed")?.textContent.trim() === "0");
    assert.match(await page.locator("#graph-health").textContent(), /up/);
    noProblems();
  });

  const poisoned = products[3];
  await t.test("a change the graph refuses is set aside, listed by the check, released by its button", async () => {
    await demo.command(`poison product ${poisoned.id}`);
    await api.put(`/api/products/${poisoned.id}/`, { stock: poisoned.stock + 2 });
    const row = page.locator("#set-aside tr", { hasText: poisoned.id });
    await row.waitFor();
    await waitFor(() => document.querySelector("#set-aside-count")?.textContent.trim() === "1");
    assert.match(await row.textContent(), /poison/);

    await page.locator("#drift-check").click();
    await page.locator("#drift-result", { hasText: "1 drifted entity" }).waitFor();
    assert.match(await page.locator("#drift table.drift").textContent(), new RegExp(poisoned.id));

    await demo.command(`cure product ${poisoned.id}`);
    await row.locator("button.release").click();
    await page.locator("#release-notice", { hasText: "1 change released" }).waitFor();
    await page.locator("#set-aside-empty").waitFor();
    await waitFor(() => document.querySelector("#owed")?.textContent.trim() === "0");

    await page.locator("#drift-check").click();
    await page.locator("#drift-result", { hasText: "No drift" }).waitFor();
    noProblems();
  });

  await t.test("a resync runs to the end with its progress", async () => {
    await page.locator("#resync-start").click();
    await page.locator("#resync-state", { hasText: "Finished" }).waitFor();
    assert.equal(await page.locator("#resync-progress").getAttribute("value"), "100");
    noProblems();
  });

  await t.test("the explorer shows a user's purchases, recommendations and why", async () => {
    // The demo's customers all bought something; pick the first that has recommendations.
    const options = await page.locator("#explorer-user option").evaluateAll((os) =>
      os.map((o) => o.value).filter((v) => v),
    );
    let shown = false;
    for (const user of options.slice(0, 10)) {
      await page.locator("#explorer-user").selectOption(user);
      await page.locator(`#explorer-graph[data-user="${user}"]`).waitFor();
      if ((await page.locator("#explorer-graph .edge.because").count()) > 0) {
        shown = true;
        break;
      }
    }
    assert.ok(shown, "no customer with co-purchase recommendations among the first ten");
    assert.ok((await page.locator("#explorer-purchases li").count()) > 0);
    assert.ok((await page.locator("#explorer-recommendations li").count()) > 0);
    assert.ok((await page.locator("#explorer-graph .node.candidate").count()) > 0);
    noProblems();
  });

  await t.test("the page is not blank and a screenshot is saved", async () => {
    const text = await page.locator("body").innerText();
    assert.ok(text.length > 200, `the page shows almost nothing: ${JSON.stringify(text)}`);
    // Let the polls settle on the final numbers, then take the picture.
    await waitFor(() => document.querySelector("#owed")?.textContent.trim() === "0");
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    // Chromium renders it again at a device scale below 1 (through the DevTools protocol:
    // playwright's own screenshots keep the context's scale), the whole page in one viewport.
    const cdp = await page.context().newCDPSession(page);
    const { cssContentSize } = await cdp.send("Page.getLayoutMetrics");
    await cdp.send("Emulation.setDeviceMetricsOverride", {
      width: 1280,
      height: Math.ceil(cssContentSize.height),
      deviceScaleFactor: 0.55,
      mobile: false,
    });
    const { data } = await cdp.send("Page.captureScreenshot", { format: "png" });
    await writeFile(SMALL, Buffer.from(data, "base64"));
    await cdp.send("Emulation.clearDeviceMetricsOverride");
    noProblems();
  });
});
