-- POST /api/users with a name unique across threads and runs:
-- r<run>-<thread>-<counter>. One scrypt hash per request.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local run = os.getenv("RUN") or "0"
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  counter = counter + 1
  local body = string.format(
    '{"username":"r%s-%d-%d","password":"bench correct horse"}', run, tid, counter)
  return wrk.format(nil, "/api/users", nil, body)
end
