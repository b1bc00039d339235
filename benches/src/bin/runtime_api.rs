//! A minimal Lambda Runtime API (the endpoint a function's runtime polls), for cold starts and
//! the memory of a function serving many invocations.
//!
//!   runtime_api --event FILE [--runs R] [--invocations N] -- BINARY [ARGS...]
//!   runtime_api --header TITLE     # the markdown header of those rows, TITLE its first column
//!   runtime_api --event FILE --runs R --passes P --compare BASELINE BINARY...
//!
//! Each run spawns BINARY with `AWS_LAMBDA_RUNTIME_API` pointing here, hands it the event N
//! times (`GET /2018-06-01/runtime/invocation/next`), and times process start -> first
//! `/next` (init) and process start -> first `POST .../response` (cold start). After N
//! responses it reads the process's peak RSS (VmHWM) and kills it, and reads from the kernel
//! (`getrusage` of reaped children) the CPU time (user + system) and minor page faults the
//! process spent: with one invocation, what its start and first answer cost in CPU, apart from
//! the time spent waiting on the store (it also counts the next `/next` poll and the teardown).
//! Prints one markdown row.
//!
//! `--compare` measures the binaries in P passes, each pass running every binary R times one
//! after the other (each pass starting with the next binary), so that a slow minute of a noisy
//! machine falls on all of them alike. It prints a table with each binary's medians of the
//! passes' p50s, and its first answer over BASELINE's: the median of the passes' ratios, and
//! their range.

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
use tokio::task::JoinSet;

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

/// What one started process did: the times from spawn, and what the kernel counted.
struct Sample {
    init: Duration,
    first_answer: Duration,
    cpu: Duration,
    minor_faults: i64,
    peak_rss_kb: u64,
    statuses: Vec<u16>,
    elapsed: Duration,
}

/// The Runtime API: the event and how many times each started process is handed it.
struct Runtime {
    event: Bytes,
    invocations: usize,
}

