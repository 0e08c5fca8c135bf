-- wrk script for scripts/bench: authenticated requests spread over the seeded document tenants.
--   wrk ... -s haven.lua http://127.0.0.1:PORT -- MODE TOKENS_FILE [IDS_FILE]
-- MODE
--   get       GET /api/v1/documents/{id}: a seeded document picked at random (uniformly over all
--             tenants' documents), with its tenant's viewer token
--   content   GET /api/v1/documents/{id}/content?redirect=false: a ready document (IDS_FILE lists
--             only those) at random, its tenant's viewer token: a presigned URL, no store call
--   list      GET /api/v1/documents (the first page, default limit): a tenant at random, viewer
--   validate  GET /api/v1/auth/validate: a tenant at random, viewer
--   patient_get   GET /api/v1/patients/{id}: a seeded patient at random, its tenant's viewer
--   patient_list  GET /api/v1/patients (the first page, default limit): a tenant at random, viewer
--   post      POST /api/v1/documents: a tenant at random, its editor token, a fresh
--             Idempotency-Key per request and the body below (create_document.sql replays it)
--   upload    the same POST with `sha256`: the document awaits its file and the response carries
--             a presigned PUT (signed locally, no call to the store)
--   mix       the soak: 8 get : 1 list : 1 post, at random
-- TOKENS_FILE: one line per tenant, "<k> <viewer token> <editor token>".
-- IDS_FILE (get, content, mix): one line per document, "<k> <document id>"; (patient_get) per
-- patient.

local counter = 0

-- Runs in the main Lua state once per thread: give each thread its own number (random seed,
-- unique Idempotency-Keys).
function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

local mode
local tenants, viewer, editor = {}, {}, {}
local ids, id_tenant = {}, {}
local sent = 0
local key_prefix

function init(args)
  mode = args[1]
  for line in io.lines(args[2]) do
    local k, v, e = line:match("^(%S+) (%S+) (%S+)$")
    if k then
      tenants[#tenants + 1] = k
      viewer[k] = "Bearer " .. v
      editor[k] = "Bearer " .. e
    end
  end
  assert(#tenants > 0, "no tokens in " .. args[2])
  if mode == "get" or mode == "content" or mode == "mix" or mode == "patient_get" then
    for line in io.lines(args[3]) do
      local k, id = line:match("^(%S+) (%S+)$")
      if k then
        ids[#ids + 1] = id
        id_tenant[#ids] = k
      end
    end
    assert(#ids > 0, "no ids in " .. tostring(args[3]))
  end
  math.randomseed(os.time() * 1000 + (seed or 0))
  -- Unique across threads (seed), runs (time) and within a run (the counter `sent`).
  key_prefix = string.format("wrk-%d-%d-%d-", os.time(), seed or 0, math.random(1000000000))
end

local function get(collection)
  local i = math.random(#ids)
  return wrk.format("GET", collection .. ids[i], { ["Authorization"] = viewer[id_tenant[i]] })
end

local function content()
  local i = math.random(#ids)
  return wrk.format("GET", "/api/v1/documents/" .. ids[i] .. "/content?redirect=false",
    { ["Authorization"] = viewer[id_tenant[i]] })
end

-- Set for list_compressed: the Accept-Encoding a browser sends.
local accept_encoding

local function as_viewer(path)
  local k = tenants[math.random(#tenants)]
  return wrk.format("GET", path, { ["Authorization"] = viewer[k], ["Accept-Encoding"] = accept_encoding })
end

local function post(upload)
  local k = tenants[math.random(#tenants)]
  sent = sent + 1
  local n = math.random(1000000000)
  local body
  if upload then
    -- Within STORAGE_MAX_UPLOAD_BYTES; the hash is checked for form only until completion.
    body = string.format(
      '{"title":"Bench upload %d","filename":"bench-upload-%d.pdf","content_type":"application/pdf",'
        .. '"size_bytes":%d,"metadata":{"source":"bench","pages":3},'
        .. '"sha256":"n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="}',
      n, n, n % 1000000 + 1)
  else
    body = string.format(
      '{"title":"Bench upload %d","filename":"bench-upload-%d.pdf","content_type":"application/pdf",'
        .. '"size_bytes":%d,"status":"pending","metadata":{"source":"bench","pages":3}}',
      n, n, n)
  end
  return wrk.format("POST", "/api/v1/documents", {
    ["Authorization"] = editor[k],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = key_prefix .. sent,
  }, body)
end

function request()
  if mode == "get" then
    return get("/api/v1/documents/")
  elseif mode == "patient_get" then
    return get("/api/v1/patients/")
  elseif mode == "patient_list" then
    return as_viewer("/api/v1/patients")
  elseif mode == "content" then
    return content()
  elseif mode == "list" then
    return as_viewer("/api/v1/documents")
  elseif mode == "list_compressed" then
    accept_encoding = "gzip, deflate, br"
    return as_viewer("/api/v1/documents")
  elseif mode == "validate" then
    return as_viewer("/api/v1/auth/validate")
  elseif mode == "post" then
    return post(false)
  elseif mode == "upload" then
    return post(true)
  elseif mode == "mix" then
    local r = math.random(10)
    if r <= 8 then
      return get("/api/v1/documents/")
    elseif r == 9 then
      return as_viewer("/api/v1/documents")
    end
    return post(false)
  end
  error("unknown mode " .. tostring(mode))
end
