-- A mixed merchant + customer workload for wrk against `paylinks serve`:
--
--   wrk -t8 -c8 -d60s --timeout 10s -s tests/load/mixed.lua http://127.0.0.1:PORT -- \
--       LEDGER_DIR MERCHANT_ID VAULT_KEY MERCHANT_KEY
--
-- Each wrk thread has ONE connection (-c = -t), so it is one client whose requests are
-- strictly in turn: the response to one step decides the next. A client creates a payment
-- link (usage limit 3, every fifth unlimited), then walks customer journeys over its recent
-- links: check availability, open the link (303 to a fresh checkout), load the checkout page
-- (its form token), pay (one card in five declines), now and then the merchant reads the link
-- back. Every journey comes from its own customer IP (X-Forwarded-For; run the server with
-- PAYLINKS_TRUST_FORWARDED_FOR=1) so the per-IP card-testing limit sees customers, not wrk.
--
-- What the server acknowledged is appended, one line at a time, to LEDGER_DIR/ledger-N.txt:
--   status <step> <http status>     every response
--   created <link id>               create answered 201
--   session <link id> <session id>  open answered 303 to a checkout
--   paid <session id> <transaction> pay answered with the success redirect
-- A test (tests/tests/resilience.rs) audits the server's state against it afterwards.

local next_thread_id = 0

function setup(thread)
    next_thread_id = next_thread_id + 1
    thread:set("thread_id", next_thread_id)
end

function init(args)
    ledger_dir, merchant_id, vault_key, merchant_key = args[1], args[2], args[3], args[4]
    ledger = assert(io.open(string.format("%s/ledger-%d.txt", ledger_dir, thread_id), "a"))
    ledger:setvbuf("line") -- the ledger survives anything that happens to the server
    math.randomseed(os.time() + thread_id * 7919)
    links = {}        -- this client's links, newest last
    journeys = 0
    step = "create"
    customer_ip = nil
    link, session, checkout_path, form_token = nil, nil, nil, nil
end

local function note(...)
    ledger:write(table.concat({ ... }, " "), "\n")
end

local function create_body()
    local limit = (journeys % 5 == 0) and "null" or "3"
    return string.format(
        '{"merchantId":"%s","merchantName":"Load Store","amount":"9.99",' ..
        '"successUrl":"https://shop.example/ok","cancelUrl":"https://shop.example/cancel",' ..
        '"errorUrl":"https://shop.example/error","usageLimit":%s,"metadata":{"run":"load"}}',
        merchant_id, limit)
end

local function new_journey()
    journeys = journeys + 1
    customer_ip = string.format("10.%d.%d.%d", thread_id % 256, math.random(0, 255), math.random(1, 254))
    if #links == 0 or journeys % 4 == 0 then
        step = "create"
    else
        -- One of this client's five newest links: some fill up, most are open.
        link = links[math.max(1, #links - math.random(0, 4))]
        step = (journeys % 3 == 0) and "check" or "open"
    end
    if journeys % 10 == 0 and #links > 0 then
        step = "read"
    end
end

function request()
    local customer = { ["X-Forwarded-For"] = customer_ip }
    if step == "create" then
        return wrk.format("POST", "/api/payment-links/create", {
            ["Content-Type"] = "application/json",
            ["X-API-KEY"] = vault_key,
            ["X-OZURA-API-KEY"] = merchant_key,
        }, create_body())
    elseif step == "read" then
        return wrk.format("GET", "/api/payment-links/" .. links[#links], {
            ["X-API-KEY"] = vault_key,
            ["X-OZURA-API-KEY"] = merchant_key,
        })
    elseif step == "check" then
        return wrk.format("GET", "/api/payment-links/" .. link .. "/check-availability", customer)
    elseif step == "open" then
        return wrk.format("GET", "/pay/" .. link, customer)
    elseif step == "page" then
        return wrk.format("GET", checkout_path, customer)
    else -- pay
        local card = (journeys % 5 == 0) and "4000000000000002" or "4242424242424242"
        customer["Content-Type"] = "application/x-www-form-urlencoded"
        return wrk.format("POST", checkout_path .. "/pay", customer,
            "formToken=" .. form_token .. "&cardNumber=" .. card ..
            "&expiry=12%2F34&cvc=123&cardholderName=Load+Test")
    end
end

local function location(headers)
    return headers["location"] or headers["Location"] or ""
end

function response(status, headers, body)
    note("status", step, status)
    if step == "create" then
        local id = status == 201 and body:match('"paymentLinkId":"(pl_[%w]+)"')
        if id then
            note("created", id)
            links[#links + 1] = id
        end
        new_journey()
    elseif step == "check" then
        step = "open"
    elseif step == "open" then
        checkout_path = status == 303 and location(headers):match("(/checkout/cs_[%w]+)$")
        if checkout_path then
            session = checkout_path:match("cs_[%w]+")
            note("session", link, session)
            step = "page"
        else
            new_journey()
        end
    elseif step == "page" then
        form_token = status == 200 and body:match('name="formToken" value="([^"]+)"')
        if form_token then step = "pay" else new_journey() end
    elseif step == "pay" then
        local transaction = status == 303 and location(headers):match("[?&]transactionId=([^&#]+)")
        if transaction then
            note("paid", session, transaction)
        end
        new_journey()
    else
        new_journey()
    end
end
