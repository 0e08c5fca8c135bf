// Calls a running Haven with the client generated from docs/openapi.json: one read, one write
// and a read-back. Usage: node dist/smoke.js <base URL> <bearer token>. Prints one JSON line;
// exits non-zero on any surprise. Type errors against the generated schema fail the build.
import createClient from "openapi-fetch";
import type { paths } from "./schema.js";

const [baseUrl, token] = process.argv.slice(2);
if (!baseUrl || !token) {
  console.error("usage: node dist/smoke.js <base URL> <bearer token>");
  process.exit(2);
}

const client = createClient<paths>({
  baseUrl,
  headers: { Authorization: `Bearer ${token}` },
});

function fail(step: string, detail: unknown): never {
  console.error(JSON.stringify({ ok: false, step, detail }));
  process.exit(1);
}

const me = await client.GET("/api/v1/me");
if (!me.data) fail("read /me", me.error);

const created = await client.POST("/api/v1/documents", {
  params: { header: { "Idempotency-Key": `smoke-${Date.now()}` } },
  body: {
    title: "Generated client smoke test",
    filename: "smoke.pdf",
    content_type: "application/pdf",
    size_bytes: 1234,
    metadata: { source: "typescript-client" },
  },
});
if (!created.data) fail("create document", created.error);

const fetched = await client.GET("/api/v1/documents/{id}", {
  params: { path: { id: created.data.id } },
});
if (!fetched.data) fail("read document back", fetched.error);
if (fetched.data.title !== "Generated client smoke test") {
  fail("compare", fetched.data);
}

const missing = await client.GET("/api/v1/documents/{id}", {
  params: { path: { id: "00000000-0000-4000-8000-000000000000" } },
});
if (missing.response.status !== 404 || missing.error?.error.code !== "RES_001") {
  fail("typed error envelope", missing.error);
}

console.log(
  JSON.stringify({
    ok: true,
    subject: me.data.subject,
    document_id: created.data.id,
    request_id: created.response.headers.get("x-request-id"),
  }),
);
