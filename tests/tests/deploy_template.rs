//! template.yaml and the Lambda emulator's router (root Cargo.toml) against the route table:
//! every route of `paylinks_core::api::ROUTES` has exactly one HttpApi event, on the function
//! whose binary handles that route's endpoint, and nothing else is routed. Adding a route
//! without its function (or the other way round) fails here rather than in a deployed stack.

use std::collections::BTreeMap;
use std::path::Path;

use heck::ToSnakeCase;
use paylinks_core::api::{Endpoint, ROUTES};
use paylinks_core::webhooks::DISPATCH_FUNCTION;
use paylinks_tests::workspace_root;
use serde_yaml::Value;

/// A function of template.yaml, as far as routing, building and permissions go.
#[derive(Debug)]
struct Function {
    logical_id: String,
    binary: String,
    properties: Value,
    /// (method, path) of each HttpApi event.
    events: Vec<(String, String)>,
}

fn template() -> Value {
    let path = workspace_root().join("template.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("template.yaml is not YAML: {e}"))
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(value, |value, key| value.get(*key)).and_then(Value::as_str)
}

/// The target of `!Ref X` or `{Ref: X}`.
fn reference(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!Ref" => tagged.value.as_str(),
        Value::Mapping(_) => value.get("Ref").and_then(Value::as_str),
        _ => None,
    }
}

fn functions(template: &Value) -> Vec<Function> {
    let resources = template["Resources"].as_mapping().expect("template.yaml has Resources");
    let mut functions = Vec::new();
    for (id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let logical_id = id.as_str().expect("logical ids are strings").to_owned();
        let binary = str_at(resource, &["Metadata", "BuildProperties", "Binary"])
            .unwrap_or_else(|| panic!("{logical_id}: no Metadata.BuildProperties.Binary"))
            .to_owned();
        let mut events = Vec::new();
        if let Some(declared) = resource["Properties"]["Events"].as_mapping() {
            for (name, event) in declared {
                // The webhook dispatcher alone is woken otherwise (checked by its own test).
                if binary == DISPATCH_FUNCTION {
                    continue;
                }
                assert_eq!(event["Type"].as_str(), Some("HttpApi"), "{logical_id}.{name:?}: only HttpApi events");
                let method = str_at(event, &["Properties", "Method"]).expect("HttpApi event Method");
                let path = str_at(event, &["Properties", "Path"]).expect("HttpApi event Path");
                assert_eq!(
                    reference(&event["Properties"]["ApiId"]),
                    Some("HttpApi"),
                    "{logical_id}.{name:?}: ApiId must be !Ref HttpApi (the throttled API)"
                );
                events.push((method.to_ascii_uppercase(), path.to_owned()));
            }
        }
        functions.push(Function { logical_id, binary, properties: resource["Properties"].clone(), events });
    }
    functions
}

#[test]
fn every_route_has_exactly_one_http_api_event_on_the_function_that_handles_it() {
    let template = template();
    let functions = functions(&template);
    for route in ROUTES {
        let matches: Vec<&Function> = functions
            .iter()
            .filter(|f| f.events.iter().any(|(m, p)| m == route.method.as_str() && p == route.path))
            .collect();
        let owners: Vec<&str> = matches.iter().map(|f| f.logical_id.as_str()).collect();
        assert_eq!(
            matches.len(),
            1,
            "{} {} ({:?}) needs exactly one HttpApi event in template.yaml, found on {owners:?}",
            route.method,
            route.path,
            route.endpoint
        );
        assert_eq!(
            matches[0].binary,
            route.endpoint.function(),
            "{} {} is routed to {} whose binary is {:?}, but {:?} is served by the binary {:?}",
            route.method,
            route.path,
            matches[0].logical_id,
            matches[0].binary,
            route.endpoint,
            route.endpoint.function()
        );
        let events = matches[0].events.iter().filter(|(m, p)| m == route.method.as_str() && p == route.path).count();
        assert_eq!(events, 1, "{}: {} {} appears {events} times", matches[0].logical_id, route.method, route.path);
    }
}

