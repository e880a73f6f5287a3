-- wrk: single car events (created, then repainted) to random cars of 20,000, as fast as the server
-- answers: appends that the cars projection folds (the history bench's write path).
function request()
  local id = math.random(1, 20000)
  local body = '{"expected_version": "any", "events": [{"type": "car.repainted", "data": {"color": "c' .. math.random(1, 50) .. '"}}]}'
  return wrk.format("POST", "/streams/hcar-" .. id .. "/events", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer bench"}, body)
end
