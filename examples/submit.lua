-- wrk script: every request submits one new ticket over HTTPS, for
-- closed-loop throughput of durable commits (each connection sends its next
-- ticket when the last is acknowledged):
--   wrk -t1 -c8 -d10s -s examples/submit.lua https://127.0.0.1:8443
-- Raise the submit and HTTP rate limits first (--submit-rate, --http-rate).
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"description":"wrk %d: the label printer in bay %d jams on every second label","system":"Printers","requester":"Load"}', n, n % 97)
  return wrk.format("POST", "/api/tickets", {["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("requests %d, non-2xx %d, errors %d\n", summary.requests, summary.status or 0, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  for _, p in pairs({50, 90, 99, 99.9}) do
    io.write(string.format("p%s %.2f ms\n", p, latency:percentile(p) / 1000))
  end
end
