-- wrk with 8 connections, each pausing 10 ms between appends (~500/s in all when appends are fast).
local ids = {}
function init(args)
  for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
end
function delay() return 10 end
function request()
  local body = '{"expected_version": "any", "events": [{"type": "car.repainted", "data": {"color": "bench"}}]}'
  return wrk.format("POST", "/streams/" .. ids[math.random(#ids)] .. "/events", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer bench"}, body)
end
