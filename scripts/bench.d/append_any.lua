-- wrk: single-event appends with expected_version "any" to random streams (of 100,000), as fast as
-- the server answers: the write path issue 18 measures at 8 and 64 clients.
function request()
  local body = '{"expected_version": "any", "events": [{"type": "bench.appended", "data": {"n": ' .. math.random(1e9) .. '}}]}'
  return wrk.format("POST", "/streams/s" .. math.random(1, 100000) .. "/events", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer bench"}, body)
end
