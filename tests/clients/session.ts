// The README's session through openapi-fetch, typed by what openapi-typescript generated from
// openapi/auth.json and openapi/task.json (into gen/): register, log in, create a task with an
// Idempotency-Key (and retry it), list, update with If-Match (a stale one first), delete.
// Compiled with `tsc --strict`; a spec whose paths, bodies or header names change no longer
// compiles. Usage: node build/session.js <base-url> <username>. Prints one JSON line.
import createClient from "openapi-fetch";
import type { paths as AuthPaths } from "./gen/auth.js";
import type { paths as TaskPaths } from "./gen/task.js";

const [base, username] = process.argv.slice(2);
if (!base || !username) {
  console.error("usage: node build/session.js <base-url> <username>");
  process.exit(2);
}
const password = "correct-horse-battery";

function fail(what: string, response: Response, error: unknown): never {
  throw new Error(`${what}: ${response.status} ${JSON.stringify(error)}`);
}

// The spec names the header as fetch hands it over (lowercase), or this does not compile.
// (Header types also carry an index signature, which `keyof` would include.)
type Named<T> = keyof { [K in keyof T as string extends K ? never : K]: T[K] };
type TaskResponses = TaskPaths["/tasks"]["post"]["responses"] & TaskPaths["/tasks/{id}"]["put"]["responses"];
const ETAG: Named<TaskResponses[201]["headers"]> & Named<TaskResponses[200]["headers"]> = "etag";

const auth = createClient<AuthPaths>({ baseUrl: base });
const registered = await auth.POST("/auth/register", {
  body: { username, email: `${username}@example.com`, password },
});
if (registered.response.status !== 201 || !registered.data) fail("register", registered.response, registered.error);
const login = await auth.POST("/auth/login", { body: { username, password } });
if (!login.data) fail("login", login.response, login.error);

const tasks = createClient<TaskPaths>({
  baseUrl: base,
  headers: { Authorization: `Bearer ${login.data.token}` },
});
const create = () =>
  tasks.POST("/tasks", {
    params: { header: { "Idempotency-Key": `${username}-1` } },
    body: { title: "Write the report", priority: "high" },
  });
const created = await create();
if (created.response.status !== 201 || !created.data) fail("create", created.response, created.error);
const task = created.data.task;
const retried = await create();
if (retried.data?.task.id !== task.id) fail("retry with the same Idempotency-Key", retried.response, retried.error);

const listed = await tasks.GET("/tasks", { params: { query: { status: "pending" } } });
if (!listed.data) fail("list", listed.response, listed.error);
if (listed.data.tasks.map((t) => t.id).join() !== String(task.id)) throw new Error(`listed ${JSON.stringify(listed.data)}`);

const path = { id: task.id };
const update = (ifMatch: string) =>
  tasks.PUT("/tasks/{id}", {
    params: { path, header: { "If-Match": ifMatch } },
    body: { status: "completed" },
  });
const stale = await update('"stale"');
if (stale.response.status !== 412 || stale.error?.error !== "Precondition Failed") fail("stale If-Match", stale.response, stale.error);
const etag = created.response.headers.get(ETAG);
if (!etag) throw new Error("no etag on the created task");
const updated = await update(etag);
if (updated.data?.task.status !== "completed") fail("update", updated.response, updated.error);

const newEtag = updated.response.headers.get(ETAG) ?? "";
const deleted = await tasks.DELETE("/tasks/{id}", { params: { path, header: { "If-Match": newEtag } } });
if (!deleted.data) fail("delete", deleted.response, deleted.error);
const gone = await tasks.GET("/tasks/{id}", { params: { path } });
if (gone.response.status !== 404 || !gone.error) fail("get after delete", gone.response, gone.error);

console.log(JSON.stringify({ task: task.id, priority: task.priority, after_delete: gone.error.message }));
