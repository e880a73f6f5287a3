-- wrk: GET /cars/{id} over random ids from IDS_FILE (one id a line). The requests are formatted
-- once, in init (65,536 random ids a thread, cycled): formatting one per request in Lua made wrk
-- itself use a quarter of the machine's CPU.
local requests = {}
local n = 0
function init(args)
  local ids = {}
  for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  local query = os.getenv("QUERY") or ""  -- e.g. "?as_of=500000" (the history bench)
  for i = 1, 65536 do requests[i] = wrk.format("GET", "/cars/" .. ids[math.random(#ids)] .. query) end
end
function request()
  n = n % #requests + 1
  return requests[n]
end
