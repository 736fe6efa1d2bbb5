-- examples/hooks/lua/order_report.lua - a generic hook (not a Lambda@Edge trigger): `aws lambda invoke` gives it any JSON.
-- It builds `orders` synthetic orders in memory (as a batch job reading a day's records would) and returns a summary per
-- country: a function whose memory grows with its input, to size with `edgehook invoke --sweep-memory`.
--
--   aws lambda invoke --function-name order-report --payload '{"orders": 50000}' --cli-binary-format raw-in-base64-out out.json
local countries = { "DE", "FR", "US", "JP", "BR", "IN" }

function handler(event, context)
    local n = tonumber(event.orders) or 1000
    local orders = {}
    for i = 1, n do
        orders[i] = {
            id = string.format("order-%08d", i),
            country = countries[i % #countries + 1],
            cents = (i * 7919) % 100000,
            items = { { sku = "sku-" .. (i % 97), qty = i % 5 + 1 } },
        }
    end
    local by_country = {}
    for _, o in ipairs(orders) do
        local c = by_country[o.country] or { orders = 0, cents = 0 }
        c.orders = c.orders + 1
        c.cents = c.cents + o.cents
        by_country[o.country] = c
    end
    print(string.format("%d orders summarised (%.1f MB of Lua memory)", n, collectgarbage("count") / 1024))
    return { orders = n, by_country = by_country, function_version = context.functionVersion }
end
