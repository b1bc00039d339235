//! Baseline for the cold-start benchmark: the smallest `lambda_http` function, built with the
//! same runtime features as the real functions.

use lambda_http::{Body, Error, Request, Response, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_request: Request| async {
        Ok::<_, Error>(Response::builder().status(200).body(Body::Text("hello".to_owned())).unwrap())
    }))
    .await
}
