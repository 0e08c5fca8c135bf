// Calls a running Haven with the client generated from docs/openapi.json: one read, one write
// and a read-back, then a patient, a document of that patient and the patient's documents. Usage: node dist/smoke.js <base URL> <bearer token>. Prints one JSON line;
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

const patient = await client.POST("/api/v1/patients", {
  body: {
    mrn: `SMOKE-${Date.now()}`,
    given_name: "Grace",
    family_name: "Hopper",
    birth_date: "1906-12-09",
    sex: "female",
    contact: { email: "grace@example.org" },
  },
});
if (!patient.data) fail("create patient", patient.error);

const found = await client.GET("/api/v1/patients", {
  params: { query: { family_name: "hopper", birth_date: "1906-12-09" } },
});
if (!found.data?.items.some((p) => p.id === patient.data.id)) fail("find patient", found.error);

const record = await client.POST("/api/v1/documents", {
  body: {
    title: "Smoke test lab result",
    filename: "lab.pdf",
    content_type: "application/pdf",
    patient_id: patient.data.id,
  },
});
if (!record.data || record.data.patient_id !== patient.data.id) {
  fail("create a patient's document", record.error);
}

const theirs = await client.GET("/api/v1/documents", {
  params: { query: { patient_id: patient.data.id } },
});
if (theirs.data?.items.length !== 1 || theirs.data.items[0]?.id !== record.data.id) {
  fail("list the patient's documents", theirs.error ?? theirs.data);
}

console.log(
  JSON.stringify({
    ok: true,
    subject: me.data.subject,
    document_id: created.data.id,
    patient_id: patient.data.id,
    request_id: created.response.headers.get("x-request-id"),
  }),
);
