-- wrk: every request creates a new customer with a new email (a new stream each time), as fast as
-- the server answers: the append path's throughput, with or without an inline projection.
-- `prefix` is set per thread by setup() (a global of that thread's Lua state).
local n = 0
function setup(thread)
  thread:set("prefix", string.format("w%d-%d", os.time() % 100000, math.random(1, 1e9)))
end
function request()
  n = n + 1
  local id = prefix .. "-" .. n
  local body = '{"expected_version": "no_stream", "events": [{"type": "customer.created", "data": {"name": "n", "email": "'
    .. id .. '@example.com"}}]}'
  return wrk.format("POST", "/streams/" .. id .. "/events", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer bench"}, body)
end
