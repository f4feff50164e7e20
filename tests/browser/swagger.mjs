// Opens the task service's Swagger UI in headless Chromium, authorizes with a bearer token,
// runs "Try it out" on GET /tasks and checks the live response.
// Usage: node swagger.mjs <docs-url> <token> <expected-title>... ; SCREENSHOT=<png> optional.
import { authorize, launch, tryItOut } from "./common.mjs";

const [docsUrl, token, ...titles] = process.argv.slice(2);
if (!docsUrl || !token) {
  console.error("usage: node swagger.mjs <docs-url> <token> <expected-title>...");
  process.exit(2);
}

const { browser, page, shot, fail } = await launch();
await page.goto(docsUrl);

// Where a token comes from, said where a newcomer looks: the page's description and the
// Authorize dialog.
const info = await page.locator(".information-container").innerText();
if (!info.includes("POST /auth/login")) await fail(`the page does not say where a token comes from: ${info.slice(0, 300)}`);
await shot("task-docs");

await authorize(page, token, async (advice) => {
  if (!/Paste the token alone/i.test(advice)) await fail(`the Authorize dialog does not say how to paste: ${advice.slice(0, 300)}`);
  await shot("task-authorize");
});

const list = await tryItOut(page, "get", "/tasks");
if (list.status !== 200) await fail(`GET /tasks answered ${list.status}`);
if (!Array.isArray(list.body?.tasks)) await fail(`no JSON task list in the response: ${JSON.stringify(list.body)}`);
const got = list.body.tasks.map((t) => t.title).sort();
const want = [...titles].sort();
if (JSON.stringify(got) !== JSON.stringify(want)) await fail(`tasks ${JSON.stringify(got)} != ${JSON.stringify(want)}`);
if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
console.log(JSON.stringify({ status: 200, total: list.body.total, titles: got }));
await browser.close();
