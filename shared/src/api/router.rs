//! Matches a method and path against `ROUTES`, as API Gateway does in production.

use std::collections::HashMap;
use std::sync::LazyLock;

use lambda_http::http::Method;

use super::{Endpoint, ROUTES};
use crate::error::ApiError;

/// The endpoint a request goes to, with its path parameters.
#[derive(Debug, PartialEq, Eq)]
pub struct ResolvedRoute {
    pub endpoint: Endpoint,
    pub path_parameters: HashMap<String, String>,
}

static ROUTER: LazyLock<matchit::Router<Vec<(Method, Endpoint)>>> = LazyLock::new(|| {
    let mut paths: Vec<(&str, Vec<(Method, Endpoint)>)> = Vec::new();
    for route in ROUTES {
        match paths.iter_mut().find(|(path, _)| *path == route.path) {
            Some((_, methods)) => methods.push((route.method.clone(), route.endpoint)),
            None => paths.push((route.path, vec![(route.method.clone(), route.endpoint)])),
        }
    }
    let mut router = matchit::Router::new();
    for (path, methods) in paths {
        router.insert(path, methods).expect("ROUTES holds distinct, valid paths");
    }
    router
});

/// 404 for an unknown path, 405 for a known path with another method.
pub fn resolve(method: &Method, path: &str) -> Result<ResolvedRoute, ApiError> {
    let matched = ROUTER.at(path).map_err(|_| ApiError::RouteNotFound)?;
    let endpoint = matched
        .value
        .iter()
        .find(|(allowed, _)| allowed == method || (method == Method::HEAD && allowed == Method::GET))
        .map(|(_, endpoint)| *endpoint)
        .ok_or(ApiError::MethodNotAllowed)?;
    let path_parameters = matched.params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    Ok(ResolvedRoute { endpoint, path_parameters })
}

/// The `Allow` header value for a known path (`GET, HEAD` for a GET route): what a 405 must
/// list (RFC 9110). `None` for an unknown path.
pub fn allowed_methods(path: &str) -> Option<String> {
    let matched = ROUTER.at(path).ok()?;
    let mut methods: Vec<&str> = Vec::new();
    for (method, _) in matched.value {
        methods.push(method.as_str());
        if method == Method::GET {
            methods.push(Method::HEAD.as_str());
        }
    }
    Some(methods.join(", "))
}
