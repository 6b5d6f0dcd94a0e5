-- wrk script: one claim per request, each from a distinct user id.
local counter = 0
local thread_tag = tostring(math.random(1, 1000000000))
request = function()
  counter = counter + 1
  local body = '{"user_id":"w' .. thread_tag .. '-' .. counter .. '"}'
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
end