#[test]
fn every_http_api_event_and_every_function_belongs_to_a_route() {
    let template = template();
    for function in functions(&template).into_iter().filter(|f| f.binary != DISPATCH_FUNCTION) {
        assert!(!function.events.is_empty(), "{} has no HttpApi event: nothing can reach it", function.logical_id);
        for (method, path) in &function.events {
            assert!(
                ROUTES.iter().any(|r| r.method.as_str() == method && r.path == path),
                "{}: {method} {path} is not in paylinks_core::api::ROUTES (stale route?)",
                function.logical_id
            );
        }
    }
}

#[test]
fn every_function_builds_its_own_binary_from_the_workspace_with_cargo_lambda() {
    let template = template();
    let functions = functions(&template);
    let root = workspace_root();
    let mut seen = BTreeMap::new();
    for function in &functions {
        let id = &function.logical_id;
        let resource = &template["Resources"][id.as_str()];
        assert_eq!(str_at(resource, &["Metadata", "BuildMethod"]), Some("rust-cargolambda"), "{id}: BuildMethod");
        // `CodeUri: .` with `Binary`: cargo-lambda builds in the workspace, shared/ and Cargo.lock included.
        assert_eq!(function.properties["CodeUri"].as_str(), Some("."), "{id}: CodeUri must be `.`");
        if let Some(other) = seen.insert(function.binary.clone(), id.clone()) {
            panic!("{id} and {other} both build the binary {}", function.binary);
        }
        assert_binary_serves(&root, &function.binary, &function.events);
    }
    // No function crate without a function in the template (it would never be deployed).
    let crates = std::fs::read_dir(root.join("functions")).expect("functions/");
    for entry in crates.flatten().filter(|e| e.path().join("Cargo.toml").exists()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(seen.contains_key(&name), "functions/{name} has no function in template.yaml (Binary: {name})");
    }
}

/// `functions/<binary>` builds a bin named `binary` whose main hands requests to the endpoint of
/// every route the function is an event target of.
fn assert_binary_serves(root: &Path, binary: &str, events: &[(String, String)]) {
    let manifest_path = root.join("functions").join(binary).join("Cargo.toml");
    let manifest: toml::Table = std::fs::read_to_string(&manifest_path)
        .unwrap_or_else(|e| panic!("binary {binary}: cannot read {}: {e}", manifest_path.display()))
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", manifest_path.display()));
    let bins = manifest.get("bin").and_then(|b| b.as_array()).cloned().unwrap_or_default();
    let bin = bins.iter().find(|b| b.get("name").and_then(|n| n.as_str()) == Some(binary));
    let bin = bin.unwrap_or_else(|| panic!("{} has no [[bin]] named {binary}", manifest_path.display()));
    let main =
        root.join("functions").join(binary).join(bin.get("path").and_then(|p| p.as_str()).unwrap_or("src/main.rs"));
    let source = std::fs::read_to_string(&main).unwrap_or_else(|e| panic!("{}: {e}", main.display()));
    for (method, path) in events {
        let route = ROUTES.iter().find(|r| r.method.as_str() == method && r.path == path);
        if let Some(route) = route {
            let endpoint = format!("Endpoint::{:?}", route.endpoint);
            assert!(source.contains(&endpoint), "{} does not hand {method} {path} to {endpoint}", main.display());
            // `api::handlers` names each endpoint's handler after it, in snake case. The assets
            // function serves `assets::serve` alone (`lambda::run_request_only`: no store).
            let handler = format!("handlers::{}", format!("{:?}", route.endpoint).to_snake_case());
            if route.endpoint != Endpoint::Asset {
                assert!(source.contains(&handler), "{} does not serve {endpoint} with {handler}", main.display());
            }
        }
    }
}

