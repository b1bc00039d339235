//! Baseline for the throughput benchmark: a bare hyper HTTP/1 server on the same tokio runtime
//! shape as `paylinks serve`, answering every request with a small JSON body.
//!
//!   hello_http 127.0.0.1:PORT

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:3900".to_owned());
    let listener = TcpListener::bind(&addr).await.expect("bind");
    println!("hello_http listening on {addr}");
    loop {
        let (stream, _) = listener.accept().await.expect("accept");
        tokio::spawn(async move {
            let service = service_fn(|_request| async {
                Ok::<_, Infallible>(
                    hyper::Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from_static(br#"{"success":true,"available":true}"#)))
                        .unwrap(),
                )
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
