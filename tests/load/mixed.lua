-- A mixed merchant + customer workload for wrk against `paylinks serve`:
--
--   wrk -t8 -c8 -d60s --timeout 10s -s tests/load/mixed.lua http://127.0.0.1:PORT -- \
--       LEDGER_DIR MERCHANT_ID VAULT_KEY MERCHANT_KEY SHARED_LINKS_FILE
--
-- Each wrk thread has ONE connection (-c = -t), so it is one client whose requests are
-- strictly in turn: the response to one step decides the next. A journey is, at random:
-- a merchant creating a link (one in five; usage limit 3, one link in five unlimited), a
-- merchant reading its newest link back (one in ten), or a customer: check availability (three
-- in ten), open the link (303 to a fresh checkout), load the checkout page (its form token),
-- pay (one card in five declines, one in twenty fails at the processor: the processing-error
-- test card, so the server's "processor failed the charge" warnings are in its audited log).
-- Customers pay either one of this client's five newest links or (four in ten) one of the
-- links in SHARED_LINKS_FILE, which every client pays at once, so claims on one link race.
-- Every journey comes from its own customer IP (X-Forwarded-For; run the server with
-- PAYLINKS_TRUST_FORWARDED_FOR=1) so the per-IP card-testing limit sees customers, not wrk.
--
-- What the server acknowledged is appended, one line at a time, to LEDGER_DIR/ledger-N.txt:
--   status <step> <http status>     every response
--   created <link id>               create answered 201
--   session <link id> <session id>  open answered 303 to a checkout
--   gone <link id>                  open answered 410 (the link is used up or paused)
--   paid <session id> <transaction> <card>  pay answered with the success redirect
--   failed <session id> <errorCode> <card>  pay answered with the error redirect
--   declined <session id> <card>    pay answered with the redirect back to the page (?declined=)
--   malformed <step> <http status>  a success status without what it promises (a 201 create
--                                   without a link id, a 303 open not to a checkout, a 200
--                                   page without a form token, a 303 pay to none of the three redirects)
-- where <card> is success, declined or error (the test card the pay used).
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
    shared = {}       -- links every client pays
    for line in io.lines(args[5]) do shared[#shared + 1] = line end
    full = {}         -- shared links this client has seen used up
    step = "create"
    customer_ip = nil
    link, session, checkout_path, form_token, card = nil, nil, nil, nil, nil
end

local function note(...)
    ledger:write(table.concat({ ... }, " "), "\n")
end

-- The test cards, by what the sandbox processor does with them.
local cards = { success = "4242424242424242", declined = "4000000000000002", error = "4000000000000119" }

-- December, five years from now: always in the future (MM%2FYY, form-encoded).
local expiry = string.format("12%%2F%02d", (os.date("*t").year + 5) % 100)

-- The card of a pay, chosen once per checkout: a pay wrk sends again (its connection broke,
-- e.g. while the server was killed) pays with the same card.
local function pick_card()
    local dice = math.random()
    if dice < 0.2 then return "declined" elseif dice < 0.25 then return "error" else return "success" end
end

local function create_body()
    local limit = (math.random() < 0.2) and "null" or "3"
    return string.format(
        '{"merchantId":"%s","merchantName":"Load Store","amount":"9.99",' ..
        '"successUrl":"https://shop.example/ok","cancelUrl":"https://shop.example/cancel",' ..
        '"errorUrl":"https://shop.example/error","usageLimit":%s,"metadata":{"run":"load"}}',
        merchant_id, limit)
end

-- A shared link this client has not seen used up, if any is left (a few random tries).
local function shared_link()
    for _ = 1, 4 do
        local candidate = shared[math.random(1, math.max(1, #shared))]
        if candidate and not full[candidate] then return candidate end
    end
    return nil
end

local function new_journey()
    customer_ip = string.format("10.%d.%d.%d", thread_id % 256, math.random(0, 255), math.random(1, 254))
    local dice = math.random()
    if #links == 0 or dice < 0.2 then
        step = "create"
    elseif dice < 0.3 then
        step = "read"
    else
        -- A shared link, or one of this client's five newest: some fill up, most are open.
        link = (math.random() < 0.4 and shared_link()) or links[math.max(1, #links - math.random(0, 4))]
        step = (math.random() < 0.3) and "check" or "open"
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
        customer["Content-Type"] = "application/x-www-form-urlencoded"
        return wrk.format("POST", checkout_path .. "/pay", customer,
            "formToken=" .. form_token .. "&cardNumber=" .. cards[card] ..
            "&expiry=" .. expiry .. "&cvc=123&cardholderName=Load+Test")
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
        elseif status == 201 then
            note("malformed", step, status)
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
            if status == 410 then
                full[link] = true
                note("gone", link)
            elseif status == 303 then
                note("malformed", step, status)
            end
            new_journey()
        end
    elseif step == "page" then
        form_token = status == 200 and body:match('name="formToken" value="([^"]+)"')
        if form_token then
            card = pick_card()
            step = "pay"
        else
            if status == 200 then note("malformed", step, status) end
            new_journey()
        end
    elseif step == "pay" then
        local target = status == 303 and location(headers) or ""
        local transaction = target:match("[?&]transactionId=([^&#]+)")
        local error_code = target:match("[?&]errorCode=([^&#]+)")
        if transaction then
            note("paid", session, transaction, card)
        elseif error_code then
            note("failed", session, error_code, card)
        elseif target:match("/checkout/cs_[%w]+%?declined=") then
            note("declined", session, card)
        elseif status == 303 then
            note("malformed", step, status)
        end
        new_journey()
    else
        new_journey()
    end
end
