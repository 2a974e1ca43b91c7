// Drives one headless Chromium page for the integration tests: reads one JSON command per
// line on stdin, answers one JSON line on stdout ({"ok": true, ...} or {"ok": false, "error"}).
// Commands: open {url}; text {selector}; waitText {selector, pattern, timeout_ms} (until the
// element's text matches the regular expression); click {selector}; screenshot {path};
// evaluate {expression}; errors (page errors so far); patchStats {patch} (from now on the
// page's GET /admin/stats answers carry `patch`'s top-level keys, and its stream is refused,
// so the page shows sections whose data other components provide); requireToken {token}
// (from now on requests to /admin/ without "Authorization: Bearer <token>" get a 401, as an
// admin listener with a token answers); fill {selector, value}; close.
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
const consoleErrors = [];
page.on("pageerror", (error) => consoleErrors.push(String(error)));
page.on("console", (message) => {
  if (message.type() === "error") consoleErrors.push(message.text());
});

async function run(command) {
  switch (command.cmd) {
    case "open":
      await page.goto(command.url, { waitUntil: "load" });
      return {};
    case "text":
      return { text: await page.locator(command.selector).first().innerText({ timeout: 5000 }) };
    case "waitText": {
      const pattern = new RegExp(command.pattern);
      const deadline = Date.now() + (command.timeout_ms || 10000);
      let text = null;
      while (Date.now() < deadline) {
        const element = page.locator(command.selector).first();
        text = (await element.count()) ? await element.innerText() : null;
        if (text !== null && pattern.test(text)) return { text };
        await page.waitForTimeout(100);
      }
      throw new Error(`${command.selector}: text ${JSON.stringify(text)} never matched ${pattern}`);
    }
    case "click":
      await page.locator(command.selector).first().click({ timeout: 5000 });
      return {};
    case "screenshot":
      await page.screenshot({ path: command.path, fullPage: command.full_page === true });
      return {};
    case "evaluate":
      return { value: await page.evaluate(command.expression) };
    case "patchStats":
      await page.route("**/admin/stats/stream", (route) => route.abort());
      await page.route("**/admin/stats", async (route) => {
        const response = await route.fetch();
        const json = { ...(await response.json()), ...command.patch };
        await route.fulfill({ response, json });
      });
      return {};
    case "requireToken":
      await page.route("**/admin/**", (route) => {
        const given = route.request().headers()["authorization"];
        if (given === `Bearer ${command.token}`) return route.continue();
        return route.fulfill({ status: 401, contentType: "application/json",
                               body: JSON.stringify({ error: "missing or wrong token" }) });
      });
      return {};
    case "fill":
      await page.locator(command.selector).first().fill(command.value, { timeout: 5000 });
      return {};
    case "errors":
      return { errors: consoleErrors };
    case "close":
      await browser.close();
      return {};
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
}

const lines = createInterface({ input: process.stdin });
process.stdout.write(JSON.stringify({ ok: true, ready: true }) + "\n");
for await (const line of lines) {
  let answer;
  try {
    const command = JSON.parse(line);
    answer = { ok: true, ...(await run(command)) };
    if (command.cmd === "close") {
      process.stdout.write(JSON.stringify(answer) + "\n");
      break;
    }
  } catch (error) {
    answer = { ok: false, error: String(error && error.message ? error.message : error) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
await browser.close().catch(() => {});
