-- examples/lambda-edge/ab_testing.lua - viewer-request: A/B testing.
-- Source: AWS, "Lambda@Edge example functions", General examples, "A/B testing". Ported line by line from the Node.js
-- original: the cookie X-Experiment-Name=A|B picks the variant's URI; without one, a 75/25 dice roll.
function handler(event, context, callback)
    local request = event.Records[0].cf.request
    local headers = request.headers

    if request.uri ~= "/experiment-pixel.jpg" then
        -- do not process if this is not an A-B test request
        callback(nil, request)
        return
    end

    local cookieExperimentA = "X-Experiment-Name=A"
    local cookieExperimentB = "X-Experiment-Name=B"
    local pathExperimentA = "/experiment-group/control-pixel.jpg"
    local pathExperimentB = "/experiment-group/treatment-pixel.jpg"

    -- Lambda@Edge's headers.cookie.length / [i]: a Lua array of the same entries, 1-based
    local experimentUri
    if headers.cookie then
        for i = 1, #headers.cookie do
            if headers.cookie[i].value:find(cookieExperimentA, 1, true) then
                print("Experiment A cookie found")
                experimentUri = pathExperimentA
                break
            elseif headers.cookie[i].value:find(cookieExperimentB, 1, true) then
                print("Experiment B cookie found")
                experimentUri = pathExperimentB
                break
            end
        end
    end

    if not experimentUri then
        print("Experiment cookie has not been found. Throwing dice...")
        if math.random() < 0.75 then
            experimentUri = pathExperimentA
        else
            experimentUri = pathExperimentB
        end
    end

    request.uri = experimentUri
    print('Request uri set to "' .. request.uri .. '"')
    callback(nil, request)
end
