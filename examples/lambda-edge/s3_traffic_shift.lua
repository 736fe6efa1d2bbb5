-- examples/lambda-edge/s3_traffic_shift.lua - origin-request: move traffic gradually from one S3 bucket to another.
-- Source: AWS, "Lambda@Edge example functions", Content-based dynamic origin selection, "Use an origin request trigger to
-- gradually transfer traffic from one Amazon S3 bucket to another". Ported line by line: request.origin.s3.domainName and the
-- Host header edited in place for BLUE_TRAFFIC_PERCENTAGE % of the requests. config: {blue_domain: "BUCKET.s3...",
-- blue_percentage: N} replace the example's constants.
local function getRandomInt(min, max)
    -- Random number is inclusive of min and max
    return math.floor(math.random() * (max - min + 1)) + min
end

function handler(event, context, callback)
    local request = event.Records[0].cf.request
    local BLUE_TRAFFIC_PERCENTAGE = edge.config.blue_percentage or 80

    -- This function demonstrates how to gradually transfer traffic from one S3 bucket to another in a controlled way. We
    -- define a variable BLUE_TRAFFIC_PERCENTAGE which can take values from 1 to 100. If the generated randomNumber is less
    -- than or equal to BLUE_TRAFFIC_PERCENTAGE, traffic is re-directed to blue-bucket. If not, the default bucket that we've
    -- configured is used.
    local randomNumber = getRandomInt(1, 100)

    if randomNumber <= BLUE_TRAFFIC_PERCENTAGE then
        local domainName = edge.config.blue_domain or "blue-bucket.s3.amazonaws.com"
        request.origin.s3.domainName = domainName
        request.headers["host"] = { { key = "host", value = domainName } }
    end
    callback(nil, request)
end
