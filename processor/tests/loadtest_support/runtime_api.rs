//! A Lambda emulator on 127.0.0.1 for tests, doing what `cargo lambda watch` does for an already
//! built function: the Invoke API (`POST /2015-03-31/functions/{name}/invocations`) on one side,
//! the Runtime API (`/2018-06-01/runtime/...`) a real `bootstrap` polls on the other. HTTP/1.1
//! with keep-alive, `Content-Length` or chunked bodies; one invocation at a time per runtime.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Default)]
struct State {
    next_id: u64,
    queue: VecDeque<(String, Vec<u8>)>,
    done: HashMap<String, (bool, Vec<u8>)>,
    init_error: Option<String>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// The emulator; its threads end with the test process.
pub struct RuntimeApi {
    /// `127.0.0.1:<port>` (the `AWS_LAMBDA_RUNTIME_API` value).
    pub address: String,
    shared: Arc<Shared>,
}

impl RuntimeApi {
    /// Listens on a free port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let shared = Arc::new(Shared::default());
        let server = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = server.clone();
                std::thread::spawn(move || serve(&stream, &shared));
            }
        });
        RuntimeApi { address, shared }
    }

    /// The Invoke API endpoint for an SDK client.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The error the function reported during init, if any.
    pub fn init_error(&self) -> Option<String> {
        self.shared.state.lock().unwrap().init_error.clone()
    }
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<&TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "content-length" {
            length = value.parse().ok()?;
        } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                // Trailers, then the blank line.
                loop {
                    let mut trailer = String::new();
                    reader.read_line(&mut trailer).ok()?;
                    if trailer.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some(Request { method, path, body })
}

fn respond(mut stream: &TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) -> bool {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).is_ok() && stream.write_all(body).is_ok()
}

fn serve(stream: &TcpStream, shared: &Shared) {
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let path = request.path.as_str();
        let ok = if request.method == "POST"
            && path.starts_with("/2015-03-31/functions/")
            && path.ends_with("/invocations")
        {
            invoke(stream, shared, request.body)
        } else if request.method == "GET" && path == "/2018-06-01/runtime/invocation/next" {
            next(stream, shared)
        } else if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/") {
            let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
            let mut state = shared.state.lock().unwrap();
            state
                .done
                .insert(id.to_owned(), (kind == "error", request.body));
            shared.changed.notify_all();
            drop(state);
            respond(stream, "202 Accepted", &[], b"{}")
        } else if path == "/2018-06-01/runtime/init/error" {
            shared.state.lock().unwrap().init_error =
                Some(String::from_utf8_lossy(&request.body).into_owned());
            respond(stream, "202 Accepted", &[], b"{}")
        } else {
            respond(stream, "404 Not Found", &[], b"{}")
        };
        if !ok {
            return;
        }
    }
}

fn invoke(stream: &TcpStream, shared: &Shared, event: Vec<u8>) -> bool {
    let mut state = shared.state.lock().unwrap();
    state.next_id += 1;
    let id = format!("req-{:06}", state.next_id);
    state.queue.push_back((id.clone(), event));
    shared.changed.notify_all();
    let (mut state, timeout) = shared
        .changed
        .wait_timeout_while(state, Duration::from_mins(2), |s| !s.done.contains_key(&id))
        .unwrap();
    if timeout.timed_out() {
        drop(state);
        return respond(
            stream,
            "504 Gateway Timeout",
            &[],
            b"{\"message\":\"no response\"}",
        );
    }
    let (error, body) = state.done.remove(&id).unwrap_or_default();
    drop(state);
    let headers = if error {
        vec![("X-Amz-Function-Error", "Unhandled".to_owned())]
    } else {
        Vec::new()
    };
    respond(stream, "200 OK", &headers, &body)
}

fn next(stream: &TcpStream, shared: &Shared) -> bool {
    let state = shared.state.lock().unwrap();
    let mut state = shared
        .changed
        .wait_while(state, |s| s.queue.is_empty())
        .unwrap();
    let Some((id, event)) = state.queue.pop_front() else {
        return false;
    };
    drop(state);
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 300_000;
    respond(
        stream,
        "200 OK",
        &[
            ("Content-Type", "application/json".to_owned()),
            ("Lambda-Runtime-Aws-Request-Id", id),
            ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
            (
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:crossaz-transform".to_owned(),
            ),
            (
                "Lambda-Runtime-Trace-Id",
                "Root=1-00000000-000000000000000000000000".to_owned(),
            ),
        ],
        &event,
    )
}
