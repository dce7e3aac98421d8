-- wrk script: POST pre-signed NCS callbacks, each line of the file once ("<sig> <body>").
-- args: <file> [requests per second per connection, 0 = as fast as possible]
local sigs, bodies = {}, {}
local counter, delay_ms = 0, 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    local sig, body = line:match("^(%S+) (.*)$")
    sigs[#sigs + 1], bodies[#bodies + 1] = sig, body
  end
  local rate = tonumber(args[2] or "0")
  if rate > 0 then delay_ms = 1000 / rate end
  nthreads = tonumber(args[3] or "1")
end

function delay()
  return delay_ms
end

function request()
  counter = counter + 1
  local index = ((counter - 1) * nthreads + id) % #bodies + 1
  return wrk.format("POST", "/agora/ncs",
    {["Content-Type"] = "application/json", ["Agora-Signature-V2"] = sigs[index]},
    bodies[index])
end
