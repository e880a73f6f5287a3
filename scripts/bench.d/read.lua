-- wrk: GET /cars/{id} over random ids from IDS_FILE (one id a line).
local ids = {}
function init(args)
  for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end
function request()
  return wrk.format("GET", "/cars/" .. ids[math.random(#ids)])
end
