// What the browser scripts share: headless Chromium (Debian's /usr/bin/chromium, or CHROMIUM),
// failing with a screenshot, and Swagger UI's own moves: Authorize, and "Try it out" then
// "Execute" on one operation, read back as the status and JSON body the page shows.
import { chromium } from "playwright-core";

export async function launch() {
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
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.setDefaultTimeout(20000);
  // SHOTS=<dir> keeps screenshots for people to look at: of the page, or of one element.
  const shot = async (name, element) => {
    if (process.env.SHOTS) await (element ?? page).screenshot({ path: `${process.env.SHOTS}/${name}.png` });
  };
  const fail = async (message) => {
    if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
    console.error(`FAIL: ${message}`);
    await browser.close();
    process.exit(1);
  };
  return { browser, page, shot, fail };
}

// The operation block of `method path` (exactly that path: /tasks, not /tasks/{id}).
export function operation(page, method, path) {
  const exact = new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}$`);
  return page
    .locator(`.opblock.opblock-${method}`)
    .filter({ has: page.locator(".opblock-summary-path", { hasText: exact }) });
}

// Pastes `token` into the Authorize dialog; returns the dialog's text as shown before.
export async function authorize(page, token, beforePaste = async () => {}) {
  await page.locator("button.authorize").first().click();
  const dialog = page.locator(".modal-ux");
  const text = await dialog.innerText();
  await beforePaste(text);
  await dialog.locator("input").first().fill(token);
  await dialog.locator("button.authorize").click();
  await dialog.locator("button.btn-done").click();
  return text;
}

// Expands `method path`, clicks "Try it out" and "Execute" without touching anything the
// page pre-filled; returns the live response's status and JSON body (null if none).
export async function tryItOut(page, method, path) {
  const op = operation(page, method, path);
  await op.locator(".opblock-summary").first().click();
  await op.locator("button.try-out__btn").click();
  const sent = await op.locator("textarea.body-param__text").evaluateAll((els) => els.map((e) => e.value));
  await op.locator("button.execute").click();
  const status = op.locator(".live-responses-table tr.response .response-col_status").first();
  await status.waitFor();
  const code = parseInt((await status.innerText()).trim(), 10);
  // The live response shows headers and body in <pre> blocks; the body is the JSON one.
  const blocks = await op.locator(".live-responses-table tr.response pre").allInnerTexts();
  const body = blocks
    .map((text) => {
      try {
        return JSON.parse(text);
      } catch {
        return null;
      }
    })
    .find((v) => v && typeof v === "object");
  await op.scrollIntoViewIfNeeded();
  return { op, status: code, body: body ?? null, sent: sent[0] ?? null };
}
