-- wrk script for scripts/bench.d/documents: GET /api/v1/documents/{id} with an id picked at
-- random (uniformly) from the seeded ids, and a bearer token.
--   wrk ... -s get_document.lua http://127.0.0.1:PORT -- IDS_FILE TOKEN_FILE
-- IDS_FILE: one document id per line. TOKEN_FILE: the access token on its first line.

local threads = {}
local counter = 0

-- Runs in the main Lua state once per thread: give each thread its own random seed.
function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
  table.insert(threads, thread)
end

local ids = {}
local auth

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then ids[#ids + 1] = line end
  end
  local f = assert(io.open(args[2]))
  auth = "Bearer " .. f:read("*l")
  f:close()
  math.randomseed(os.time() * 1000 + (seed or 0))
  assert(#ids > 0, "no ids in " .. args[1])
end

function request()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/api/v1/documents/" .. id, { ["Authorization"] = auth })
end
