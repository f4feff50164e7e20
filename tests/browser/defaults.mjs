// Swagger UI's pre-filled examples alone: on the auth page register and log in, on the task
// page authorize with the token the login answered and create a task, each by "Try it out"
// and "Execute" without editing a body. Prints the statuses and bodies as one JSON line.
// Usage: node defaults.mjs <base-url> ; SHOTS=<dir> and SCREENSHOT=<png> optional.
import { authorize, launch, tryItOut } from "./common.mjs";

const [base] = process.argv.slice(2);
if (!base) {
  console.error("usage: node defaults.mjs <base-url>");
  process.exit(2);
}
const { browser, page, shot, fail } = await launch();

await page.goto(`${base}/auth/docs`);
const register = await tryItOut(page, "post", "/auth/register");
await shot("defaults-register", register.op);
if (register.status !== 201) await fail(`register answered ${register.status}: ${JSON.stringify(register.body)}, sent ${register.sent}`);
const login = await tryItOut(page, "post", "/auth/login");
await shot("defaults-login", login.op);
if (login.status !== 200 || !login.body?.token) await fail(`login answered ${login.status}: ${JSON.stringify(login.body)}, sent ${login.sent}`);

await page.goto(`${base}/tasks/docs`);
await authorize(page, login.body.token);
const create = await tryItOut(page, "post", "/tasks");
await shot("defaults-create-task", create.op);
if (create.status !== 201) await fail(`POST /tasks answered ${create.status}: ${JSON.stringify(create.body)}, sent ${create.sent}`);

console.log(
  JSON.stringify({
    register: { status: register.status, sent: JSON.parse(register.sent), body: register.body },
    login: { status: login.status, sent: JSON.parse(login.sent), user: login.body.user },
    create: { status: create.status, sent: JSON.parse(create.sent), body: create.body },
    token: login.body.token,
  }),
);
await browser.close();
