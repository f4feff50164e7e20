// Opens the task service's Swagger UI in headless Chromium, authorizes with a bearer token,
// runs "Try it out" on GET /tasks and checks the live response.
// Usage: node swagger.mjs <docs-url> <token> <expected-title>... ; SCREENSHOT=<png> optional.
import { chromium } from "playwright-core";

const [docsUrl, token, ...titles] = process.argv.slice(2);
if (!docsUrl || !token) {
  console.error("usage: node swagger.mjs <docs-url> <token> <expected-title>...");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});
const fail = async (page, message) => {
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  console.error(`FAIL: ${message}`);
  await browser.close();
  process.exit(1);
};

const page = await browser.newPage();
page.setDefaultTimeout(20000);
await page.goto(docsUrl);

// Where a token comes from, said where a newcomer looks: the page's description and the
// Authorize dialog. SHOTS=<dir> keeps a screenshot of each for people to look at.
const shot = async (name) => {
  if (process.env.SHOTS) await page.screenshot({ path: `${process.env.SHOTS}/${name}.png` });
};
const info = await page.locator(".information-container").innerText();
if (!info.includes("POST /auth/login")) await fail(page, `the page does not say where a token comes from: ${info.slice(0, 300)}`);
await shot("task-docs");

// Authorize with the bearer token.
await page.locator("button.authorize").first().click();
const dialog = page.locator(".modal-ux");
const advice = await dialog.innerText();
if (!/Paste the token alone/i.test(advice)) await fail(page, `the Authorize dialog does not say how to paste: ${advice.slice(0, 300)}`);
await shot("task-authorize");
await dialog.locator("input").first().fill(token);
await dialog.locator("button.authorize").click();
await dialog.locator("button.btn-done").click();

// Expand GET /tasks (not /tasks/{id}), try it out, execute.
const op = page
  .locator(".opblock.opblock-get")
  .filter({ has: page.locator(".opblock-summary-path", { hasText: /^\/tasks$/ }) });
await op.locator(".opblock-summary").first().click();
await op.locator("button.try-out__btn").click();
await op.locator("button.execute").click();

const status = op.locator(".live-responses-table tr.response .response-col_status").first();
await status.waitFor();
const statusText = (await status.innerText()).trim();
if (!statusText.startsWith("200")) await fail(page, `GET /tasks answered ${statusText}`);
// The live response shows headers and body in <pre> blocks; the body is the JSON one.
const blocks = await op.locator(".live-responses-table tr.response pre").allInnerTexts();
const json = blocks
  .map((text) => {
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  })
  .find((v) => v && Array.isArray(v.tasks));
if (!json) await fail(page, `no JSON task list in the response: ${blocks.join(" | ").slice(0, 300)}`);
const got = json.tasks.map((t) => t.title).sort();
const want = [...titles].sort();
if (JSON.stringify(got) !== JSON.stringify(want)) await fail(page, `tasks ${JSON.stringify(got)} != ${JSON.stringify(want)}`);
if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
console.log(JSON.stringify({ status: 200, total: json.total, titles: got }));
await browser.close();
