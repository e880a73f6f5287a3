-- wrk with one connection: one append every 2 ms (~500/s) of a repaint to a random car.
local ids = {}
function init(args)
  for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
end
function delay() return 2 end
function request()
  local body = '{"expected_version": "any", "events": [{"type": "car.repainted", "data": {"color": "bench"}}]}'
  return wrk.format("POST", "/streams/" .. ids[math.random(#ids)] .. "/events", {["Content-Type"] = "application/json"}, body)
end