#[test]
fn every_function_gets_only_dynamodb_actions_on_the_table_ssm_reads_of_named_parameters_and_its_own_log_group() {
    let template = template();
    let resources = &template["Resources"];
    for function in functions(&template) {
        let id = &function.logical_id;
        let policies = function.properties["Policies"].as_sequence().cloned().unwrap_or_default();
        for policy in &policies {
            let statements = policy["Statement"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{id}: policies are inline statements (least privilege), not {policy:?}"));
            for statement in statements {
                let actions = statement["Action"].as_sequence().expect("Action is a list");
                let resource = format!("{:?}", statement["Resource"]);
                // Stripe's secrets: GetParameter of parameters the template names, nothing wider.
                if actions.iter().all(|action| action.as_str() == Some("ssm:GetParameter")) {
                    assert!(
                        resource.contains(":parameter${Stripe") && !resource.contains('*'),
                        "{id}: SSM reads only of the Stripe parameters, not {resource}"
                    );
                    continue;
                }
                for action in actions {
                    let action = action.as_str().unwrap_or_default();
                    assert!(
                        action.starts_with("dynamodb:") && !action.contains('*'),
                        "{id}: {action:?} is not one precise DynamoDB action"
                    );
                }
                assert!(resource.contains("Table"), "{id}: statement on {resource}, not on the table or its index");
            }
        }
        let log_group = reference(&function.properties["LoggingConfig"]["LogGroup"])
            .unwrap_or_else(|| panic!("{id}: LoggingConfig.LogGroup must be !Ref its own AWS::Logs::LogGroup"));
        assert_eq!(resources[log_group]["Type"].as_str(), Some("AWS::Logs::LogGroup"), "{id}: {log_group}");
        assert!(!resources[log_group]["Properties"]["RetentionInDays"].is_null(), "{log_group}: RetentionInDays");
    }
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Architectures"][0].as_str(), Some("arm64"));
    let timeout = globals["Timeout"].as_u64().expect("Globals.Function.Timeout");
    assert!(timeout < 30, "Timeout {timeout} s: API Gateway gives up at 30 s");
}

#[test]
fn the_lambda_emulator_routes_every_route_to_its_function_and_nothing_else() {
    let path = workspace_root().join("Cargo.toml");
    let manifest: toml::Table = std::fs::read_to_string(&path).expect("root Cargo.toml").parse().expect("TOML");
    let manifest = toml::Value::Table(manifest);
    let router = ["workspace", "metadata", "lambda", "watch", "router"]
        .iter()
        .try_fold(&manifest, |value, key| value.get(*key))
        .and_then(toml::Value::as_table)
        .expect("[workspace.metadata.lambda.watch.router] in the root Cargo.toml");
    let mut routed = Vec::new();
    for (path, targets) in router {
        let targets = targets
            .as_array()
            .unwrap_or_else(|| panic!("router {path:?}: a list of {{ method, function }}, as for every route"));
        for target in targets {
            let method = target.get("method").and_then(toml::Value::as_str).expect("method").to_ascii_uppercase();
            let function = target.get("function").and_then(toml::Value::as_str).expect("function");
            routed.push((method, path.clone(), function.to_owned()));
        }
    }
    for route in ROUTES {
        let found: Vec<_> =
            routed.iter().filter(|(m, p, _)| m == route.method.as_str() && p == route.path).map(|r| &r.2).collect();
        assert_eq!(
            found,
            vec![route.endpoint.function()],
            "router entry of {} {} in the root Cargo.toml",
            route.method,
            route.path
        );
    }
    for (method, path, function) in &routed {
        assert!(
            ROUTES.iter().any(|r| r.method.as_str() == method && r.path == path),
            "router: {method} {path} -> {function} is not in ROUTES"
        );
    }
}

/// `!GetAtt Name.Arn` (or its long form): the resource it names.
fn get_att_arn(value: &Value) -> Option<&str> {
    let target = match value {
        Value::Tagged(tagged) if tagged.tag == "!GetAtt" => tagged.value.as_str()?,
        Value::Mapping(_) => value.get("Fn::GetAtt").and_then(Value::as_str)?,
        _ => return None,
    };
    target.strip_suffix(".Arn")
}

#[test]
fn the_http_api_writes_an_access_log_line_per_request_to_a_retained_log_group() {
    let template = template();
    let resources = &template["Resources"];
    let settings = &resources["HttpApi"]["Properties"]["AccessLogSettings"];
    let group =
        get_att_arn(&settings["DestinationArn"]).expect("AccessLogSettings.DestinationArn: !GetAtt <LogGroup>.Arn");
    assert_eq!(resources[group]["Type"].as_str(), Some("AWS::Logs::LogGroup"), "{group}");
    assert!(!resources[group]["Properties"]["RetentionInDays"].is_null(), "{group}: RetentionInDays");
    let format = settings["Format"].as_str().expect("AccessLogSettings.Format");
    let line: serde_json::Value = serde_json::from_str(format).expect("the access log format is one JSON object");
    for field in ["requestId", "sourceIp", "routeKey", "status"] {
        assert!(line.get(field).is_some(), "the access log has {field}: {format}");
    }
}

#[test]
fn the_webhook_dispatcher_is_woken_by_new_events_on_the_stream_and_by_a_schedule_one_at_a_time() {
    let template = template();
    let resources = &template["Resources"];
    let dispatcher = functions(&template).into_iter().find(|f| f.binary == DISPATCH_FUNCTION).expect("the dispatcher");
    assert_eq!(resources["Table"]["Properties"]["StreamSpecification"]["StreamViewType"].as_str(), Some("KEYS_ONLY"));
    // One dispatcher at a time by default; a parameter lifts the reservation for an account
    // whose concurrency quota leaves none to reserve (new accounts': 10).
    let reserved = match &dispatcher.properties["ReservedConcurrentExecutions"] {
        Value::Tagged(tagged) if tagged.tag == "!If" => tagged.value.as_sequence().expect("!If's three branches"),
        other => panic!("the reservation depends on a condition: {other:?}"),
    };
    assert_eq!((reserved[0].as_str(), reserved[1].as_u64()), (Some("ReserveDispatcher"), Some(1)));
    assert!(matches!(&reserved[2], Value::Tagged(t) if t.tag == "!Ref" && t.value.as_str() == Some("AWS::NoValue")));
    let parameter = &template["Parameters"]["WebhookDispatcherOneAtATime"];
    assert_eq!(parameter["Default"].as_str(), Some("true"), "one at a time unless the deployer says otherwise");
    let allowed: Vec<&str> =
        parameter["AllowedValues"].as_sequence().expect("its values").iter().filter_map(Value::as_str).collect();
    assert_eq!(allowed, ["true", "false"]);
    let condition = &template["Conditions"]["ReserveDispatcher"];
    let Value::Tagged(condition) = condition else { panic!("ReserveDispatcher is an !Equals: {condition:?}") };
    let compared = condition.value.as_sequence().expect("!Equals' two values");
    assert!(matches!(&compared[0], Value::Tagged(t) if t.value.as_str() == Some("WebhookDispatcherOneAtATime")));
    assert_eq!(compared[1].as_str(), Some("true"));
    let events = dispatcher.properties["Events"].as_mapping().expect("its events");
    let kinds: Vec<&str> = events.values().filter_map(|event| event["Type"].as_str()).collect();
    assert_eq!(kinds, ["DynamoDB", "ScheduleV2"], "woken by the stream and by a schedule, nothing else");
    let stream = events.values().find(|event| event["Type"] == "DynamoDB").expect("the stream event");
    let stream = &stream["Properties"];
    let stream_arn = match &stream["Stream"] {
        Value::Tagged(tagged) if tagged.tag == "!GetAtt" => tagged.value.as_str(),
        _ => None,
    };
    assert_eq!(stream_arn, Some("Table.StreamArn"));
    assert_eq!(stream["BisectBatchOnFunctionError"].as_bool(), Some(true));
    assert_eq!(stream["FunctionResponseTypes"][0].as_str(), Some("ReportBatchItemFailures"));
    let filter = stream["FilterCriteria"]["Filters"][0]["Pattern"].as_str().expect("a filter");
    let filter: serde_json::Value = serde_json::from_str(filter).expect("the filter is JSON");
    assert_eq!(filter["eventName"], serde_json::json!(["INSERT"]), "new items only");
    assert_eq!(filter["dynamodb"]["Keys"]["pk"]["S"][0]["prefix"], "EVENT#", "events only");
    let dead_letters = get_att_arn(&stream["DestinationConfig"]["OnFailure"]["Destination"]).expect("a DLQ");
    assert_eq!(resources[dead_letters]["Type"].as_str(), Some("AWS::SQS::Queue"));
}
