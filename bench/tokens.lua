-- Sends each request with the next token of $TOKENS (a file, one token a
-- line), each thread taking every Nth line so no two requests share one.
-- METHOD (default GET) and URLPATH (default /api/resource) pick the
-- request; with PICK=random tokens are drawn at random and reused instead.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  local n = tonumber(os.getenv("THREADS") or "1")
  tokens = {}
  local i = 0
  for line in io.lines(os.getenv("TOKENS")) do
    if i % n == tid - 1 then
      table.insert(tokens, line)
    end
    i = i + 1
  end
  next_token = 1
  random = os.getenv("PICK") == "random"
  method = os.getenv("METHOD") or "GET"
  path = os.getenv("URLPATH") or "/api/resource"
  math.randomseed(tid)
end

function request()
  local t
  if random then
    t = tokens[math.random(#tokens)]
  else
    t = tokens[next_token] or tokens[#tokens]
    next_token = next_token + 1
  end
  return wrk.format(method, path, { ["Authorization"] = "Bearer " .. t })
end
