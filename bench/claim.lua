-- wrk script: one claim per request, each from a distinct signed-in user. wrk's Lua has no HMAC, so the
-- users' tokens are signed beforehand (bench/ingress_bench.sh: scripts/components.py tokens) into a file of
-- "user token" lines, named after `--`:  wrk -tT ... -s bench/claim.lua URL -- TOKENS_FILE [T]
-- With T threads, thread k starts at the k-th T-th of the file; past the file's end the users come round again.
local users, tokens = {}, {}
local counter = 0
local threads = 0

function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

function init(args)
  local path = args[1]
  if not path then error("claim.lua: name the tokens file after --") end
  for line in io.lines(path) do
    local user, token = line:match("^(%S+) (%S+)$")
    if user then
      users[#users + 1] = user
      tokens[#tokens + 1] = token
    end
  end
  if #users == 0 then error("claim.lua: no tokens in " .. path) end
  counter = math.floor((thread_index or 0) * #users / (tonumber(args[2]) or 1))
end

request = function()
  local i = counter % #users + 1
  counter = counter + 1
  local body = '{"user_id":"' .. users[i] .. '"}'
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. tokens[i] },
    body)
end
