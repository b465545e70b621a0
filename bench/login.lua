-- POST /api/tokens with a password in Basic: one scrypt verification per
-- request. $CREDENTIALS is a file of base64 "user:password" values, one a
-- line, used in turn, so no one account sees more than a few concurrent
-- checks (the account throttle admits at most account_failures at once).
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  creds = {}
  for line in io.lines(os.getenv("CREDENTIALS")) do
    table.insert(creds, line)
  end
  next_cred = tid
end

function request()
  local c = creds[(next_cred % #creds) + 1]
  next_cred = next_cred + 2
  return wrk.format("POST", "/api/tokens", { ["Authorization"] = "Basic " .. c })
end