/// Accepts connections on `listener` and serves them until aborted, which ends them all.
async fn serve_runtime_api(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors, say: wait rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let state = Arc::clone(&state);
        connections.spawn(async move {
            let service = service_fn(move |r| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(serve(r, state).await) }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

impl Runtime {
    /// Spawns `command`, hands it the event `invocations` times, then kills it. Each run has a
    /// listener of its own: a killed process's last `/next`, still in the socket's buffer, must
    /// not take the next process's event.
    async fn run_once(&self, command: &[String]) -> Sample {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut seen) = mpsc::unbounded_channel();
        let state = State { event: self.event.clone(), invocations: self.invocations, handed_out: 0.into(), seen: tx };
        let server = tokio::spawn(serve_runtime_api(listener, Arc::new(state)));
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
        let invocations = self.invocations;
        let (mut init, mut first_answer, mut statuses) = (None, None, Vec::new());
        while statuses.len() < invocations {
            match tokio::time::timeout(Duration::from_secs(60), seen.recv()).await {
                Ok(Some(Seen::Next)) => init = init.or(Some(started.elapsed())),
                Ok(Some(Seen::Response(status))) => {
                    first_answer = first_answer.or(Some(started.elapsed()));
                    statuses.push(status);
                }
                _ => panic!("the function answered {} of {invocations} invocations within 60 s", statuses.len()),
            }
        }
        let elapsed = started.elapsed();
        let peak_rss_kb = vm_hwm_kb(child.id());
        let (cpu_before, faults_before) = reaped_children_usage();
        let _ = child.kill();
        let _ = child.wait();
        let (cpu_after, faults_after) = reaped_children_usage();
        server.abort();
        Sample {
            init: init.unwrap(),
            first_answer: first_answer.unwrap(),
            cpu: cpu_after - cpu_before,
            minor_faults: faults_after - faults_before,
            peak_rss_kb,
            statuses,
            elapsed,
        }
    }
}

/// The median of `values` (the upper one of an even count).
fn median<T: Copy + PartialOrd>(values: impl IntoIterator<Item = T>) -> T {
    let mut values: Vec<T> = values.into_iter().collect();
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn file_name(path: &str) -> String {
    std::path::Path::new(path).file_name().unwrap().to_string_lossy().into_owned()
}

/// The p50s of a series of runs.
struct Medians {
    init: Duration,
    first_answer: Duration,
    cpu: Duration,
    minor_faults: i64,
}

impl Medians {
    fn of(samples: &[Sample]) -> Medians {
        Medians {
            init: median(samples.iter().map(|s| s.init)),
            first_answer: median(samples.iter().map(|s| s.first_answer)),
            cpu: median(samples.iter().map(|s| s.cpu)),
            minor_faults: median(samples.iter().map(|s| s.minor_faults)),
        }
    }
}

/// `--compare`: the binaries in interleaved passes, and each one's first answer over the first's.
async fn compare(runtime: &Runtime, binaries: &[String], runs: usize, passes: usize) {
    let mut by_binary: Vec<Vec<Medians>> = binaries.iter().map(|_| Vec::new()).collect();
    for pass in 0..passes {
        // Each pass starts with the next binary, so that none always runs first (or after another).
        for turn in 0..binaries.len() {
            let which = (pass + turn) % binaries.len();
            let mut samples = Vec::with_capacity(runs);
            for _ in 0..runs {
                samples.push(runtime.run_once(std::slice::from_ref(&binaries[which])).await);
            }
            by_binary[which].push(Medians::of(&samples));
        }
    }
    let baseline = file_name(&binaries[0]);
    println!(
        "| binary | passes × runs | init | first answer (pass range) | CPU | minor faults | first answer / {baseline} (pass range) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (binary, medians) in binaries.iter().zip(&by_binary) {
        let answers = medians.iter().map(|m| m.first_answer);
        let ratios: Vec<f64> = medians
            .iter()
            .zip(&by_binary[0])
            .map(|(m, base)| m.first_answer.as_secs_f64() / base.first_answer.as_secs_f64())
            .collect();
        let low = |r: &[f64]| r.iter().copied().fold(f64::INFINITY, f64::min);
        let high = |r: &[f64]| r.iter().copied().fold(0.0, f64::max);
        println!(
            "| {} | {passes} × {runs} | {} | {} ({}–{}) | {} | {} | {:.2}× ({:.2}–{:.2}) |",
            file_name(binary),
            ms(median(medians.iter().map(|m| m.init))),
            ms(median(answers.clone())),
            ms(answers.clone().min().unwrap()),
            ms(answers.max().unwrap()),
            ms(median(medians.iter().map(|m| m.cpu))),
            median(medians.iter().map(|m| m.minor_faults)),
            median(ratios.iter().copied()),
            low(&ratios),
            high(&ratios),
        );
    }
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
    const USAGE: &str = "usage: runtime_api --event FILE [--runs R] [--invocations N] -- BINARY [ARGS...] \
                         | --event FILE --runs R --passes P --compare BASELINE BINARY...";
    let split = args.iter().position(|a| a == "--" || a == "--compare").expect(USAGE);
    let (options, command) = (&args[..split], &args[split + 1..]);
    let option = |name: &str| options.iter().position(|a| a == name).map(|i| options[i + 1].clone());
    let event = std::fs::read(option("--event").expect("--event FILE")).expect("read the event");
    let runs: usize = option("--runs").map_or(5, |v| v.parse().unwrap());
    let invocations: usize = option("--invocations").map_or(1, |v| v.parse().unwrap());
    let runtime = Runtime { event: Bytes::from(event), invocations };
    if args[split] == "--compare" {
        let passes: usize = option("--passes").map_or(10, |v| v.parse().unwrap());
        return compare(&runtime, command, runs, passes).await;
    }

    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        samples.push(runtime.run_once(command).await);
    }
    let mut statuses: Vec<u16> = samples.iter().flat_map(|s| s.statuses.iter().copied()).collect();
    statuses.sort();
    statuses.dedup();
    let total: Duration = samples.iter().map(|s| s.elapsed).sum();
    let medians = Medians::of(&samples);
    println!(
        "| {} | {runs} | {} | {} | {} | {} | {} | {invocations} | {:.1} MB | {:?} | {:.0}/s |",
        file_name(&command[0]),
        ms(medians.init),
        ms(medians.first_answer),
        ms(samples.iter().map(|s| s.first_answer).min().unwrap()),
        ms(medians.cpu),
        medians.minor_faults,
        samples.iter().map(|s| s.peak_rss_kb).max().unwrap() as f64 / 1024.0,
        statuses,
        (invocations * runs) as f64 / total.as_secs_f64()
    );
}
