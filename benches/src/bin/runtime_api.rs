//! A minimal Lambda Runtime API (the endpoint a function's runtime polls), for cold starts and
//! the memory of a function serving many invocations.
//!
//!   runtime_api --event FILE [--runs R] [--invocations N] -- BINARY [ARGS...]
//!   runtime_api --header TITLE     # the markdown header of those rows, TITLE its first column
//!
//! Each run spawns BINARY with `AWS_LAMBDA_RUNTIME_API` pointing here, hands it the event N
//! times (`GET /2018-06-01/runtime/invocation/next`), and times process start -> first
//! `/next` (init) and process start -> first `POST .../response` (cold start). After N
//! responses it reads the process's peak RSS (VmHWM) and kills it, and reads from the kernel
//! (`getrusage` of reaped children) the CPU time (user + system) and minor page faults the
//! process spent: with one invocation, what its start and first answer cost in CPU, apart from
//! the time spent waiting on the store (it also counts the next `/next` poll and the teardown).
//! Prints one markdown row.

use std::convert::Infallible;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

enum Seen {
    Next,
    Response(u16),
}

struct State {
    event: Bytes,
    invocations: usize,
    handed_out: AtomicUsize,
    seen: mpsc::UnboundedSender<Seen>,
}

async fn serve(request: hyper::Request<Incoming>, state: Arc<State>) -> hyper::Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    if path.ends_with("/invocation/next") {
        let _ = state.seen.send(Seen::Next);
        let n = state.handed_out.fetch_add(1, Ordering::SeqCst);
        if n >= state.invocations {
            // Done: leave the runtime polling until we kill it.
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        let deadline = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() + 30_000;
        return hyper::Response::builder()
            .header("lambda-runtime-aws-request-id", format!("req-{n}"))
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:000000000000:function:bench")
            .header("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000")
            .header("content-type", "application/json")
            .body(Full::new(state.event.clone()))
            .unwrap();
    }
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    if path.ends_with("/response") {
        let status =
            serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v["statusCode"].as_u64()).unwrap_or(0)
                as u16;
        let _ = state.seen.send(Seen::Response(status));
    } else {
        eprintln!("runtime_api: {path}: {}", String::from_utf8_lossy(&body));
        let _ = state.seen.send(Seen::Response(0));
    }
    hyper::Response::builder().status(202).body(Full::new(Bytes::new())).unwrap()
}

/// The CPU time (user + system) and minor page faults of every child process reaped so far, from
/// the kernel's accounting (microseconds, unlike /proc's clock ticks).
fn reaped_children_usage() -> (Duration, i64) {
    // SAFETY: rusage is plain data that getrusage fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0, "getrusage");
    let time = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    (time(usage.ru_utime) + time(usage.ru_stime), usage.ru_minflt)
}

/// The markdown header (and separator) of the rows `main` prints, `title` heading the first column.
fn header(title: &str) -> String {
    let columns = [
        title,
        "runs",
        "init p50",
        "first answer p50",
        "min",
        "CPU p50",
        "minor faults p50",
        "invocations",
        "peak RSS",
        "statuses",
        "inv/s",
    ];
    format!("| {} |\n|{}", columns.join(" | "), "---|".repeat(columns.len()))
}

fn vm_hwm_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, title] = &args[..]
        && flag == "--header"
    {
        println!("{}", header(title));
        return;
    }
    let split = args
        .iter()
        .position(|a| a == "--")
        .expect("usage: runtime_api --event FILE [--runs R] [--invocations N] -- BINARY");
    let (options, command) = (&args[..split], &args[split + 1..]);
    let option = |name: &str| options.iter().position(|a| a == name).map(|i| options[i + 1].clone());
    let event = std::fs::read(option("--event").expect("--event FILE")).expect("read the event");
    let runs: usize = option("--runs").map_or(5, |v| v.parse().unwrap());
    let invocations: usize = option("--invocations").map_or(1, |v| v.parse().unwrap());

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let state = Arc::new(State { event: Bytes::from(event), invocations, handed_out: AtomicUsize::new(0), seen: tx });
    let server_state = Arc::clone(&state);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let state = Arc::clone(&server_state);
            tokio::spawn(async move {
                let service = service_fn(move |r| {
                    let state = Arc::clone(&state);
                    async move { Ok::<_, Infallible>(serve(r, state).await) }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });

    let (mut inits, mut colds, mut rss, mut statuses) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut cpus, mut faults) = (Vec::new(), Vec::new());
    let mut total_for_all = Duration::ZERO;
    for _ in 0..runs {
        while rx.try_recv().is_ok() {}
        state.handed_out.store(0, Ordering::SeqCst);
        let started = Instant::now();
        let mut child = Command::new(&command[0])
            .args(&command[1..])
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .stdout(Stdio::null())
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn the function");
        let (mut init, mut cold, mut answered) = (None, None, 0);
        while answered < invocations {
            match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
                Ok(Some(Seen::Next)) => init = init.or(Some(started.elapsed())),
                Ok(Some(Seen::Response(status))) => {
                    cold = cold.or(Some(started.elapsed()));
                    statuses.push(status);
                    answered += 1;
                }
                _ => panic!("the function answered {answered} of {invocations} invocations within 60 s"),
            }
        }
        total_for_all += started.elapsed();
        rss.push(vm_hwm_kb(child.id()));
        let (cpu_before, faults_before) = reaped_children_usage();
        let _ = child.kill();
        let _ = child.wait();
        let (cpu_after, faults_after) = reaped_children_usage();
        cpus.push(cpu_after - cpu_before);
        faults.push(faults_after - faults_before);
        inits.push(init.unwrap());
        colds.push(cold.unwrap());
    }
    inits.sort();
    colds.sort();
    rss.sort();
    cpus.sort();
    faults.sort();
    statuses.sort();
    statuses.dedup();
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    let name = std::path::Path::new(&command[0]).file_name().unwrap().to_string_lossy().into_owned();
    println!(
        "| {name} | {runs} | {} | {} | {} | {} | {} | {invocations} | {:.1} MB | {:?} | {:.0}/s |",
        ms(inits[runs / 2]),
        ms(colds[runs / 2]),
        ms(colds[0]),
        ms(cpus[runs / 2]),
        faults[runs / 2],
        *rss.last().unwrap() as f64 / 1024.0,
        statuses,
        (invocations * runs) as f64 / total_for_all.as_secs_f64()
    );
}
